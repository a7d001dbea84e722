package aspsp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/httpsig"
)

// scopedQuery is authzQuery asking for scope.
func scopedQuery(clientID, scope string) url.Values {
	q := authzQuery(clientID)
	q.Set("scope", scope)
	return q
}

// scopedTokens runs a journey for scope and the code exchange for the TPP kp; it returns
// the token endpoint's answer, whatever it is.
func (tb *testBank) scopedTokens(kp *eidas.KeyPair, scope string) answer {
	tb.t.Helper()
	id := eidas.OrganizationIdentifier(kp.Cert)
	cb := tb.callback(scopedQuery(id, scope), "accept")
	if cb.Get("code") == "" {
		tb.t.Fatalf("%s: callback without a code: %v", scope, cb)
	}
	return tb.token(kp, exchangeForm(id, cb.Get("code")))
}

// bothRoles is TPP A's authorization request for aisp and cbpii at once, approved, and
// its code's exchange; false when the bank gave no code.
func (tb *testBank) bothRoles() (answer, bool) {
	tb.t.Helper()
	cb := tb.callback(scopedQuery(eidas.OrgTPPA, "aisp cbpii"), "accept")
	if cb.Get("code") == "" {
		return answer{}, false
	}
	return tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, cb.Get("code"))), true
}

// scopedAccess is scopedTokens' access token, which must come.
func (tb *testBank) scopedAccess(kp *eidas.KeyPair, scope string) string {
	tb.t.Helper()
	a := tb.scopedTokens(kp, scope)
	if a.status != http.StatusOK || a.field("access_token") == "" {
		tb.t.Fatalf("%s exchange: expected 200 with an access token, found %d: %s", scope, a.status, a.body)
	}
	return a.field("access_token")
}

const coverageBody = `{"paymentCoverageRequestId":"MyCoverage123456","instructedAmount":{"currency":"EUR","amount":"12.25"},"accountId":{"iban":"FR7630006000011234567890189"}}`

// funds posts a payment coverage request over kp's QWAC, signed with kp's QSealC when the
// bank requires signatures.
func (tb *testBank) funds(kp *eidas.KeyPair, authorization, body string) answer {
	tb.t.Helper()
	return tb.sealedPost(kp, tb.URL()+PathFundsConfirmations, authorization, body, tb.sealOfAny(kp))
}

// sealedPost posts a JSON body, signed with seal (nil: unsigned).
func (tb *testBank) sealedPost(kp *eidas.KeyPair, rawURL, authorization, body string, seal *eidas.KeyPair) answer {
	tb.t.Helper()
	return tb.sealedRequest(kp, http.MethodPost, rawURL, authorization, body, seal)
}

func (tb *testBank) sealedRequest(kp *eidas.KeyPair, method, rawURL, authorization, body string, seal *eidas.KeyPair) answer {
	tb.t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		tb.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set("X-Request-ID", "5c1d3e47-1e9f-4b4a-8f6f-3c2a7d7e9a21")
	if seal != nil {
		s := &httpsig.Signer{KeyID: "https://tpp.example/qsealc.pem", Key: seal.Key, Algorithm: httpsig.ECDSASHA256}
		if err := s.Sign(req, []byte(body)); err != nil {
			tb.t.Fatal(err)
		}
	}
	return tb.do(tb.client(kp), req)
}

// sealOfAny is sealOf knowing the TPP without PSP_IC too.
func (tb *testBank) sealOfAny(kp *eidas.KeyPair) *eidas.KeyPair {
	if kp == tb.pki.TPPNoIC && tb.cfg.RequireSignature {
		return tb.pki.TPPNoICSeal
	}
	return tb.sealOf(kp)
}

// expectInsufficientScope checks RFC 6750 section 3.1's answer to a valid token whose scope
// does not cover the resource.
func expectInsufficientScope(t *testing.T, a answer) {
	t.Helper()
	if a.status != http.StatusForbidden || !strings.Contains(a.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("expected 403 with a Bearer insufficient_scope challenge, found %d %q: %s", a.status, a.header.Get("WWW-Authenticate"), a.body)
	}
}

