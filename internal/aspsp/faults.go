package aspsp

import (
	"fmt"
	"slices"
	"strings"
)

// Fault is a named defect the reference bank can be started with. Each fault breaks one
// behaviour, and declares what a run against the faulty bank must show: which checks fail,
// for which reason, and which checks cannot conclude. That is how the suite proves it
// detects a non-conforming bank, and never passes a check for the wrong reason.
type Fault struct {
	Name        string
	Description string
	// Breaks lists the requirement IDs (features/requirements.yaml) the suite must report
	// failed when the bank runs with this fault, and no others.
	Breaks []string
	// Scenarios names the scenarios that must fail, and no others, as the features name
	// them (an outline row: its name with the example value filled in).
	Scenarios []string
	// Reason is a regular expression the failure reason of each of Scenarios must match:
	// the cause, as the steps word it, so that a scenario failing for another reason (a
	// precondition, a timeout) is not counted as catching the fault.
	Reason string
	// Inconclusive lists the requirements that must end inconclusive under the fault: their
	// checks cannot tell, and must say so, never pass (and never fail: the bank may be
	// right). Typically the checks whose precondition the fault breaks.
	Inconclusive []string
	// NotPassed lists the requirements that must not pass, whichever of failed,
	// inconclusive or skipped they end: the fault tempts a pass for the wrong reason,
	// and a failure is as right as an inconclusive verdict.
	NotPassed []string
	// MayFail lists the requirements the fault may make fail or not, depending on how the
	// run's scenarios interleave: a consent of another scenario superseding a grant falls
	// in a check's window, or not.
	MayFail []string
	// WrongReason marks the faults whose point is a wrong reason to pass, not a
	// detection: the score counts them apart.
	WrongReason bool
	// WorkedAround says why the suite may get past a wrong-reason fault altogether (a rate
	// limit honoured through Retry-After): then every check may pass, and that none fails
	// for it is the proof; without it, such a fault must leave a check inconclusive.
	WorkedAround string
	// Pending says why no scenario of the features can catch the fault yet: the checks of
	// the requirements it Breaks are not written. The fault matrix leaves it out until
	// they are (then Scenarios and Reason are declared and Pending removed); the
	// internal/aspsp tests show the bank behaviour it breaks.
	Pending string
}

// Fault names. Kept as constants so that the code that implements a fault names it once.
const (
	// Authorization endpoint and callback.
	FaultStateNotEchoed          = "state-not-echoed"
	FaultStateAltered            = "state-altered"
	FaultRefusalWithoutError     = "refusal-without-error"
	FaultRefusalWithCode         = "refusal-with-code"
	FaultRedirectUnregisteredURI = "redirect-unregistered-uri"
	FaultUnknownClientAccepted   = "unknown-client-accepted"
	FaultResponseTypeToken       = "response-type-token"
	FaultAuthorizeUnavailable    = "authorize-unavailable"
	// FaultAuthorizeRedirectsUnavailable: wrong reason (a callback error is no refusal of
	// what a check altered when the bank says it is not serving).
	FaultAuthorizeRedirectsUnavailable = "authorize-redirects-unavailable"

	// Token endpoint.
	FaultScopeRequired          = "scope-required"
	FaultScopeRequiredValidCode = "scope-required-valid-code"
	FaultCodeReusable           = "code-reusable"
	FaultCodeAnyRedirectURI     = "code-any-redirect-uri"
	FaultCodeAnyClient          = "code-any-client"
	FaultTokenTypeMAC           = "token-type-mac"
	FaultNoCacheControl         = "no-cache-control"
	FaultNoRefreshToken         = "no-refresh-token"
	FaultExpiresInMissing       = "expires-in-missing"
	FaultExpiresInZero          = "expires-in-zero"
	FaultErrorsAs200            = "errors-as-200"
	FaultNonRFCError            = "non-rfc-error"
	FaultTokenErrorsTextPlain   = "token-errors-text-plain"
	FaultUnsupportedGrantError  = "unsupported-grant-wrong-error"
	FaultRateLimited            = "rate-limited"

	// Client certificates.
	FaultNoClientCertAccepted        = "no-client-cert-accepted"
	FaultClientIDUncheckedAtExchange = "client-id-unchecked-at-exchange"
	FaultClientIDUncheckedAtRefresh  = "client-id-unchecked-at-refresh"
	FaultRoleNotChecked              = "role-not-checked"
	FaultRoleNotCheckedRedirect      = "role-not-checked-redirect-unregistered"
	FaultExpiredCertAccepted         = "expired-cert-accepted"

	// Bearer use on the accounts resource.
	FaultExpiredTokenAccepted       = "expired-token-accepted"
	FaultExpiredTokenNoInvalidToken = "expired-token-no-invalid-token"
	FaultNoWWWAuthenticate          = "no-www-authenticate"
	FaultNoTokenNoChallenge         = "no-token-no-challenge"
	FaultTokenNotBound              = "token-not-bound"
	FaultSchemeCaseSensitive        = "scheme-case-sensitive"
	FaultTokenTamperedAccepted      = "token-tampered-accepted"
	FaultTokenUnknownAccepted       = "token-unknown-accepted"
	FaultTokensSuperseded           = "tokens-superseded-never-expire"

	// Refresh.
	FaultForeignRefreshAccepted = "foreign-refresh-accepted"
	// Wrong reason: the second TPP is refused as a client at every refresh, so its use of
	// another TPP's refresh token says nothing of the token's binding, which the bank does
	// not check.
	FaultRefreshRefusesSecondTPP = "refresh-refuses-second-tpp"
	// Every refresh is refused as a client: the refresh checks that expect invalid_client
	// (MTLS-02 at refresh) must not pass for it.
	FaultRefreshRefusedAsClient   = "refresh-refused-as-client"
	FaultUnknownRefresh500        = "unknown-refresh-500"
	FaultUnknownRefreshWrongError = "unknown-refresh-wrong-error"
	FaultRefreshNotRotated        = "refresh-not-rotated"
	FaultOldRefreshStillValid     = "old-refresh-still-valid"
	FaultUntrustedCertAccepted    = "untrusted-cert-accepted"
	FaultTLS11Accepted            = "tls-1.1-accepted"
	FaultTLS11UnusableSuites      = "tls-1.1-dhe-only"
	FaultTokenGetServed           = "token-get-served"
	FaultCodeNeverExpires         = "code-never-expires"
	FaultErrorsNotSTET            = "resource-errors-not-stet"
	FaultRefreshWidensScope       = "refresh-widens-scope"
	// A refresh asking for more scope is refused with invalid_grant, not invalid_scope:
	// the refresh token itself is fine, as the same refresh without the scope shows.
	FaultRefreshWiderScopeInvalidGrant = "refresh-wider-scope-invalid-grant"
	FaultPKCEIgnored                   = "pkce-ignored"
	FaultRevokeIgnored                 = "revoke-ignored"
	FaultRevokeAnyClient               = "revoke-any-client"
	FaultScopeAtTokenRejected          = "scope-at-token-rejected"
	FaultCallbackPathAltered           = "callback-path-altered"
	FaultAuthorizeNeedsClientCert      = "authorize-needs-client-cert"
	FaultPKCEChallengeRejected         = "pkce-challenge-rejected"
	FaultAccountsForbidden             = "accounts-forbidden"
	FaultAbandonNoCallback             = "abandon-no-callback"
	FaultRefreshLifetimeSliding        = "refresh-lifetime-sliding"
	FaultRefreshLifetimeShort          = "refresh-lifetime-short"
	FaultSignatureNotChecked           = "signature-not-checked"
	FaultSealOfAnyTPPAccepted          = "seal-of-any-tpp-accepted"

	// CBPII (cbpii.go).
	FaultCBPIIRoleNotChecked = "cbpii-role-not-checked"
	FaultAISPCBPIICombined   = "aisp-cbpii-combined"
	// The same, with token responses that do not say their scope (RFC 6749 section 5.1
	// allows it when it is the scope asked for): only the resources tell.
	FaultAISPCBPIICombinedSilently = "aisp-cbpii-combined-silently"
	FaultRefreshAddsOtherRole      = "refresh-adds-other-role"
	FaultFundsResultString         = "funds-result-as-string"
	FaultFundsAnyScope             = "funds-confirmation-any-scope"
	FaultAccountsAnyScope          = "accounts-cbpii-accepted"
	// A bank whose CBPII API sits behind another gateway than its AISP API, configured
	// apart: the accounts resource checks what funds-confirmations does not.
	FaultFundsExpiredTokenAccepted = "funds-expired-token-accepted"
	FaultFundsTokenNotBound        = "funds-token-not-bound"

	// Register API (register.go).
	FaultRegisteredRedirectIgnored = "registered-redirect-uris-ignored"
	FaultRegisteredClientUnbound   = "registered-client-unbound"
	// FaultRegisteredUnknownAtAuthorize: wrong reason (REG-01 must not pass on it).
	FaultRegisteredUnknownAtAuthorize = "registered-client-unknown-at-authorize"
	FaultRegisterUpdateIgnored        = "register-update-ignored"
	FaultRegisterDeleteIgnored        = "register-delete-ignored"
	FaultRegisterWithoutQWAC          = "register-management-without-qwac"
	FaultRegisterTokenNotChecked      = "register-token-not-checked"
)

