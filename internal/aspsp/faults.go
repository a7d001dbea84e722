package aspsp

import (
	"fmt"
	"slices"
	"strings"
)

// Fault is a named defect the reference bank can be started with. Each fault breaks exactly
// one behaviour, so that a run against the faulty bank must fail the requirements in Breaks
// and no others: that is how the suite proves it can detect a non-conforming bank.
type Fault struct {
	Name        string
	Description string
	// Breaks lists the requirement IDs (features/requirements.yaml) the suite must report
	// failed when the bank runs with this fault.
	Breaks []string
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

	// Token endpoint.
	FaultScopeRequired      = "scope-required"
	FaultCodeReusable       = "code-reusable"
	FaultCodeAnyRedirectURI = "code-any-redirect-uri"
	FaultCodeAnyClient      = "code-any-client"
	FaultTokenTypeMAC       = "token-type-mac"
	FaultNoCacheControl     = "no-cache-control"
	FaultNoRefreshToken     = "no-refresh-token"
	FaultExpiresInMissing   = "expires-in-missing"
	FaultExpiresInZero      = "expires-in-zero"
	FaultErrorsAs200        = "errors-as-200"
	FaultNonRFCError        = "non-rfc-error"

	// Client certificates.
	FaultNoClientCertAccepted        = "no-client-cert-accepted"
	FaultClientIDUncheckedAtExchange = "client-id-unchecked-at-exchange"
	FaultClientIDUncheckedAtRefresh  = "client-id-unchecked-at-refresh"
	FaultRoleNotChecked              = "role-not-checked"
	FaultExpiredCertAccepted         = "expired-cert-accepted"

	// Bearer use on the accounts resource.
	FaultExpiredTokenAccepted       = "expired-token-accepted"
	FaultExpiredTokenNoInvalidToken = "expired-token-no-invalid-token"
	FaultNoWWWAuthenticate          = "no-www-authenticate"
	FaultTokenNotBound              = "token-not-bound"
	FaultSchemeCaseSensitive        = "scheme-case-sensitive"

	// Refresh.
	FaultForeignRefreshAccepted   = "foreign-refresh-accepted"
	FaultUnknownRefresh500        = "unknown-refresh-500"
	FaultRefreshNotRotated        = "refresh-not-rotated"
	FaultOldRefreshStillValid     = "old-refresh-still-valid"
	FaultUntrustedCertAccepted    = "untrusted-cert-accepted"
	FaultTLS11Accepted            = "tls-1.1-accepted"
	FaultTokenGetServed           = "token-get-served"
	FaultCodeNeverExpires         = "code-never-expires"
	FaultErrorsNotSTET            = "resource-errors-not-stet"
	FaultRefreshWidensScope       = "refresh-widens-scope"
	FaultPKCEIgnored              = "pkce-ignored"
	FaultRevokeIgnored            = "revoke-ignored"
	FaultRevokeAnyClient          = "revoke-any-client"
	FaultScopeAtTokenRejected     = "scope-at-token-rejected"
	FaultCallbackPathAltered      = "callback-path-altered"
	FaultAuthorizeNeedsClientCert = "authorize-needs-client-cert"
	FaultPKCEChallengeRejected    = "pkce-challenge-rejected"
	FaultAccountsForbidden        = "accounts-forbidden"
)