func TestCBPIIConsentOpensFundsConfirmations(t *testing.T) {
	for _, signed := range []bool{false, true} {
		tb := startBank(t, Config{RequireSignature: signed})
		a := tb.scopedTokens(tb.pki.TPPA, "cbpii")
		if a.status != http.StatusOK || a.field("scope") != "cbpii" || a.field("refresh_token") == "" {
			t.Fatalf("signed=%v: cbpii exchange: expected 200 with scope cbpii and a refresh token, found %d: %s", signed, a.status, a.body)
		}
		bearer := "Bearer " + a.field("access_token")
		f := tb.funds(tb.pki.TPPA, bearer, coverageBody)
		if f.status != http.StatusOK || f.header.Get("X-Request-ID") == "" {
			t.Fatalf("signed=%v: funds-confirmations: expected 200 with X-Request-ID, found %d: %s", signed, f.status, f.body)
		}
		m := f.json()
		req, _ := m["request"].(map[string]any)
		if m["result"] != true || req["paymentCoverageRequestId"] != "MyCoverage123456" || m["_links"] == nil {
			t.Errorf("signed=%v: expected STET's {request, result: true, _links}, found %s", signed, f.body)
		}
		big := strings.Replace(coverageBody, `"12.25"`, `"1500.01"`, 1)
		if f := tb.funds(tb.pki.TPPA, bearer, big); f.status != http.StatusOK || f.json()["result"] != false {
			t.Errorf("signed=%v: an amount above the balance: expected 200 result false, found %d: %s", signed, f.status, f.body)
		}
		for name, body := range map[string]string{
			"not JSON":          "amount=12",
			"without accountId": `{"paymentCoverageRequestId":"x","instructedAmount":{"currency":"EUR","amount":"1"}}`,
			"amount as number":  `{"paymentCoverageRequestId":"x","instructedAmount":{"currency":"EUR","amount":1},"accountId":{"iban":"FR7630006000011234567890189"}}`,
		} {
			if f := tb.funds(tb.pki.TPPA, bearer, body); f.status != http.StatusBadRequest || f.json()["status"] != 400.0 {
				t.Errorf("signed=%v: %s: expected a STET 400, found %d: %s", signed, name, f.status, f.body)
			}
		}
		other := strings.Replace(coverageBody, "FR7630006000011234567890189", "FR7630006000019876543210987", 1)
		if f := tb.funds(tb.pki.TPPA, bearer, other); f.status != http.StatusForbidden {
			t.Errorf("signed=%v: another account: expected 403, found %d: %s", signed, f.status, f.body)
		}
		// The token is bound to TPP A's certificate (RFC 8705), as on the accounts resource.
		if f := tb.funds(tb.pki.TPPB, bearer, coverageBody); f.status != http.StatusUnauthorized {
			t.Errorf("signed=%v: over TPP B's QWAC: expected 401, found %d: %s", signed, f.status, f.body)
		}
		if f := tb.funds(tb.pki.TPPA, "", coverageBody); f.status != http.StatusUnauthorized || !strings.HasPrefix(f.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("signed=%v: without a token: expected 401 with a Bearer challenge, found %d: %s", signed, f.status, f.body)
		}
		if signed {
			if f := tb.sealedPost(tb.pki.TPPA, tb.URL()+PathFundsConfirmations, bearer, coverageBody, nil); f.status != http.StatusUnauthorized {
				t.Errorf("unsigned: expected 401, found %d: %s", f.status, f.body)
			}
			if f := tb.sealedPost(tb.pki.TPPA, tb.URL()+PathFundsConfirmations, bearer, coverageBody, tb.pki.TPPBSeal); f.status != http.StatusUnauthorized {
				t.Errorf("sealed by TPP B: expected 401, found %d: %s", f.status, f.body)
			}
		}
		if g := tb.get(tb.pki.TPPA, tb.URL()+PathFundsConfirmations, http.Header{"Authorization": {bearer}}); g.status != http.StatusMethodNotAllowed {
			t.Errorf("GET: expected 405, found %d", g.status)
		}
		// The refreshed cbpii token keeps the role, and works.
		r := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, a.field("refresh_token")))
		if r.status != http.StatusOK || r.field("scope") != "cbpii" {
			t.Fatalf("signed=%v: refresh: expected 200 with scope cbpii, found %d: %s", signed, r.status, r.body)
		}
		if f := tb.funds(tb.pki.TPPA, "Bearer "+r.field("access_token"), coverageBody); f.status != http.StatusOK {
			t.Errorf("signed=%v: refreshed token: expected 200, found %d: %s", signed, f.status, f.body)
		}
	}
}