// The scenarios, by the names the features give them (outline rows with their example).
const (
	scAuthzStarts          = "The authorization request starts the PSU's authentication"
	scApproveCode          = "The PSU approves and the bank calls back with a one-time code"
	scStateApproves        = "The state comes back unchanged when the PSU approves"
	scStateRefuses         = "The state comes back unchanged when the PSU refuses"
	scRefuseError          = "The PSU refuses and the bank calls back with an error and no code"
	scRedirectAttacker     = `An unregistered or altered redirect_uri is never redirected to: the redirect_uri "https://attacker.invalid/callback"`
	scRedirectExtraPath    = "An unregistered or altered redirect_uri is never redirected to: its redirect_uri with an extra path segment"
	scRedirectOtherPort    = "An unregistered or altered redirect_uri is never redirected to: its redirect_uri on another port"
	scUnknownClient        = "An unknown client_id is never redirected to"
	scResponseTypeToken    = "A response type other than code is refused"
	scPKCEAccepted         = "A PKCE challenge is accepted and its verifier redeems the code"
	scExpiredToken         = "An expired access token is refused with invalid_token"
	scTokenOpens           = "The access token opens the accounts resource"
	scSchemeLower          = "The authorization scheme is case-insensitive: bearer"
	scSchemeUpper          = "The authorization scheme is case-insensitive: BEARER"
	scNoToken              = "A request without an access token gets a Bearer challenge"
	scTamperedToken        = "A forged access token is refused with invalid_token: tampered"
	scUnknownToken         = "A forged access token is refused with invalid_token: unknown"
	scOtherCertificate     = "An access token is refused over another TPP's certificate"
	scSTETErrorBody        = "A refused request gets a STET error body and its X-Request-ID back"
	scNoClientCert         = "A code exchange without a client certificate is refused"
	scClientIDExchange     = "A client_id other than the certificate's Authorization Number is refused at code exchange"
	scClientIDRefresh      = "A client_id other than the certificate's Authorization Number is refused at refresh"
	scRoleLacking          = "A TPP whose certificate lacks the AISP role gets no AISP access"
	scExpiredCert          = "An expired certificate is refused"
	scUntrustedCert        = "A certificate from an issuer the bank does not trust is refused"
	scTLS11                = "TLS below 1.2 is refused"
	scRefresh              = "The TPP refreshes the access token without a scope"
	scRefreshCBPII         = "A cbpii grant is refreshed without a scope, and its new access token confirms funds"
	scRefreshedOpens       = "The refreshed access token opens the accounts resource"
	scRotation             = "Refresh-token rotation behaves as the bank declares"
	scAbandon              = "The PSU abandons the journey and the bank calls back with an error and no code"
	scRefreshLifetimeOver  = "Once its lifetime is over, the refresh token is refused and the PSU must consent again"
	scRefreshLifetimeWorks = "A refresh token keeps working for the lifetime the bank declares"
	scUnsigned             = "An unsigned request to the accounts resource is refused"
	scForeignSeal          = "A request signed with another TPP's seal is refused"
	scForeignRefresh       = "Another TPP cannot use the refresh token"
	scUnknownRefresh       = "An unknown refresh token is refused"
	scWiderScope           = "A refresh cannot widen the grant the PSU consented to"
	scRevokeRefresh        = "After the TPP revokes its refresh token, the refresh is refused"
	scRevokedAccess        = "A revoked access token is refused with invalid_token"
	scRevokeOther          = "A TPP cannot revoke another TPP's refresh token"
	scNoScopeNeeded        = "The bank does not require a scope at the token endpoint"
	scTokenResponse        = "The token response carries an access token, its type and a refresh token"
	scTokenType            = "The token type is Bearer"
	scNotCached            = "Token responses are not cached"
	scRefreshNotCached     = "Refresh responses are not cached either"
	scExpiresIn            = "The access token's lifetime is given in seconds"
	scCodeOnce             = "A code can be exchanged only once"
	scCodeExpired          = "An expired code is refused"
	scRedirectMismatch     = "The redirect_uri must be the one of the authorization request"
	scRedirectMissing      = "The redirect_uri cannot be left out of the code exchange"
	scCodeOtherTPP         = "A code issued to one TPP cannot be redeemed by another"
	scMalformedCode        = "A malformed token request gets the RFC 6749 error: with an unknown code"
	scMalformedNoGrant     = "A malformed token request gets the RFC 6749 error: without grant_type"
	scMalformedNoCode      = "A malformed token request gets the RFC 6749 error: without the code"
	scMalformedGrantType   = `A malformed token request gets the RFC 6749 error: with the grant_type "urn:stet:unknown"`
	scErrorFormat          = "Token endpoint errors are RFC 6749 JSON error responses"
	scTokenGET             = "The token endpoint does not serve GET"
	scPKCEWrong            = "A code issued under a PKCE challenge needs its verifier: a wrong code_verifier"
	scPKCEMissing          = "A code issued under a PKCE challenge needs its verifier: no code_verifier"
	scScopeAtToken         = "A scope sent on the code exchange is treated as the bank declares"
	scFundsAISPToken       = "An AISP access token does not open the funds-confirmations resource"
	scFundsConfirmed       = "A cbpii token from the PSU's consent confirms the availability of funds"
	scAccountsCBPIIToken   = "A cbpii access token does not open the accounts resource"
	scCBPIIRoleLacking     = "A TPP whose certificate lacks the CBPII role gets no cbpii access"
	scBothRoles            = "AISP and CBPII rights are never granted together"
	scRefreshAddsCBPII     = "A refresh of an AISP grant cannot add the cbpii scope"
	scRefreshAddsAISP      = "A refresh of a cbpii grant cannot add the aisp scope"
	scFundsExpiredToken    = "An expired cbpii access token is refused with invalid_token"
	scFundsOtherCert       = "A cbpii access token is refused over another TPP's certificate"
	scRegNoQWAC            = "The registered client's configuration is refused without the TPP's QWAC"
	scRegNoToken           = "The registered client's configuration is refused without the registration access token"
	scRegRedirect          = "Only the redirect URIs registered are honoured for a registered client"
	scRegBound             = "A registered client_id is accepted at the token endpoint, over its registrant's QWAC only"
	scRegUpdate            = "The registering TPP updates its client's redirect URIs through the register API"
	scRegDelete            = "The registering TPP deletes its client through the register API"
)