// faultTable is the catalogue: the one place where a fault's description and the
// requirements it must make fail are declared. suites/faults_test.go runs the features
// against each fault and fails when the suite fails other requirements than these.
var faultTable = []Fault{
	{FaultStateNotEchoed, "Every callback (approval, refusal, error) omits the state parameter.", []string{"AUTHZ-03"}},
	{FaultStateAltered, "Every callback carries a state that differs from the one the TPP sent.", []string{"AUTHZ-03"}},
	{FaultRefusalWithoutError, "A refused consent redirects to the callback with the state only, without error.", []string{"AUTHZ-04"}},
	{FaultRefusalWithCode, "A refused consent redirects with error=access_denied and also a valid code.", []string{"AUTHZ-04"}},
	{FaultRedirectUnregisteredURI, "Any https redirect_uri is accepted at /authorize and redirected to after the journey.", []string{"AUTHZ-06"}},
	{FaultUnknownClientAccepted, "An unknown client_id goes through login and consent and is redirected to the given redirect_uri.", []string{"AUTHZ-07"}},
	{FaultCallbackPathAltered, "An approval redirects to the registered callback with a path segment added.", []string{"AUTHZ-02"}},
	// A browser without a client certificate is refused at once: every PSU journey fails,
	// and with it every check that needs a code.
	{FaultAuthorizeNeedsClientCert, "GET /authorize is refused (403) to a browser without a client certificate.", []string{
		"AUTHZ-01", "AUTHZ-02", "AUTHZ-03", "AUTHZ-04", "AUTHZ-12", "AUTHZ-13",
		"BEARER-01", "BEARER-02", "BEARER-04", "BEARER-05", "BEARER-06", "BEARER-10",
		"MTLS-01", "MTLS-02", "MTLS-04", "MTLS-06",
		"REFRESH-01", "REFRESH-02", "REFRESH-04", "REFRESH-05", "REFRESH-07", "REFRESH-11", "REVOKE-01", "REVOKE-02",
		"TOKEN-01", "TOKEN-02", "TOKEN-03", "TOKEN-04", "TOKEN-05", "TOKEN-07", "TOKEN-08", "TOKEN-09", "TOKEN-10",
		"TOKEN-12", "TOKEN-14", "TOKEN-15"}},
	{FaultPKCEChallengeRejected, "An authorization request with a PKCE challenge is answered invalid_request.", []string{"AUTHZ-13", "TOKEN-12"}},
	{FaultResponseTypeToken, "response_type=token is served: the journey ends with an access token in the callback fragment.", []string{"AUTHZ-08"}},

	// The suite never sends a scope at the token endpoint (STET forbids it), so every
	// check that needs a token fails with this one, at its precondition.
	{FaultScopeRequired, "The code exchange is refused (invalid_request) unless it carries a scope.", codeExchanges("TOKEN-02")},
	{FaultScopeAtTokenRejected, "A code exchange that carries a scope is refused, while the profile declares it ignored.", []string{"TOKEN-15"}},
	{FaultCodeReusable, "An authorization code can be exchanged more than once.", []string{"TOKEN-07"}},
	{FaultCodeAnyRedirectURI, "The redirect_uri of the code exchange is not compared with the authorization request's.", []string{"TOKEN-09"}},
	{FaultCodeAnyClient, "A code is redeemable by any authenticated TPP, not only the one it was issued to.", []string{"TOKEN-10"}},
	{FaultPKCEIgnored, "The PKCE challenge of the authorization request is ignored: any code_verifier, or none, is accepted.", []string{"TOKEN-12"}},
	{FaultCodeNeverExpires, "Authorization codes never expire.", []string{"TOKEN-08"}},
	// The refresh response says MAC too.
	{FaultTokenTypeMAC, "Token responses say token_type \"MAC\".", []string{"TOKEN-03", "REFRESH-01"}},
	{FaultNoCacheControl, "Token responses carry neither Cache-Control: no-store nor Pragma: no-cache.", []string{"TOKEN-04"}},
	// Without a refresh token, no refresh check can run: they fail at their precondition.
	{FaultNoRefreshToken, "The code exchange issues no refresh token.", []string{"TOKEN-01", "MTLS-02", "REFRESH-01", "REFRESH-02", "REFRESH-04", "REFRESH-05", "REFRESH-07", "REFRESH-11", "REVOKE-01", "REVOKE-02"}},
	{FaultExpiresInMissing, "Token responses have no expires_in.", []string{"TOKEN-05"}},
	{FaultExpiresInZero, "Token responses say expires_in 0.", []string{"TOKEN-05"}},
	// Every check that expects the token endpoint to refuse reads the status and the
	// error code, so both faults fail all of them, not only the format check TOKEN-13;
	// with errors as 200, the 405 to GET /token becomes a 200 too.
	{FaultErrorsAs200, "Token endpoint errors are sent with HTTP status 200 (JSON body unchanged).", append(slices.Clone(tokenRefusals), "TOKEN-14")},
	// A refusal of the client itself (no, expired or untrusted certificate) may come from
	// a TLS front end in its own words: with a 4xx kept, those checks pass with a warning.
	{FaultNonRFCError, "Token endpoint errors say error \"bad_request\" instead of the RFC 6749 code (status kept).",
		slices.DeleteFunc(slices.Clone(tokenRefusals), func(id string) bool { return id == "MTLS-01" || id == "MTLS-04" || id == "MTLS-06" })},

	{FaultNoClientCertAccepted, "A token request without a client certificate is served, trusting its client_id.", []string{"MTLS-01"}},
	{FaultClientIDUncheckedAtExchange, "At code exchange, client_id is not compared with the certificate's organizationIdentifier.", []string{"MTLS-02"}},
	{FaultClientIDUncheckedAtRefresh, "At refresh, client_id is not compared with the certificate's organizationIdentifier.", []string{"MTLS-02"}},
	{FaultRoleNotChecked, "A certificate without the PSP_AI role obtains AISP tokens.", []string{"MTLS-03"}},
	{FaultExpiredCertAccepted, "The client certificate's expiry is ignored (its issuer is still checked).", []string{"MTLS-04"}},
	{FaultUntrustedCertAccepted, "A client certificate from an untrusted issuer is accepted (its organizationIdentifier is still checked).", []string{"MTLS-06"}},
	{FaultTLS11Accepted, "The server accepts TLS 1.0 and 1.1.", []string{"MTLS-09"}},
	{FaultTokenGetServed, "GET /token with the parameters in the query is served like the POST.", []string{"TOKEN-14"}},

	{FaultExpiredTokenAccepted, "The accounts resource does not check the access token's expiry.", []string{"BEARER-04"}},
	{FaultExpiredTokenNoInvalidToken, "An expired access token gets 401 with a bare Bearer challenge, without error=\"invalid_token\".", []string{"BEARER-04"}},
	{FaultNoWWWAuthenticate, "The accounts resource's 401 answers have no WWW-Authenticate header.", []string{"BEARER-03", "BEARER-04", "BEARER-05", "BEARER-10"}},
	{FaultTokenNotBound, "Access tokens are not bound to the certificate they were issued over.", []string{"BEARER-06"}},
	{FaultErrorsNotSTET, "The accounts resource's 401 and 403 bodies are plain text, not the STET error model.", []string{"BEARER-09"}},
	{FaultAccountsForbidden, "The accounts resource answers 403 insufficient_scope to valid access tokens.", []string{"BEARER-01", "BEARER-02", "REFRESH-02"}},
	{FaultSchemeCaseSensitive, "Only the exact scheme spelling \"Bearer\" is recognised.", []string{"BEARER-02"}},

	{FaultForeignRefreshAccepted, "A refresh token is accepted from any authenticated TPP.", []string{"REFRESH-05"}},
	{FaultRefreshWidensScope, "A refresh asking for a scope the PSU never granted gets it.", []string{"REFRESH-07"}},
	{FaultRevokeIgnored, "The revocation endpoint answers 200 and revokes nothing.", []string{"BEARER-10", "REFRESH-11", "REVOKE-01"}},
	{FaultRevokeAnyClient, "Any authenticated TPP can revoke another TPP's refresh token.", []string{"REVOKE-02"}},
	{FaultUnknownRefresh500, "An unknown refresh token gets HTTP 500 with an HTML body.", []string{"REFRESH-09"}},
	{FaultRefreshNotRotated, "Refresh answers without a new refresh_token (and the old one keeps working), while the profile declares rotation.", []string{"REFRESH-04"}},
	{FaultOldRefreshStillValid, "Refresh returns a new refresh token but the previous one keeps working.", []string{"REFRESH-04"}},
}