// MTLS-11: cbpii needs PSP_IC, as aisp needs PSP_AI (MTLS-03), at the token step where the
// certificate is seen.
func TestCBPIINeedsPSPIC(t *testing.T) {
	tb := startBank(t, Config{})
	expectTokenError(t, tb.scopedTokens(tb.pki.TPPNoIC, "cbpii"), 400, "unauthorized_client")
	// Its aisp grant works: the refusal is about the role.
	if a := tb.scopedTokens(tb.pki.TPPNoIC, "aisp"); a.status != http.StatusOK {
		t.Fatalf("aisp for the TPP without PSP_IC: expected 200, found %d: %s", a.status, a.body)
	}
	// And the TPP with PSP_IC but without PSP_AI gets cbpii, not aisp.
	if a := tb.scopedTokens(tb.pki.TPPNoRole, "cbpii"); a.status != http.StatusOK {
		t.Fatalf("cbpii for the TPP without PSP_AI: expected 200, found %d: %s", a.status, a.body)
	}
	expectTokenError(t, tb.scopedTokens(tb.pki.TPPNoRole, "aisp"), 400, "unauthorized_client")
}

// AUTHZ-10: aisp and cbpii at once are refused with invalid_scope on the callback, at the
// first hop.
func TestAISPAndCBPIIAreNotCombined(t *testing.T) {
	tb := startBank(t, Config{})
	for _, scope := range []string{"aisp cbpii", "cbpii extended_transaction_history"} {
		a := tb.get(nil, tb.URL()+PathAuthorize+"?"+scopedQuery(eidas.OrgTPPA, scope).Encode(), nil)
		u := a.location()
		if a.status != http.StatusSeeOther || u == nil || !strings.HasPrefix(u.String(), redirectOf(eidas.OrgTPPA)+"?") {
			t.Fatalf("%s: expected a 303 to the callback, found %d %q: %s", scope, a.status, a.header.Get("Location"), a.body)
		}
		if q := u.Query(); q.Get("error") != "invalid_scope" || q.Has("code") || q.Get("state") != testState {
			t.Errorf("%s: expected error=invalid_scope with the state and no code, found %v", scope, q)
		}
	}
}

// REFRESH-07 across roles: a refresh never adds the other role's scope.
func TestRefreshCannotAddTheOtherRole(t *testing.T) {
	tb := startBank(t, Config{})
	for _, tc := range []struct{ grant, ask string }{
		{"aisp", "aisp cbpii"},
		{"aisp", "cbpii"},
		{"cbpii", "cbpii aisp"},
	} {
		a := tb.scopedTokens(tb.pki.TPPA, tc.grant)
		f := refreshForm(eidas.OrgTPPA, a.field("refresh_token"))
		f.Set("scope", tc.ask)
		expectTokenError(t, tb.token(tb.pki.TPPA, f), 400, "invalid_scope")
	}
}

