@mtls
Feature: The TPP's certificate and client_id at the token endpoint
  STET Part I section 3.4, step 5. The bank authenticates the TPP by its eIDAS QWAC over
  mutual TLS, checks its validity and PSD2 role, and checks that the client_id is the
  Authorization Number (organizationIdentifier) inside it. The bank profile declares how a
  refusal is signalled: by closing the TLS handshake, by an HTTP invalid_client error, or
  either.

  @MTLS-01
  Scenario: A code exchange without a client certificate is refused
    Given the PSU has approved the authorization request of the primary TPP
    When the code is exchanged without a client certificate
    Then the bank refuses to authenticate the client
    And the code still works for the primary TPP with its own certificate

  @MTLS-02
  Scenario: A client_id other than the certificate's Authorization Number is refused at code exchange
    Given the PSU has approved the authorization request of the second TPP
    When the primary TPP exchanges the second TPP's code under the second TPP's client_id
    Then the bank refuses the client_id with invalid_client
    And the code still works for the second TPP with its own certificate

  @MTLS-02 @control:refresh
  Scenario: A client_id other than the certificate's Authorization Number is refused at refresh
    Given the second TPP has exchanged a code for tokens
    When the primary TPP refreshes the second TPP's token under the second TPP's client_id
    Then the bank refuses the client_id with invalid_client

  @MTLS-03 @client:without_aisp_role
  Scenario: A TPP whose certificate lacks the AISP role gets no AISP access
    When the TPP without the AISP role asks for AISP access with the PSU's approval
    Then the bank gives it no access token that opens the accounts resource

  @MTLS-04 @client:expired
  Scenario: An expired certificate is refused
    Given the PSU has approved the authorization request of the primary TPP
    When the code is exchanged with the primary TPP's expired certificate
    Then the bank refuses to authenticate the client
    And the code still works for the primary TPP with its own certificate

  @MTLS-06
  Scenario: A certificate from an issuer the bank does not trust is refused
    Given the PSU has approved the authorization request of the primary TPP
    When the code is exchanged with a certificate carrying the primary TPP's identity from an untrusted issuer
    Then the bank refuses to authenticate the client
    And the code still works for the primary TPP with its own certificate

  @MTLS-09
  Scenario: TLS below 1.2 is refused
    When the primary TPP connects to the token endpoint with TLS 1.2 and then with TLS 1.1
    Then the bank accepts TLS 1.2 and refuses TLS 1.1
