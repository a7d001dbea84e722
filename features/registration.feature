@registration @option:register
Feature: Registration of the TPP's client through the bank's register API
  Where the bank offers one (BPCE style: RFC 7591 dynamic client registration and RFC 7592
  client management, with tls_client_auth), a TPP registers its client over mutual TLS with
  its QWAC, in a request signed with its QSealC, and manages it with the registration
  access token. The client_id issued works at the authorization and token endpoints, stays
  bound to the registrant's organizationIdentifier (STET's "indirect matching"), and only
  the redirect URIs registered are honoured. Where the bank puts a registration in force
  later (BPCE: the next working day; register.effective: later), a run registers the
  client and keeps it in the state file, and the first run after that checks with it what
  needs the client in force.

  @REG-03
  Scenario: The registered client's configuration is refused without the TPP's QWAC
    Given the registering TPP has registered a client through the register API
    When the registered client's configuration is read without a client certificate
    Then the register API refuses the request
    And the same request with the registering TPP's QWAC and the registration access token is served

  @REG-03
  Scenario: The registered client's configuration is refused without the registration access token
    Given the registering TPP has registered a client through the register API
    When the registered client's configuration is read without the registration access token
    Then the register API refuses the request
    And the same request with the registering TPP's QWAC and the registration access token is served

  @REG-01
  Scenario: Only the redirect URIs registered are honoured for a registered client
    Given the registering TPP has a client registered through the register API and in force at the bank
    When the PSU goes through the authorization request of the registered client with another redirect_uri
    Then the PSU's browser is never sent to that other redirect_uri

  @REG-02
  Scenario: A registered client_id is accepted at the token endpoint, over its registrant's QWAC only
    Given the registering TPP has a client registered through the register API and in force at the bank
    When the second TPP presents the registered client_id at the token endpoint
    Then the bank does not authenticate the second TPP as that client
    And the registering TPP's same request is refused for the code only

  @REG-04
  Scenario: The registering TPP updates its client's redirect URIs through the register API
    Given the registering TPP has registered a client through the register API
    When the registering TPP replaces the client's redirect URIs through the register API
    Then the register API serves the client's configuration with the new redirect URIs

  @REG-04
  Scenario: The registering TPP deletes its client through the register API
    Given the registering TPP has registered a client through the register API
    When the registering TPP deletes the client through the register API
    Then the deleted client's configuration is no longer served
    And the deleted client_id no longer works at the token endpoint
