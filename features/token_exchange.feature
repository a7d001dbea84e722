@token
Feature: Exchanging the code for tokens
  STET Part I section 3.4, steps 4 and 6. The TPP calls POST /token over mutual TLS with
  its QWAC and the one-time code, WITHOUT the scope parameter. The bank answers 200 with a
  Bearer access token and a refresh token. A code works once, for the TPP it was issued to,
  with the redirect_uri it was issued for.

  @TOKEN-02
  Scenario: The bank does not require a scope at the token endpoint
    Given the PSU has approved the authorization request of the primary TPP
    When the primary TPP exchanges the code at the token endpoint without a scope
    Then the bank issues an access token

  @TOKEN-01
  Scenario: The token response carries an access token, its type and a refresh token
    Given the PSU has approved the authorization request of the primary TPP
    When the primary TPP exchanges the code at the token endpoint without a scope
    Then the bank answers 200 with a JSON token response
    And the token response has an access_token, a token_type and a refresh_token

  @TOKEN-03
  Scenario: The token type is Bearer
    Given the primary TPP has exchanged a code for tokens
    Then the token_type is Bearer, compared case-insensitively

  @TOKEN-04
  Scenario: Token responses are not cached
    Given the primary TPP has exchanged a code for tokens
    Then the token response forbids caching with Cache-Control no-store

  @TOKEN-05
  Scenario: The access token's lifetime is given in seconds
    Given the primary TPP has exchanged a code for tokens
    Then expires_in is a positive whole number of seconds

  @TOKEN-07
  Scenario: A code can be exchanged only once
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP exchanges the same code again
    Then the bank refuses the token request with the error "invalid_grant"

  @TOKEN-08 @expiry
  Scenario: An expired code is refused
    Given the PSU has approved the authorization request of the primary TPP
    When the code has outlived the code lifetime the bank declares
    And the primary TPP exchanges the code at the token endpoint without a scope
    Then the bank refuses the token request with the error "invalid_grant"
    And a fresh code, exchanged at once, works

  @TOKEN-09
  Scenario: The redirect_uri must be the one of the authorization request
    Given the PSU has approved the authorization request of the primary TPP
    When the primary TPP exchanges the code with another redirect_uri
    Then the bank refuses the token request with the error "invalid_grant"
    And the code still works for the primary TPP with its own certificate

  @TOKEN-09
  Scenario: The redirect_uri cannot be left out of the code exchange
    Given the PSU has approved the authorization request of the primary TPP
    When the primary TPP exchanges the code without the redirect_uri
    Then the bank refuses the token request with one of the errors "invalid_request, invalid_grant"
    And the code still works for the primary TPP with its own certificate

  @TOKEN-10
  Scenario: A code issued to one TPP cannot be redeemed by another
    Given the PSU has approved the authorization request of the primary TPP
    When the second TPP exchanges the primary TPP's code with its own certificate and client_id
    Then the bank refuses the token request with the error "invalid_grant"
    And the code still works for the primary TPP with its own certificate

  @TOKEN-11 @control:code-exchange
  Scenario Outline: A malformed token request gets the RFC 6749 error: <case>
    When the primary TPP sends a token request <case>
    Then the bank refuses the token request with the error "<error>"

    Examples:
      | case                                    | error                  |
      | with an unknown code                    | invalid_grant          |
      | without grant_type                      | invalid_request        |
      | without the code                        | invalid_request        |
      | with the grant_type "urn:stet:unknown"  | unsupported_grant_type |

  @TOKEN-13 @control:code-exchange
  Scenario: Token endpoint errors are RFC 6749 JSON error responses
    When the primary TPP sends a token request with an unknown code
    Then the error response is JSON with HTTP status 400 and an RFC 6749 error code

  @TOKEN-14
  Scenario: The token endpoint does not serve GET
    Given the PSU has approved the authorization request of the primary TPP
    When the primary TPP sends the code exchange as a GET with the parameters in the query
    Then the bank refuses the GET without issuing a token
    And the code still works for the primary TPP with its own certificate

  @TOKEN-12 @pkce
  Scenario Outline: A code issued under a PKCE challenge needs its verifier: <verifier> code_verifier
    Given the PSU has approved the authorization request of the primary TPP with a PKCE challenge
    When the primary TPP exchanges the code with <verifier> code_verifier
    Then the bank refuses the token request with one of the errors "invalid_grant, invalid_request"
    And the code still works for the primary TPP with its own certificate

    Examples:
      | verifier |
      | a wrong  |
      | no       |

  @TOKEN-15
  Scenario: A scope sent on the code exchange is treated as the bank declares
    Given the PSU has approved the authorization request of the primary TPP
    When the primary TPP exchanges the code with the scope it asked for, against STET's rule
    Then the bank treats the scope as its declared option says
