@revocation @option:revoke
Feature: Revoking tokens
  STET Part I section 3.4.3.5 and RFC 7009. Where the bank offers a revocation endpoint
  (endpoints.revoke in its profile), the TPP revokes a refresh token or an access token
  over mutual TLS; a revoked token no longer works, and no TPP can revoke another TPP's
  tokens.

  @REVOKE-01 @REFRESH-11 @control:refresh
  Scenario: After the TPP revokes its refresh token, the refresh is refused
    Given the primary TPP holds tokens from the PSU's consent
    When the primary TPP revokes its refresh token
    Then the bank confirms the revocation
    And the primary TPP's refresh with that token is refused with "invalid_grant"

  @BEARER-10 @control:resource
  Scenario: A revoked access token is refused with invalid_token
    Given the primary TPP has exchanged a code for tokens
    And the primary TPP has revoked its access token
    When the primary TPP calls the accounts resource with the access token
    Then the bank answers 401 with a Bearer challenge carrying the error "invalid_token"

  @REVOKE-02 @control:revoke
  Scenario: A TPP cannot revoke another TPP's refresh token
    Given the primary TPP holds tokens from the PSU's consent
    When the second TPP revokes the primary TPP's refresh token
    Then the primary TPP can still refresh its access token
