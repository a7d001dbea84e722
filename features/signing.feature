@signing @option:signing
Feature: Signed requests
  STET Part I section 3.5 ("Applicative authentication"). Where the bank requires it, each
  request of a TPP to the bank's resources is signed with the TPP's QSealC: a Digest
  header and an HTTP Signature whose keyId is the URL where the QSealC is published, over
  the headers the bank lists. The bank refuses a request that is not signed, or that is
  signed with another TPP's seal, with HTTP 401.

  @SIG-01
  Scenario: An unsigned request to the accounts resource is refused
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP calls the accounts resource with the access token without signing it
    Then the bank refuses the request with 401
    And the same request, signed with the primary TPP's seal, opens the accounts resource

  @SIG-01
  Scenario: A request signed with another TPP's seal is refused
    Given the primary TPP has exchanged a code for tokens
    When the primary TPP calls the accounts resource with the access token signed with the second TPP's seal
    Then the bank refuses the request with 401
    And the same request, signed with the primary TPP's seal, opens the accounts resource