// refusedWith200 is the reason of a negative token-endpoint check answered with a token.
const refusedWith200 = `it answered HTTP 200, .*with an access token`

// faultTable is the catalogue: the one place where a fault's description and what a run
// against it must show are declared. suites/faults/faults_test.go runs the features against each
// fault and fails when the run shows anything else.
//
// The expectations follow the verdict rules of the steps: a scenario whose precondition
// (a Given step) the fault breaks is inconclusive, and only the scenario that checks the
// broken behaviour in its own When/Then fails; a refusal that is not attributable (a
// first /authorize hop answering 401/403/429/5xx, a 429 or 5xx anywhere, an unrelated
// error code) proves nothing.
var faultTable = []Fault{
	{Name: FaultStateNotEchoed, Description: "Every callback (approval, refusal, error) omits the state parameter.",
		Breaks: []string{"AUTHZ-03", "AUTHZ-05"}, Scenarios: []string{scStateApproves, scStateRefuses, scAbandon}, Reason: `it has no state parameter`},
	{Name: FaultStateAltered, Description: "Every callback carries a state that differs from the one the TPP sent.",
		Breaks: []string{"AUTHZ-03", "AUTHZ-05"}, Scenarios: []string{scStateApproves, scStateRefuses, scAbandon}, Reason: `expected the callback to carry the state .* unchanged; it carries`},
	{Name: FaultRefusalWithoutError, Description: "A refused consent redirects to the callback with the state only, without error.",
		Breaks: []string{"AUTHZ-04"}, Scenarios: []string{scRefuseError}, Reason: `expected an error on the callback after the PSU refused or abandoned; it has none`},
	{Name: FaultRefusalWithCode, Description: "A refused consent redirects with error=access_denied and also a valid code.",
		Breaks: []string{"AUTHZ-04"}, Scenarios: []string{scRefuseError}, Reason: `expected no code after the PSU refused or abandoned; the callback carries a code`},
	{Name: FaultRedirectUnregisteredURI, Description: "Any https redirect_uri is accepted at /authorize and redirected to after the journey.",
		Breaks: []string{"AUTHZ-06", "REG-01"}, Scenarios: []string{scRedirectAttacker, scRedirectExtraPath, scRedirectOtherPort, scRegRedirect},
		Reason: `expected the bank never to send the PSU's browser to \S+; it did`},
	{Name: FaultUnknownClientAccepted, Description: "An unknown client_id goes through login and consent and is redirected to the given redirect_uri.",
		Breaks: []string{"AUTHZ-07"}, Scenarios: []string{scUnknownClient}, Reason: `expected the bank never to send the PSU's browser to \S+; it did`},
	{Name: FaultCallbackPathAltered, Description: "An approval redirects to the registered callback with a path segment added.",
		Breaks: []string{"AUTHZ-02"}, Scenarios: []string{scApproveCode}, Reason: `expected the callback \S+; the bank sent the browser to \S+/approved`},
	// The AUTHZ-12 fault. A browser without a client certificate is refused at once: the
	// checks whose own When is a PSU journey fail (the first hop is theirs too), every check
	// that needs a code as its precondition is inconclusive, and the negative journeys
	// (AUTHZ-06/07/08, MTLS-03) prove nothing from a 403 to everyone.
	{Name: FaultAuthorizeNeedsClientCert, Description: "GET /authorize is refused (403) to a browser without a client certificate.",
		Breaks:       []string{"AUTHZ-01", "AUTHZ-12"},
		Scenarios:    []string{scAuthzStarts},
		Reason:       `HTTP 403`,
		Inconclusive: slices.Concat([]string{"AUTHZ-02", "AUTHZ-03", "AUTHZ-04", "AUTHZ-06", "AUTHZ-07", "AUTHZ-08", "AUTHZ-10", "AUTHZ-13", "MTLS-03", "MTLS-11"}, journeyPreconditions)},
	// The bank is down for the PSU: nothing about the authorization endpoint, nor anything
	// that needs a code, can be concluded; 503 is never a refusal.
	{Name: FaultAuthorizeUnavailable, Description: "GET /authorize answers 503 Service Unavailable (Retry-After: 1) to everyone.",
		Inconclusive: slices.Concat([]string{"AUTHZ-01", "AUTHZ-02", "AUTHZ-03", "AUTHZ-04", "AUTHZ-05", "AUTHZ-06", "AUTHZ-07", "AUTHZ-08", "AUTHZ-10", "AUTHZ-12", "AUTHZ-13", "MTLS-03", "MTLS-11"}, journeyPreconditions),
		WrongReason:  true},
	// The same bank down, redirecting each known client at once to its registered callback
	// with error=temporarily_unavailable: the checks that see a callback error (AUTHZ-06's
	// redirect to the registered callback, AUTHZ-08) must not count it as their refusal.
	{Name: FaultAuthorizeRedirectsUnavailable, Description: "GET /authorize redirects every known client at once to its registered callback with error=temporarily_unavailable.",
		NotPassed:   slices.Concat([]string{"AUTHZ-01", "AUTHZ-02", "AUTHZ-04", "AUTHZ-05", "AUTHZ-06", "AUTHZ-07", "AUTHZ-08", "AUTHZ-10", "AUTHZ-12", "AUTHZ-13", "MTLS-03", "MTLS-11"}, journeyPreconditions),
		WrongReason: true},
	// The PKCE journey is AUTHZ-13's own When; TOKEN-12's checks need it as precondition.
	{Name: FaultPKCEChallengeRejected, Description: "An authorization request with a PKCE challenge is answered invalid_request.",
		Breaks: []string{"AUTHZ-13"}, Scenarios: []string{scPKCEAccepted}, Reason: `the bank called the callback without a code \(error="invalid_request"`,
		Inconclusive: []string{"TOKEN-12"}},
	{Name: FaultResponseTypeToken, Description: "response_type=token is served: the journey ends with an access token in the callback fragment.",
		Breaks: []string{"AUTHZ-08"}, Scenarios: []string{scResponseTypeToken}, Reason: `the bank returned an access token in the PSU's browser`},

	// The suite never sends a scope at the token endpoint (STET forbids it), so every code
	// exchange is refused, before the code itself is looked at: the checks that exchange a
	// code in their own When fail (those expecting invalid_grant get invalid_request), the
	// checks that need tokens first are inconclusive, and so are TOKEN-08 (its positive
	// control, a fresh code, fails) and MTLS-03 and MTLS-11 (invalid_request is not about
	// the role).
	{Name: FaultScopeRequired, Description: "The code exchange is refused (invalid_request) unless it carries a scope, before the code is checked.",
		Breaks:       []string{"AUTHZ-13", "TOKEN-01", "TOKEN-02", "TOKEN-08", "TOKEN-09", "TOKEN-10", "TOKEN-11"},
		Scenarios:    []string{scPKCEAccepted, scTokenResponse, scNoScopeNeeded, scCodeExpired, scRedirectMismatch, scCodeOtherTPP, scMalformedCode},
		Reason:       `HTTP 400, error="invalid_request"`,
		Inconclusive: slices.Concat(exchangePreconditions, []string{"MTLS-03", "MTLS-11"})},
	// TOKEN-02 alone, with the two checks that share its When: a code exchange that passes
	// every other check (code, client, redirect_uri, role) is refused without a scope.
	{Name: FaultScopeRequiredValidCode, Description: "A code exchange that passes every other check is refused (invalid_request) unless it carries a scope.",
		Breaks:       []string{"AUTHZ-13", "TOKEN-01", "TOKEN-02"},
		Scenarios:    []string{scPKCEAccepted, scTokenResponse, scNoScopeNeeded},
		Reason:       `HTTP 400, error="invalid_request"`,
		Inconclusive: slices.Concat(exchangePreconditions, []string{"TOKEN-08"})},
	{Name: FaultScopeAtTokenRejected, Description: "A code exchange that carries a scope is refused, while the profile declares it ignored.",
		Breaks: []string{"TOKEN-15"}, Scenarios: []string{scScopeAtToken}, Reason: `expected a token despite the scope`},
	{Name: FaultCodeReusable, Description: "An authorization code can be exchanged more than once.",
		Breaks: []string{"TOKEN-07"}, Scenarios: []string{scCodeOnce}, Reason: refusedWith200},
	{Name: FaultCodeAnyRedirectURI, Description: "The redirect_uri of the code exchange is not compared with the authorization request's.",
		Breaks: []string{"TOKEN-09"}, Scenarios: []string{scRedirectMismatch, scRedirectMissing}, Reason: refusedWith200},
	{Name: FaultCodeAnyClient, Description: "A code is redeemable by any authenticated TPP, not only the one it was issued to.",
		Breaks: []string{"TOKEN-10"}, Scenarios: []string{scCodeOtherTPP}, Reason: refusedWith200},
	{Name: FaultPKCEIgnored, Description: "The PKCE challenge of the authorization request is ignored: any code_verifier, or none, is accepted.",
		Breaks: []string{"TOKEN-12"}, Scenarios: []string{scPKCEWrong, scPKCEMissing}, Reason: refusedWith200},
	{Name: FaultCodeNeverExpires, Description: "Authorization codes never expire.",
		Breaks: []string{"TOKEN-08"}, Scenarios: []string{scCodeExpired}, Reason: refusedWith200},
	// The refresh response says MAC too.
	{Name: FaultTokenTypeMAC, Description: "Token responses say token_type \"MAC\".",
		Breaks: []string{"TOKEN-03", "REFRESH-01"}, Scenarios: []string{scTokenType, scRefresh, scRefreshCBPII}, Reason: `token_type.*"MAC"`},
	{Name: FaultNoCacheControl, Description: "Token responses carry neither Cache-Control: no-store nor Pragma: no-cache.",
		Breaks: []string{"TOKEN-04"}, Scenarios: []string{scNotCached, scRefreshNotCached}, Reason: `expected Cache-Control: no-store`},
	// TOKEN-01 alone: every check that needs a refresh token is inconclusive.
	{Name: FaultNoRefreshToken, Description: "The code exchange issues no refresh token.",
		Breaks: []string{"TOKEN-01"}, Scenarios: []string{scTokenResponse}, Reason: `missing or not a string: refresh_token`,
		// TOKEN-04's refresh-response check has no refresh response to look at.
		Inconclusive: slices.Concat(refreshPreconditions, []string{"REFRESH-09", "REFRESH-10", "REFRESH-13", "TOKEN-04"})},
	// Without a usable expires_in, the expiry of the access token cannot be waited for.
	{Name: FaultExpiresInMissing, Description: "Token responses have no expires_in.",
		Breaks: []string{"TOKEN-05"}, Scenarios: []string{scExpiresIn}, Reason: `expected expires_in in the token response; there is none`,
		NotPassed: []string{"BEARER-04"}},
	{Name: FaultExpiresInZero, Description: "Token responses say expires_in 0.",
		Breaks: []string{"TOKEN-05"}, Scenarios: []string{scExpiresIn}, Reason: `positive whole number of seconds; it is 0`,
		NotPassed: []string{"BEARER-04"}},
	// Every check that expects the token endpoint to refuse reads the status and the
	// error code, so both faults fail all of them, not only the format check TOKEN-13;
	// with errors as 200, the 405 to GET /token becomes a 200 too. The embedded bank ends
	// the handshake of an expired or untrusted certificate: MTLS-04/06 see no HTTP error.
	{Name: FaultErrorsAs200, Description: "Token endpoint errors are sent with HTTP status 200 (JSON body unchanged).",
		Breaks: slices.Concat(httpTokenRefusals, []string{"TOKEN-14"}),
		Scenarios: []string{scNoClientCert, scClientIDExchange, scClientIDRefresh,
			scRotation, scForeignRefresh, scUnknownRefresh, scWiderScope, scRefreshAddsCBPII, scRefreshAddsAISP, scRevokeRefresh, scRefreshLifetimeOver,
			scCodeOnce, scCodeExpired, scRedirectMismatch, scRedirectMissing, scCodeOtherTPP,
			scMalformedCode, scMalformedNoGrant, scMalformedNoCode, scMalformedGrantType, scErrorFormat, scTokenGET, scPKCEWrong, scPKCEMissing},
		Reason: `HTTP 200, error="`},
	// A refusal of the client itself (no, expired or untrusted certificate) may come from
	// a TLS front end in its own words: with a 4xx kept, those checks pass with a warning.
	// bad_request is no refusal for lack of a role: MTLS-03 and MTLS-11 cannot conclude.
	{Name: FaultNonRFCError, Description: "Token endpoint errors say error \"bad_request\" instead of the RFC 6749 code (status kept).",
		Breaks: slices.DeleteFunc(slices.Clone(httpTokenRefusals), func(id string) bool { return id == "MTLS-01" }),
		Scenarios: []string{scClientIDExchange, scClientIDRefresh,
			scRotation, scForeignRefresh, scUnknownRefresh, scWiderScope, scRefreshAddsCBPII, scRefreshAddsAISP, scRevokeRefresh, scRefreshLifetimeOver,
			scCodeOnce, scCodeExpired, scRedirectMismatch, scRedirectMissing, scCodeOtherTPP,
			scMalformedCode, scMalformedNoGrant, scMalformedNoCode, scMalformedGrantType, scErrorFormat, scPKCEWrong, scPKCEMissing},
		Reason:       `"bad_request"`,
		Inconclusive: []string{"MTLS-03", "MTLS-11"}},
	// TOKEN-13 alone: the checks of error codes read the body whatever its media type.
	{Name: FaultTokenErrorsTextPlain, Description: "Token endpoint errors are sent as Content-Type text/plain (status and JSON body unchanged).",
		Breaks: []string{"TOKEN-13"}, Scenarios: []string{scErrorFormat}, Reason: `Content-Type is "text/plain[^"]*", not application/json`},
	// TOKEN-11 alone.
	{Name: FaultUnsupportedGrantError, Description: "An unsupported grant_type is refused with invalid_request instead of unsupported_grant_type.",
		Breaks: []string{"TOKEN-11"}, Scenarios: []string{scMalformedGrantType}, Reason: `expected error unsupported_grant_type; HTTP 400, error="invalid_request"`},
	// A 429 is never a refusal, nor a failure: a check that meets one retries once after
	// Retry-After, then cannot conclude. Which checks meet one depends on timing, so the
	// matrix checks the general rule (nothing fails, nothing passes on a 429) rather
	// than a list.
	{Name: FaultRateLimited, Description: "The token endpoint and the accounts resource answer 429 (Retry-After: 1) beyond 3 requests per client per second.",
		WrongReason: true, WorkedAround: "the suite holds every request to the host for a Retry-After and sends again: when its waits fit in the checks' windows, every check passes"},

	{Name: FaultNoClientCertAccepted, Description: "A token request without a client certificate is served, trusting its client_id.",
		Breaks: []string{"MTLS-01"}, Scenarios: []string{scNoClientCert}, Reason: refusedWith200},
	{Name: FaultClientIDUncheckedAtExchange, Description: "At code exchange, client_id is not compared with the certificate's organizationIdentifier.",
		// A client_id issued by registration is then taken from any QWAC too (REG-02).
		Breaks: []string{"MTLS-02", "REG-02"}, Scenarios: []string{scClientIDExchange, scRegBound},
		Reason: refusedWith200 + `|expected the bank to refuse the second TPP's QWAC for client_id \S+ .*; HTTP 400, error="invalid_grant"`},
	{Name: FaultClientIDUncheckedAtRefresh, Description: "At refresh, client_id is not compared with the certificate's organizationIdentifier.",
		Breaks: []string{"MTLS-02"}, Scenarios: []string{scClientIDRefresh}, Reason: refusedWith200},
	{Name: FaultRoleNotChecked, Description: "A certificate without the PSP_AI role obtains AISP tokens.",
		Breaks: []string{"MTLS-03"}, Scenarios: []string{scRoleLacking}, Reason: `expected no usable AISP access for a certificate without the PSP_AI role`},
	// The role-less TPP's journey stops at /authorize for its redirect_uri: that refusal
	// says nothing about its role, which the bank does not check.
	{Name: FaultRoleNotCheckedRedirect, Description: "A certificate without the PSP_AI role obtains AISP tokens, and that TPP's redirect_uri is not registered.",
		Inconclusive: []string{"MTLS-03"}, WrongReason: true},
	{Name: FaultExpiredCertAccepted, Description: "The client certificate's expiry is ignored (its issuer is still checked).",
		Breaks: []string{"MTLS-04"}, Scenarios: []string{scExpiredCert}, Reason: refusedWith200},
	{Name: FaultUntrustedCertAccepted, Description: "A client certificate from an untrusted issuer is accepted (its organizationIdentifier is still checked).",
		Breaks: []string{"MTLS-06"}, Scenarios: []string{scUntrustedCert}, Reason: refusedWith200},
	{Name: FaultTLS11Accepted, Description: "The server accepts TLS 1.0 and 1.1.",
		Breaks: []string{"MTLS-09"}, Scenarios: []string{scTLS11}, Reason: `expected the bank to refuse a TLS 1.1 handshake .*; it completed it`},
	// Stands for a bank that accepts TLS 1.1 with DHE suites only, which Go lacks: the
	// suite sees handshake_failure, not protocol_version, and cannot tell.
	{Name: FaultTLS11UnusableSuites, Description: "The server accepts TLS 1.0 and 1.1, but only with cipher suites the suite's TLS stack lacks (TLS 1.1 handshakes end in handshake_failure).",
		Inconclusive: []string{"MTLS-09"}, WrongReason: true},
	{Name: FaultTokenGetServed, Description: "GET /token with the parameters in the query is served like the POST.",
		Breaks: []string{"TOKEN-14"}, Scenarios: []string{scTokenGET}, Reason: `it answered the GET with HTTP 200`},

	{Name: FaultExpiredTokenAccepted, Description: "The bank's resources do not check the access token's expiry.",
		Breaks: []string{"BEARER-04"}, Scenarios: []string{scExpiredToken, scFundsExpiredToken}, Reason: `expected HTTP 401 with WWW-Authenticate: Bearer error="invalid_token" for the expired access token \(the same token opened the (accounts|funds-confirmations) resource .* before its expiry\); HTTP 200`},
	{Name: FaultExpiredTokenNoInvalidToken, Description: "An expired access token gets 401 with a bare Bearer challenge, without error=\"invalid_token\".",
		Breaks: []string{"BEARER-04"}, Scenarios: []string{scExpiredToken, scFundsExpiredToken}, Reason: `expected WWW-Authenticate: Bearer error="invalid_token".*HTTP 401, WWW-Authenticate: Bearer realm="stet", Content-Type`},
	// An expired token whose invalid_token is only in the STET error body is a warning
	// (BEARER-04), not a failure.
	{Name: FaultNoWWWAuthenticate, Description: "The accounts resource's 401 answers have no WWW-Authenticate header.",
		Breaks:    []string{"BEARER-03", "BEARER-05", "BEARER-10"},
		Scenarios: []string{scNoToken, scTamperedToken, scUnknownToken, scRevokedAccess},
		Reason:    `expected (a )?WWW-Authenticate: Bearer .*HTTP 401, (error="invalid_token", )?Content-Type`},
	// BEARER-03 alone.
	{Name: FaultNoTokenNoChallenge, Description: "A request without an access token gets 401 without WWW-Authenticate (refused tokens still get their challenge).",
		Breaks: []string{"BEARER-03"}, Scenarios: []string{scNoToken}, Reason: `expected a WWW-Authenticate: Bearer challenge with the 401 .*HTTP 401, Content-Type`},
	{Name: FaultTokenNotBound, Description: "Access tokens are not bound to the certificate they were issued over.",
		Breaks: []string{"BEARER-06"}, Scenarios: []string{scOtherCertificate, scFundsOtherCert}, Reason: `another TPP's certificate with HTTP 401 or 403; HTTP 200`},
	{Name: FaultTokenTamperedAccepted, Description: "The accounts resource finds an access token by its signature part and does not verify the rest: a tampered token is accepted.",
		Breaks: []string{"BEARER-05"}, Scenarios: []string{scTamperedToken}, Reason: `expected HTTP 401 with WWW-Authenticate: Bearer error="invalid_token"; HTTP 200`},
	// BEARER-09's check sends an unknown token too.
	{Name: FaultTokenUnknownAccepted, Description: "The accounts resource lets through an access token that is not in its own format (fail-open).",
		Breaks: []string{"BEARER-05", "BEARER-09"}, Scenarios: []string{scUnknownToken, scSTETErrorBody}, Reason: `expected HTTP 401.*; HTTP 200`},
	// BPCE's one token pair per PSU and TPP, with tokens that never expire: the expiry
	// check's token is refused because another consent superseded it, not because it
	// expired. Failed (the token outlived its expires_in) or inconclusive, never passed.
	{Name: FaultTokensSuperseded, Description: "Access tokens never expire, but a new code exchange for the same PSU and TPP revokes the earlier token pairs (older than 500 ms).",
		// A grant watched for its lifetime is superseded too: refused early, never passed.
		// A refresh token superseded before the end of its declared lifetime fails
		// REFRESH-13 (the bank should declare token_pairs: one_per_psu), when another
		// scenario's consent comes before the check's refresh.
		// REFRESH-10 is watched under the gate: what it sees refused after the end is the end.
		NotPassed: []string{"BEARER-04"}, MayFail: []string{"REFRESH-13"}, WrongReason: true},
	{Name: FaultErrorsNotSTET, Description: "The accounts resource's 401 and 403 bodies are plain text, not the STET error model.",
		Breaks: []string{"BEARER-09"}, Scenarios: []string{scSTETErrorBody}, Reason: `the body is not a JSON object`},
	// The second TPP's own token is BEARER-06's positive control, and the expiry check
	// needs the token accepted before it expires: both cannot conclude; nor can CBPII-03,
	// whose refusal of a cbpii token proves nothing when aisp tokens are refused too.
	{Name: FaultAccountsForbidden, Description: "The accounts resource answers 403 insufficient_scope to valid access tokens.",
		Breaks:       []string{"BEARER-01", "BEARER-02", "REFRESH-02"},
		Scenarios:    []string{scTokenOpens, scSchemeLower, scSchemeUpper, scRefreshedOpens},
		Reason:       `expected HTTP 200 from the accounts resource; HTTP 403`,
		Inconclusive: []string{"BEARER-04", "BEARER-06", "BEARER-10", "CBPII-03"}},
	{Name: FaultSchemeCaseSensitive, Description: "Only the exact scheme spelling \"Bearer\" is recognised.",
		Breaks: []string{"BEARER-02"}, Scenarios: []string{scSchemeLower, scSchemeUpper}, Reason: `expected HTTP 200 from the accounts resource; HTTP 401`},

	{Name: FaultForeignRefreshAccepted, Description: "A refresh token is accepted from any authenticated TPP.",
		Breaks: []string{"REFRESH-05"}, Scenarios: []string{scForeignRefresh}, Reason: refusedWith200},
	{Name: FaultRefreshWidensScope, Description: "A refresh asking for a scope the PSU never granted gets it.",
		Breaks: []string{"REFRESH-07"}, Scenarios: []string{scWiderScope, scRefreshAddsCBPII, scRefreshAddsAISP}, Reason: `the bank widened the grant`},
	{Name: FaultRefreshRefusesSecondTPP, Description: "Every refresh by the second TPP (TPP B's certificate) is refused with invalid_client, as by a gateway route that lets that TPP exchange codes only; refresh tokens are not bound to their TPP.",
		Inconclusive: []string{"REFRESH-05"}, WrongReason: true},
	// A TPP cannot refresh at all: every check whose own request is a refresh fails, with
	// the wrong error. Those that need a refresh first, or whose refusal is the bank's
	// ordinary answer (MTLS-02 at refresh, by its run-wide control; REFRESH-05 and
	// REFRESH-07 by theirs; REVOKE-02, whose refresh was not refused as a dead token), are
	// inconclusive.
	{Name: FaultRefreshRefusedAsClient, Description: "Every refresh is refused with invalid_client, as by a gateway that cannot authenticate TPPs on the refresh route.",
		Breaks:    []string{"REFRESH-01", "REFRESH-09", "REFRESH-11", "REFRESH-13", "REVOKE-01"},
		Scenarios: []string{scRefresh, scRefreshCBPII, scUnknownRefresh, scRevokeRefresh, scRefreshLifetimeWorks}, Reason: `HTTP 401, error="invalid_client"`,
		Inconclusive: []string{"MTLS-02", "REFRESH-02", "REFRESH-04", "REFRESH-05", "REFRESH-07", "REFRESH-10", "REVOKE-02", "TOKEN-04"}},
	{Name: FaultRefreshWiderScopeInvalidGrant, Description: "A refresh asking for a scope the PSU never granted is refused with invalid_grant, not invalid_scope; the same refresh token without the scope works.",
		Breaks: []string{"REFRESH-07"}, Scenarios: []string{scWiderScope, scRefreshAddsCBPII, scRefreshAddsAISP}, Reason: `invalid_scope.*invalid_grant`},
	{Name: FaultRevokeIgnored, Description: "The revocation endpoint answers 200 and revokes nothing.",
		Breaks: []string{"BEARER-10", "REFRESH-11", "REVOKE-01"}, Scenarios: []string{scRevokeRefresh, scRevokedAccess}, Reason: `HTTP 200, Content-Type`,
		// Another TPP's revocation "fails" too: REVOKE-02 has no control in such a run.
		Inconclusive: []string{"REVOKE-02"}},
	{Name: FaultRevokeAnyClient, Description: "Any authenticated TPP can revoke another TPP's refresh token.",
		Breaks: []string{"REVOKE-02"}, Scenarios: []string{scRevokeOther}, Reason: `to survive another TPP's revocation request .*error="invalid_grant"`},
	// A 500 is never a refusal: REFRESH-09 cannot conclude (unknown-refresh-wrong-error
	// breaks it).
	{Name: FaultUnknownRefresh500, Description: "An unknown refresh token gets HTTP 500 with an HTML body.",
		Inconclusive: []string{"REFRESH-09"}, WrongReason: true},
	{Name: FaultUnknownRefreshWrongError, Description: "An unknown refresh token is refused with invalid_request instead of invalid_grant.",
		Breaks: []string{"REFRESH-09"}, Scenarios: []string{scUnknownRefresh}, Reason: `expected error invalid_grant; HTTP 400, error="invalid_request"`},
	{Name: FaultRefreshNotRotated, Description: "Refresh answers without a new refresh_token (and the old one keeps working), while the profile declares rotation.",
		Breaks: []string{"REFRESH-04"}, Scenarios: []string{scRotation}, Reason: `expected a new refresh token on refresh`,
		// The refresh token it keeps working outlives its own revocation too (the bank
		// revokes the grant's newest, unsent one): the revocation check sees it when the
		// grant it takes from the consent plan was refreshed before, and not otherwise.
		MayFail: []string{"REVOKE-01", "REFRESH-11"}},
	{Name: FaultAbandonNoCallback, Description: "A PSU who cancels the journey is shown a page and never sent back to the TPP's callback.",
		Breaks: []string{"AUTHZ-05"}, Scenarios: []string{scAbandon}, Reason: `expected the bank to call the callback .* when the PSU abandons the journey`},
	{Name: FaultRefreshLifetimeSliding, Description: "Each refresh starts the refresh token's lifetime again, so the PSU's consent never has to be renewed.",
		Breaks: []string{"REFRESH-10"}, Scenarios: []string{scRefreshLifetimeOver}, Reason: `expected the refresh token of a consent .* to be refused`},
	// The refresh shortly before the end, that REFRESH-10 needs first, is refused too.
	{Name: FaultRefreshLifetimeShort, Description: "Refresh tokens die at 70 % of the lifetime the bank declares, counted from the consent.",
		Breaks: []string{"REFRESH-13"}, Scenarios: []string{scRefreshLifetimeWorks}, Reason: `expected the refresh token to keep working for the declared lifetime`,
		Inconclusive: []string{"REFRESH-10"}},
	{Name: FaultSignatureNotChecked, Description: "The accounts resource serves requests without checking their signature.",
		Breaks: []string{"SIG-01"}, Scenarios: []string{scUnsigned, scForeignSeal}, Reason: `expected HTTP 401 for a request that is not signed with the calling TPP's QSealC.*HTTP 200`},
	{Name: FaultSealOfAnyTPPAccepted, Description: "A request signed with any registered TPP's QSealC is accepted, whoever's QWAC it comes over.",
		Breaks: []string{"SIG-01"}, Scenarios: []string{scForeignSeal}, Reason: `expected HTTP 401 for a request that is not signed with the calling TPP's QSealC.*HTTP 200`},

	// CBPII (internal/aspsp/cbpii_test.go shows the bank side; cbpii.feature checks it).
	{Name: FaultCBPIIRoleNotChecked, Description: "A certificate without the PSP_IC role obtains cbpii tokens (PSP_AI is still checked for aisp).",
		Breaks: []string{"MTLS-11"}, Scenarios: []string{scCBPIIRoleLacking}, Reason: `expected no usable CBPII access for a certificate without the PSP_IC role; the bank issued a token and the funds-confirmations resource answered HTTP 200`},
	// The request for both roles reaches the login page as for one: the PSU approves, and
	// the code's token response says both scopes.
	{Name: FaultAISPCBPIICombined, Description: "An authorization request for aisp and cbpii at once is served, and one grant holds both roles.",
		Breaks: []string{"AUTHZ-10"}, Scenarios: []string{scBothRoles}, Reason: `the bank granted "aisp cbpii" in one grant`},
	{Name: FaultAISPCBPIICombinedSilently, Description: "As aisp-cbpii-combined, and token responses leave out the scope granted.",
		Breaks: []string{"AUTHZ-10"}, Scenarios: []string{scBothRoles}, Reason: `in one grant: its token, issued without a scope in the answer, opens both the accounts \(HTTP 200.*and the funds-confirmations resources \(HTTP 200`},
	// The wider scope of the AISP refresh check (pisp) is still refused.
	{Name: FaultRefreshAddsOtherRole, Description: "A refresh asking for the other role's scope (cbpii on an aisp grant, aisp on a cbpii grant) gets it; other scopes are still refused.",
		Breaks: []string{"REFRESH-07"}, Scenarios: []string{scRefreshAddsCBPII, scRefreshAddsAISP}, Reason: `the bank widened the grant to "[a-z ]+", adding the other role's scope (cbpii|aisp)`},
	{Name: FaultFundsResultString, Description: "funds-confirmations answers the result as the string \"true\" or \"false\", not a JSON boolean.",
		Breaks: []string{"CBPII-01"}, Scenarios: []string{scFundsConfirmed}, Reason: `expected result to be a JSON boolean .*; it is a string: (true|false)`},
	{Name: FaultFundsAnyScope, Description: "funds-confirmations serves any valid access token, an aisp one included.",
		Breaks: []string{"CBPII-02"}, Scenarios: []string{scFundsAISPToken}, Reason: `expected HTTP 403 with error insufficient_scope for an access token that grants aisp, not cbpii .*; HTTP 200`},
	{Name: FaultAccountsAnyScope, Description: "The accounts resource serves any valid access token, a cbpii one included.",
		Breaks: []string{"CBPII-03"}, Scenarios: []string{scAccountsCBPIIToken}, Reason: `expected HTTP 403 with error insufficient_scope for an access token that grants cbpii, not aisp .*; HTTP 200`},
	{Name: FaultFundsExpiredTokenAccepted, Description: "funds-confirmations does not check the access token's expiry (the accounts resource does).",
		Breaks: []string{"BEARER-04"}, Scenarios: []string{scFundsExpiredToken}, Reason: `expected HTTP 401 with WWW-Authenticate: Bearer error="invalid_token" for the expired access token \(the same token opened the funds-confirmations resource .* before its expiry\); HTTP 200`},
	{Name: FaultFundsTokenNotBound, Description: "funds-confirmations does not check that an access token is presented over the certificate it was issued to (the accounts resource does).",
		Breaks: []string{"BEARER-06"}, Scenarios: []string{scFundsOtherCert}, Reason: `another TPP's certificate with HTTP 401 or 403; HTTP 200`},

	// Register API: served by the reference bank with Config.Register.Enabled (the embedded
	// bank of a run), or any of these faults.
	{Name: FaultRegisteredRedirectIgnored, Description: "A client created through the register API is sent to any https redirect_uri, not only to those it registered.",
		Breaks: []string{"REG-01"}, Scenarios: []string{scRegRedirect}, Reason: `expected the bank never to send the PSU's browser to \S+/not-registered; it did`},
	{Name: FaultRegisteredClientUnbound, Description: "A client_id created through the register API is accepted at /token over any trusted QWAC, not only its registrant's organizationIdentifier.",
		Breaks: []string{"REG-02"}, Scenarios: []string{scRegBound}, Reason: `expected the bank to refuse the second TPP's QWAC for client_id \S+ .*; HTTP 400, error="invalid_grant"`},
	// A bank whose /authorize ignores registered clients refuses the registered client's
	// unregistered redirect_uri, and its registered one too: REG-01's positive control
	// fails, so REG-01 says nothing, never passed.
	{Name: FaultRegisteredUnknownAtAuthorize, Description: "The register API creates clients that /token knows but /authorize does not: every authorization request of a registered client gets an error page.",
		Inconclusive: []string{"REG-01"}, WrongReason: true},
	{Name: FaultRegisterWithoutQWAC, Description: "The client configuration endpoint (GET/PUT/DELETE /register/{client_id}) serves requests without a client certificate; the registration access token suffices.",
		Breaks: []string{"REG-03"}, Scenarios: []string{scRegNoQWAC}, Reason: `expected the register API to refuse the request .*; HTTP 200`},
	{Name: FaultRegisterTokenNotChecked, Description: "The client configuration endpoint serves the registrant's QWAC without checking the registration access token.",
		Breaks: []string{"REG-03"}, Scenarios: []string{scRegNoToken}, Reason: `expected the register API to refuse the request .*; HTTP 200`},
	{Name: FaultRegisterUpdateIgnored, Description: "An update of a registered client (PUT) is answered 200 with the new metadata, but the client keeps its old configuration.",
		Breaks: []string{"REG-04"}, Scenarios: []string{scRegUpdate}, Reason: `expected the configuration of \S+ read after the update to list the new redirect URI`},
	{Name: FaultRegisterDeleteIgnored, Description: "A deletion of a registered client (DELETE) is answered 204, but the client and its registration access token keep working.",
		Breaks: []string{"REG-04"}, Scenarios: []string{scRegDelete}, Reason: `expected the configuration of the deleted client \S+ to be refused .*; HTTP 200`},
	{Name: FaultOldRefreshStillValid, Description: "Refresh returns a new refresh token but the previous one keeps working.",
		Breaks: []string{"REFRESH-04"}, Scenarios: []string{scRotation}, Reason: `expected the replaced refresh token to be refused with invalid_grant.*HTTP 200`},
}