// RFC 6750 3.1: a valid token whose scope does not cover the resource gets 403
// insufficient_scope, naming the scope needed.
func TestEachRolesTokenOpensOnlyItsResource(t *testing.T) {
	tb := startBank(t, Config{})
	aisp := "Bearer " + tb.scopedAccess(tb.pki.TPPA, "aisp")
	cbpii := "Bearer " + tb.scopedAccess(tb.pki.TPPA, "cbpii")
	f := tb.funds(tb.pki.TPPA, aisp, coverageBody)
	expectInsufficientScope(t, f)
	if !strings.Contains(f.header.Get("WWW-Authenticate"), `scope="cbpii"`) || f.json()["status"] != 403.0 {
		t.Errorf("expected the challenge to name scope cbpii and a STET body, found %q: %s", f.header.Get("WWW-Authenticate"), f.body)
	}
	expectInsufficientScope(t, tb.accounts(tb.pki.TPPA, cbpii))
	if a := tb.accounts(tb.pki.TPPA, aisp); a.status != http.StatusOK {
		t.Errorf("aisp token on accounts: expected 200, found %d", a.status)
	}
}

// Open question 14: piisp, the scope's name before STET 1.4.2, only where configured.
func TestPIISPOnlyWhenConfigured(t *testing.T) {
	tb := startBank(t, Config{})
	if cb := tb.callback(scopedQuery(eidas.OrgTPPA, "piisp"), "accept"); cb.Get("error") != "invalid_scope" {
		t.Errorf("piisp on a bank that does not accept it: expected invalid_scope, found %v", cb)
	}
	tb = startBank(t, Config{CBPII: CBPIIConfig{AcceptPIISP: true}})
	a := tb.scopedTokens(tb.pki.TPPA, "piisp")
	if a.status != http.StatusOK || a.field("scope") != "piisp" {
		t.Fatalf("piisp: expected 200 with scope piisp, found %d: %s", a.status, a.body)
	}
	if f := tb.funds(tb.pki.TPPA, "Bearer "+a.field("access_token"), coverageBody); f.status != http.StatusOK {
		t.Errorf("piisp token on funds-confirmations: expected 200, found %d: %s", f.status, f.body)
	}
	expectTokenError(t, tb.scopedTokens(tb.pki.TPPNoIC, "piisp"), 400, "unauthorized_client")
	if a := tb.get(nil, tb.URL()+PathAuthorize+"?"+scopedQuery(eidas.OrgTPPA, "aisp piisp").Encode(), nil); a.location() == nil || a.location().Query().Get("error") != "invalid_scope" {
		t.Errorf("aisp piisp: expected invalid_scope on the callback, found %d %q", a.status, a.header.Get("Location"))
	}
}

