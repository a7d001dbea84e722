@bearer
Feature: Using the access token
  STET Part I section 3.4, step 7. The TPP calls the bank's APIs with
  "Authorization: Bearer <token>" over mutual TLS with the certificate the token was issued
  to. A missing token gets a Bearer challenge; an expired, unknown or tampered token gets
  HTTP 401 with the error invalid_token (RFC 6750 section 3.1).

  @BEARER-04 @expiry
  Scenario: An expired access token is refused with invalid_token
    Given the primary TPP has exchanged a code for tokens
    When the access token still opens the accounts resource shortly before it expires
    And the access token has expired
    And the primary TPP calls the accounts resource with the access token
    Then the bank refuses the expired access token with 401 and the error "invalid_token"

  @BEARER-01
  Scenario: The access token opens the accounts resource
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP calls the accounts resource with the access token
    Then the bank answers 200

  @BEARER-02
  Scenario Outline: The authorization scheme is case-insensitive: <scheme>
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP calls the accounts resource with the access token under the scheme "<scheme>"
    Then the bank answers 200

    Examples:
      | scheme |
      | bearer |
      | BEARER |

  @BEARER-03 @control:resource
  Scenario: A request without an access token gets a Bearer challenge
    When the primary TPP calls the accounts resource without an access token
    Then the bank answers 401 with a Bearer challenge

  @BEARER-05
  Scenario Outline: A forged access token is refused with invalid_token: <kind>
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP calls the accounts resource with a <kind> access token
    Then the bank answers 401 with a Bearer challenge carrying the error "invalid_token"
    And the access token as issued still opens the accounts resource

    Examples:
      | kind     |
      | tampered |
      | unknown  |

  @BEARER-06
  Scenario: An access token is refused over another TPP's certificate
    Given the primary TPP has exchanged a code for tokens
    When the second TPP calls the accounts resource with the primary TPP's access token
    Then the bank refuses the access token
    And the second TPP's own access token opens the accounts resource

  @BEARER-09 @control:resource
  Scenario: A refused request gets a STET error body and its X-Request-ID back
    When the primary TPP calls the accounts resource with an unknown access token and an X-Request-ID
    Then the bank answers 401 with a STET error body and echoes the X-Request-ID
