@authorization
Feature: Authorization request and callback
  STET Part I section 3.4, steps 1 to 3. The TPP sends the PSU to the bank with
  GET /authorize. The bank authenticates the PSU (SCA), asks for consent, and calls the
  TPP's registered callback with a short-lived one-time code, or with an error when the PSU
  refuses. An unknown TPP or an unregistered callback is never redirected to.

  @AUTHZ-01 @AUTHZ-12
  Scenario: The authorization request starts the PSU's authentication
    When the PSU's browser opens the authorization request of the primary TPP
    Then the bank starts the PSU's authentication instead of answering with an error

  @AUTHZ-02
  Scenario: The PSU approves and the bank calls back with a one-time code
    When the PSU approves the authorization request of the primary TPP
    Then the bank calls the registered callback with a code

  @AUTHZ-03
  Scenario Outline: The state comes back unchanged when the PSU <decision>
    When the PSU <decision> the authorization request of the primary TPP
    Then the callback carries the state exactly as the TPP sent it

    Examples:
      | decision |
      | approves |
      | refuses  |

  @AUTHZ-04
  Scenario: The PSU refuses and the bank calls back with an error and no code
    When the PSU refuses the authorization request of the primary TPP
    Then the bank calls the registered callback with an error and without a code

  @AUTHZ-05 @option:abandon
  Scenario: The PSU abandons the journey and the bank calls back with an error and no code
    When the PSU abandons the authorization request of the primary TPP midway
    Then the bank calls the registered callback with an error and without a code
    And the callback carries the state exactly as the TPP sent it

  @AUTHZ-06
  Scenario Outline: An unregistered or altered redirect_uri is never redirected to: <redirect_uri>
    When the PSU goes through the authorization request of the primary TPP with <redirect_uri>
    Then the PSU's browser is never sent to that redirect_uri

    Examples:
      | redirect_uri                                        |
      | the redirect_uri "https://attacker.invalid/callback" |
      | its redirect_uri with an extra path segment         |
      | its redirect_uri on another port                    |

  @AUTHZ-07
  Scenario: An unknown client_id is never redirected to
    When the PSU goes through the authorization request of the unknown TPP "PSDFR-ACPR-00000" with the primary TPP's redirect_uri
    Then the PSU's browser is never sent to the primary TPP's callback

  @AUTHZ-08
  Scenario: A response type other than code is refused
    When the PSU goes through the authorization request of the primary TPP with the response_type "token"
    Then no access token reaches the PSU's browser

  @AUTHZ-13 @pkce
  Scenario: A PKCE challenge is accepted and its verifier redeems the code
    When the PSU approves the authorization request of the primary TPP with a PKCE challenge
    And the primary TPP exchanges the code with its code_verifier
    Then the bank issues an access token