// httpTokenRefusals are the requirements checked by an HTTP refusal of the token
// endpoint (the embedded bank refuses expired and untrusted certificates in TLS).
var httpTokenRefusals = []string{"MTLS-01", "MTLS-02", "REFRESH-04", "REFRESH-05", "REFRESH-07", "REFRESH-09", "REFRESH-10", "REFRESH-11", "REVOKE-01", "TOKEN-07", "TOKEN-08", "TOKEN-09", "TOKEN-10", "TOKEN-11", "TOKEN-12", "TOKEN-13"}

// refreshPreconditions are the requirements whose checks need a refresh token first.
var refreshPreconditions = []string{"MTLS-02", "REFRESH-01", "REFRESH-02", "REFRESH-04", "REFRESH-05", "REFRESH-07", "REFRESH-11", "REVOKE-01", "REVOKE-02"}

// lifetimePreconditions are the refresh lifetime checks: they need a consent and tokens.
var lifetimePreconditions = []string{"REFRESH-10", "REFRESH-13"}

// exchangePreconditions are the requirements whose checks need tokens from a code
// exchange first (a Given step).
var exchangePreconditions = slices.Concat([]string{"BEARER-01", "BEARER-02", "BEARER-04", "BEARER-05", "BEARER-06", "BEARER-10",
	"CBPII-01", "CBPII-02", "CBPII-03", "SIG-01", "TOKEN-03", "TOKEN-04", "TOKEN-05", "TOKEN-07"}, refreshPreconditions, lifetimePreconditions)

