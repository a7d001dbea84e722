@refresh
Feature: Refreshing the access token
  STET Part I section 3.4, step 8. The TPP refreshes the access token with the refresh
  token (valid 90 days), without a scope, over mutual TLS. Only the TPP the refresh token
  was issued to can use it. Whether the bank rotates refresh tokens is declared in its
  profile. Once the refresh token has expired, the whole flow with SCA starts again.
  Tokens "from the PSU's consent" come from a new consent, or, with a state file, from a
  refresh token an earlier run kept, while the bank still honours it.

  @REFRESH-01
  Scenario: The TPP refreshes the access token without a scope
    Given the primary TPP holds tokens from the PSU's consent
    When the primary TPP refreshes the access token without a scope
    Then the bank answers 200 with a new Bearer access token

  @TOKEN-04
  Scenario: Refresh responses are not cached either
    Given the primary TPP has refreshed its access token
    Then the token response forbids caching with Cache-Control no-store

  @REFRESH-02
  Scenario: The refreshed access token opens the accounts resource
    Given the primary TPP has refreshed its access token
    When the primary TPP calls the accounts resource with the access token
    Then the bank answers 200

  @REFRESH-04
  Scenario: Refresh-token rotation behaves as the bank declares
    Given the primary TPP has refreshed its access token
    When the primary TPP refreshes again with the previous refresh token
    Then the bank treats the previous refresh token as its declared rotation says

  @REFRESH-05
  Scenario: Another TPP cannot use the refresh token
    Given the primary TPP holds tokens from the PSU's consent
    When the second TPP refreshes the primary TPP's refresh token with its own certificate and client_id
    Then the bank refuses the refresh token to the second TPP, with invalid_grant or, while it authenticates that TPP, invalid_client

  @REFRESH-09 @control:refresh
  Scenario: An unknown refresh token is refused
    When the primary TPP refreshes an unknown refresh token
    Then the bank refuses the token request with the error "invalid_grant"

  @REFRESH-07
  Scenario: A refresh cannot widen the grant the PSU consented to
    Given the primary TPP holds tokens from the PSU's consent
    When the primary TPP refreshes the access token asking for a scope the PSU never granted
    Then the bank refuses the wider scope, or ignores it and says so
