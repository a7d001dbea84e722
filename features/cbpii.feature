@cbpii @option:cbpii
Feature: Confirmation of the availability of funds (CBPII)
  STET 1.4.2: a card-based payment instrument issuer (PSD2 role PSP_IC) asks the bank, with
  a token the PSU granted for the cbpii scope (piisp before STET 1.4.2), whether an amount
  is covered on the PSU's account: POST funds-confirmations, answered with the request and
  a boolean result. The AISP and CBPII roles are never mixed: a token of one role does not
  open the other's resources. The checks that need a PSU's consent for the cbpii scope are
  planned (CBPII-01, CBPII-03, MTLS-11, AUTHZ-10).

  @CBPII-02
  Scenario: An AISP access token does not open the funds-confirmations resource
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP asks the funds-confirmations resource to confirm funds with that access token
    Then the bank refuses it for its scope