// journeyPreconditions are the requirements whose checks need a PSU's approval first
// (a Given step): every check that needs a code or tokens.
var journeyPreconditions = slices.Concat([]string{"MTLS-01", "MTLS-04", "MTLS-06",
	"TOKEN-01", "TOKEN-02", "TOKEN-08", "TOKEN-09", "TOKEN-10", "TOKEN-12", "TOKEN-14", "TOKEN-15"}, exchangePreconditions)

// Faults returns the catalogue of named faults, sorted by name.
func Faults() []Fault {
	out := make([]Fault, len(faultTable))
	for i, f := range faultTable {
		f.Breaks = slices.Clone(f.Breaks)
		f.Scenarios = slices.Clone(f.Scenarios)
		f.Inconclusive = slices.Clone(f.Inconclusive)
		f.NotPassed = slices.Clone(f.NotPassed)
		out[i] = f
	}
	slices.SortFunc(out, func(a, b Fault) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// FaultNames returns the names of every fault, sorted.
func FaultNames() []string {
	names := make([]string, len(faultTable))
	for i, f := range faultTable {
		names[i] = f.Name
	}
	slices.Sort(names)
	return names
}

// faultSet is the set of faults in force. The zero value is a correct bank.
type faultSet map[string]bool

// parseFaults checks every name against the catalogue.
func parseFaults(names []string) (faultSet, error) {
	fs := faultSet{}
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(faultTable, func(f Fault) bool { return f.Name == n }) {
			unknown = append(unknown, n)
			continue
		}
		fs[n] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("aspsp: unknown fault %s; expected one of: %s",
			strings.Join(quoteAll(unknown), ", "), strings.Join(FaultNames(), ", "))
	}
	return fs, nil
}

func (fs faultSet) has(name string) bool { return fs[name] }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
