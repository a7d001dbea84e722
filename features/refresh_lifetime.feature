@lifetime
Feature: The refresh token's lifetime
  STET Part I section 3.4, step 8, and the seeds: the refresh token is valid 90 days; EU
  Delegated Regulation 2022/2360 (RTS article 10a) now lets the bank choose 180, and the
  bank profile declares which (options.refresh_token_lifetime). The lifetime counts from
  the PSU's consent, however often the token is refreshed: after it, the refresh is
  refused and the whole flow with the PSU's strong authentication starts again. A lifetime
  longer than the run may wait is watched across runs, with a grant kept in the state file.

  @REFRESH-13
  Scenario: A refresh token keeps working for the lifetime the bank declares
    Given the primary TPP holds a refresh token younger than the lifetime the bank declares
    When the primary TPP refreshes the access token without a scope
    Then the bank honours it, as it must for the whole lifetime it declares

  @REFRESH-10
  Scenario: Once its lifetime is over, the refresh token is refused and the PSU must consent again
    Given the primary TPP holds a refresh token older than the lifetime the bank declares
    When the primary TPP refreshes the access token without a scope
    Then the bank refuses it with "invalid_grant": the PSU must consent again
