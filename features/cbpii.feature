@cbpii @option:cbpii
Feature: Confirmation of the availability of funds (CBPII)
  STET 1.4.2: a card-based payment instrument issuer (PSD2 role PSP_IC) asks the bank, with
  a token the PSU granted for the cbpii scope (piisp before STET 1.4.2), whether an amount
  is covered on the PSU's account: POST funds-confirmations, answered with the request and
  a boolean result. The TPP gets the token as for AISP: the authorization request with the
  cbpii scope, the PSU's consent, the callback, the code exchanged without a scope. Only a
  TPP whose certificate carries PSP_IC gets it. The AISP and CBPII roles are never mixed:
  not in one grant, not by a refresh, and a token of one role does not open the other's
  resources. A cbpii token expires and is bound to the TPP's certificate as an AISP token is.

  @CBPII-01
  Scenario: A cbpii token from the PSU's consent confirms the availability of funds
    Given the primary TPP holds a cbpii token from the PSU's consent
    When the primary TPP asks the funds-confirmations resource to confirm funds with that access token
    Then the bank answers 200 with the request and a boolean result

  @CBPII-02 @control:funds
  Scenario: An AISP access token does not open the funds-confirmations resource
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP asks the funds-confirmations resource to confirm funds with that access token
    Then the bank refuses it for its scope

  @CBPII-03 @control:resource
  Scenario: A cbpii access token does not open the accounts resource
    Given the primary TPP holds a cbpii token from the PSU's consent
    When the primary TPP calls the accounts resource with the access token
    Then the bank refuses it for its scope

  @MTLS-11 @client:without_cbpii_role @control:funds
  Scenario: A TPP whose certificate lacks the CBPII role gets no cbpii access
    When the TPP without the CBPII role asks for cbpii access with the PSU's approval
    Then the bank gives it no access token that confirms funds

  @AUTHZ-10
  Scenario: AISP and CBPII rights are never granted together
    When the PSU goes through the authorization request of the primary TPP for the aisp and cbpii scopes at once
    Then the bank refuses the request, or grants one of the two roles only

  @REFRESH-01
  Scenario: A cbpii grant is refreshed without a scope, and its new access token confirms funds
    Given the primary TPP holds a cbpii token from the PSU's consent
    When the primary TPP refreshes the access token without a scope
    Then the bank answers 200 with a new Bearer access token
    And the new access token confirms the availability of funds

  @BEARER-04 @expiry
  Scenario: An expired cbpii access token is refused with invalid_token
    Given the primary TPP holds a cbpii token from the PSU's consent
    When the access token still confirms funds shortly before it expires
    And the access token has expired
    And the primary TPP asks the funds-confirmations resource to confirm funds with that access token
    Then the bank refuses the expired access token with 401 and the error "invalid_token"

  @BEARER-06 @client:second:PSP_IC
  Scenario: A cbpii access token is refused over another TPP's certificate
    Given the primary TPP holds a cbpii token from the PSU's consent
    When the second TPP asks the funds-confirmations resource to confirm funds with the primary TPP's access token
    Then the bank refuses the access token
    And the second TPP's own cbpii access token confirms funds

  @REFRESH-07
  Scenario: A refresh of an AISP grant cannot add the cbpii scope
    Given the primary TPP holds tokens from the PSU's consent
    When the primary TPP refreshes the access token asking for the cbpii scope as well
    Then the bank refuses to add the other role's scope

  @REFRESH-07
  Scenario: A refresh of a cbpii grant cannot add the aisp scope
    Given the primary TPP holds a cbpii token from the PSU's consent
    When the primary TPP refreshes the cbpii token asking for the aisp scope as well
    Then the bank refuses to add the other role's scope