// tokenRefusals are the requirements checked by a refusal of the token endpoint.
var tokenRefusals = []string{"MTLS-01", "MTLS-02", "MTLS-04", "MTLS-06", "REFRESH-04", "REFRESH-05", "REFRESH-07", "REFRESH-09", "REFRESH-11", "REVOKE-01", "TOKEN-07", "TOKEN-08", "TOKEN-09", "TOKEN-10", "TOKEN-11", "TOKEN-12", "TOKEN-13"}

// codeExchanges lists the requirements whose checks exchange a code (mostly to get a
// token first), with extra.
func codeExchanges(extra ...string) []string {
	return append([]string{"AUTHZ-13", "BEARER-01", "BEARER-10", "REFRESH-11", "REVOKE-01", "REVOKE-02", "BEARER-02", "BEARER-04", "BEARER-05", "BEARER-06", "MTLS-02",
		"REFRESH-01", "REFRESH-02", "REFRESH-04", "REFRESH-05", "REFRESH-07", "TOKEN-01", "TOKEN-03", "TOKEN-04",
		"TOKEN-05", "TOKEN-07", "TOKEN-08", "TOKEN-09", "TOKEN-10", "TOKEN-11"}, extra...)
}

// Faults returns the catalogue of named faults, sorted by name.
func Faults() []Fault {
	out := make([]Fault, len(faultTable))
	for i, f := range faultTable {
		f.Breaks = slices.Clone(f.Breaks)
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