// The CBPII faults' cases, with the catalogue's other cases in faults_test.go.
func init() {
	faultCases[FaultCBPIIRoleNotChecked] = faultCase{
		probe: func(tb *testBank) bool { return tb.scopedTokens(tb.pki.TPPNoIC, "cbpii").status == http.StatusOK },
		also: func(t *testing.T, tb *testBank) {
			expectTokenError(t, tb.scopedTokens(tb.pki.TPPNoRole, "aisp"), 400, "unauthorized_client")
		},
	}
	faultCases[FaultAISPCBPIICombined] = faultCase{
		probe: func(tb *testBank) bool {
			a, ok := tb.bothRoles()
			return ok && a.status == http.StatusOK && strings.Contains(a.field("scope"), "aisp") && strings.Contains(a.field("scope"), "cbpii")
		},
		also: func(t *testing.T, tb *testBank) {
			// The role check still holds: the TPP without PSP_IC gets nothing.
			cb := tb.callback(scopedQuery(eidas.OrgTPPNoIC, "aisp cbpii"), "accept")
			expectTokenError(t, tb.token(tb.pki.TPPNoIC, exchangeForm(eidas.OrgTPPNoIC, cb.Get("code"))), 400, "unauthorized_client")
		},
	}
	faultCases[FaultRefreshAddsOtherRole] = faultCase{
		probe: func(tb *testBank) bool {
			f := refreshForm(eidas.OrgTPPA, tb.scopedTokens(tb.pki.TPPA, "aisp").field("refresh_token"))
			f.Set("scope", "aisp cbpii")
			a := tb.token(tb.pki.TPPA, f)
			return a.status == http.StatusOK && strings.Contains(a.field("scope"), "cbpii")
		},
		also: func(t *testing.T, tb *testBank) {
			// Other scopes are still refused (the existing REFRESH-07 check asks pisp).
			f := refreshForm(eidas.OrgTPPA, tb.scopedTokens(tb.pki.TPPA, "aisp").field("refresh_token"))
			f.Set("scope", "aisp pisp")
			expectTokenError(t, tb.token(tb.pki.TPPA, f), 400, "invalid_scope")
		},
	}
	faultCases[FaultAISPCBPIICombinedSilently] = faultCase{
		probe: func(tb *testBank) bool {
			a, ok := tb.bothRoles()
			at := a.field("access_token")
			return ok && a.status == http.StatusOK && a.field("scope") == "" && at != "" &&
				tb.accounts(tb.pki.TPPA, "Bearer "+at).status == http.StatusOK &&
				tb.funds(tb.pki.TPPA, "Bearer "+at, coverageBody).status == http.StatusOK
		},
	}
	faultCases[FaultFundsResultString] = faultCase{
		probe: func(tb *testBank) bool {
			f := tb.funds(tb.pki.TPPA, "Bearer "+tb.scopedAccess(tb.pki.TPPA, "cbpii"), coverageBody)
			return f.status == http.StatusOK && f.json()["result"] == "true"
		},
	}
	faultCases[FaultFundsAnyScope] = faultCase{
		probe: func(tb *testBank) bool {
			return tb.funds(tb.pki.TPPA, "Bearer "+tb.scopedAccess(tb.pki.TPPA, "aisp"), coverageBody).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			expectInsufficientScope(t, tb.accounts(tb.pki.TPPA, "Bearer "+tb.scopedAccess(tb.pki.TPPA, "cbpii")))
		},
	}
	faultCases[FaultFundsExpiredTokenAccepted] = faultCase{
		probe: func(tb *testBank) bool {
			at := tb.scopedAccess(tb.pki.TPPA, "cbpii")
			tb.clock.Advance(2 * DefaultAccessTokenLifetime)
			return tb.funds(tb.pki.TPPA, "Bearer "+at, coverageBody).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			// The accounts resource still checks the expiry.
			at := tb.scopedAccess(tb.pki.TPPA, "aisp")
			tb.clock.Advance(2 * DefaultAccessTokenLifetime)
			if a := tb.accounts(tb.pki.TPPA, "Bearer "+at); a.status != http.StatusUnauthorized {
				t.Errorf("expired aisp token at the accounts resource: HTTP %d, want 401", a.status)
			}
		},
	}
	faultCases[FaultFundsTokenNotBound] = faultCase{
		probe: func(tb *testBank) bool {
			return tb.funds(tb.pki.TPPB, "Bearer "+tb.scopedAccess(tb.pki.TPPA, "cbpii"), coverageBody).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			if a := tb.accounts(tb.pki.TPPB, "Bearer "+tb.scopedAccess(tb.pki.TPPA, "aisp")); a.status != http.StatusUnauthorized {
				t.Errorf("aisp token over another certificate at the accounts resource: HTTP %d, want 401", a.status)
			}
		},
	}
	faultCases[FaultAccountsAnyScope] = faultCase{
		probe: func(tb *testBank) bool {
			return tb.accounts(tb.pki.TPPA, "Bearer "+tb.scopedAccess(tb.pki.TPPA, "cbpii")).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			expectInsufficientScope(t, tb.funds(tb.pki.TPPA, "Bearer "+tb.scopedAccess(tb.pki.TPPA, "aisp"), coverageBody))
		},
	}
}
