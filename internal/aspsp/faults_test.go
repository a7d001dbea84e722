package aspsp

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
)

// faultCase shows one fault: probe reports whether a bank shows the faulty behaviour; it
// must on the faulty bank and must not on the correct one. also checks, on the faulty bank,
// a neighbouring behaviour the fault must leave alone.
type faultCase struct {
	probe func(tb *testBank) bool
	also  func(t *testing.T, tb *testBank)
	// breaksCodeExchange is set for the faults whose very point is to break the ordinary
	// flow (a plain exchange, the PSU's journey, the accounts call or the refresh).
	breaksCodeExchange bool
	// config sets what a fault needs of the bank, on the faulty and the correct one alike
	// (a signature fault needs a bank that requires signatures).
	config func(*Config)
}

func accessToken(tb *testBank, kp *eidas.KeyPair) string { return tb.tokens(kp).field("access_token") }

func refreshToken(tb *testBank, kp *eidas.KeyPair) string {
	return tb.tokens(kp).field("refresh_token")
}

var faultCases = map[string]faultCase{
	FaultStateNotEchoed: {probe: func(tb *testBank) bool {
		approve := tb.callback(authzQuery(eidas.OrgTPPA), "accept")
		refuse := tb.callback(authzQuery(eidas.OrgTPPA), "refuse")
		return !approve.Has("state") && !refuse.Has("state")
	}},
	FaultStateAltered: {probe: func(tb *testBank) bool {
		approve := tb.callback(authzQuery(eidas.OrgTPPA), "accept")
		refuse := tb.callback(authzQuery(eidas.OrgTPPA), "refuse")
		return approve.Has("state") && approve.Get("state") != testState && refuse.Get("state") != testState
	}},
	FaultRefusalWithoutError: {
		probe: func(tb *testBank) bool {
			cb := tb.callback(authzQuery(eidas.OrgTPPA), "refuse")
			return !cb.Has("error") && !cb.Has("code") && cb.Get("state") == testState
		},
	},
	FaultRefusalWithCode: {probe: func(tb *testBank) bool {
		cb := tb.callback(authzQuery(eidas.OrgTPPA), "refuse")
		return cb.Get("error") == "access_denied" && cb.Get("code") != "" && cb.Get("state") == testState
	}},
	FaultRedirectUnregisteredURI: {
		probe: func(tb *testBank) bool {
			q := authzQuery(eidas.OrgTPPA)
			q.Set("redirect_uri", "https://attacker.example/callback")
			u := tb.journey(q, "accept").location()
			return u != nil && strings.HasPrefix(u.String(), "https://attacker.example/callback?")
		},
		also: func(t *testing.T, tb *testBank) {
			q := authzQuery(eidas.OrgTPPA)
			q.Set("client_id", "PSDFR-ACPR-00000")
			if a := tb.get(nil, tb.URL()+PathAuthorize+"?"+q.Encode(), nil); a.status != http.StatusBadRequest {
				t.Errorf("unknown client: expected 400, found %d", a.status)
			}
		},
	},
	FaultUnknownClientAccepted: {
		probe: func(tb *testBank) bool {
			q := authzQuery(eidas.OrgTPPA)
			q.Set("client_id", "PSDFR-ACPR-00000")
			u := tb.journey(q, "accept").location()
			return u != nil && strings.HasPrefix(u.String(), redirectOf(eidas.OrgTPPA)+"?") && u.Query().Has("code")
		},
		also: func(t *testing.T, tb *testBank) {
			q := authzQuery(eidas.OrgTPPA)
			q.Set("redirect_uri", "https://attacker.example/callback")
			if a := tb.get(nil, tb.URL()+PathAuthorize+"?"+q.Encode(), nil); a.status != http.StatusBadRequest {
				t.Errorf("unregistered redirect_uri of a known client: expected 400, found %d", a.status)
			}
		},
	},
	FaultResponseTypeToken: {probe: func(tb *testBank) bool {
		q := authzQuery(eidas.OrgTPPA)
		q.Set("response_type", "token")
		u := tb.journey(q, "accept").location()
		return u != nil && strings.Contains(u.Fragment, "access_token=")
	}},

	FaultScopeRequired: {
		breaksCodeExchange: true,
		probe: func(tb *testBank) bool {
			a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA)))
			return a.status == http.StatusBadRequest && a.field("error") == "invalid_request"
		},
		also: func(t *testing.T, tb *testBank) {
			f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
			f.Set("scope", "aisp")
			if a := tb.token(tb.pki.TPPA, f); a.status != http.StatusOK {
				t.Errorf("exchange with a scope: expected 200, found %d: %s", a.status, a.body)
			}
		},
	},
	FaultCodeReusable: {probe: func(tb *testBank) bool {
		f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
		first, second := tb.token(tb.pki.TPPA, f), tb.token(tb.pki.TPPA, f)
		return first.status == http.StatusOK && second.status == http.StatusOK
	}},
	FaultCodeAnyRedirectURI: {probe: func(tb *testBank) bool {
		f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
		f.Set("redirect_uri", "https://tpp-a.example/elsewhere")
		return tb.token(tb.pki.TPPA, f).status == http.StatusOK
	}},
	FaultCodeAnyClient: {probe: func(tb *testBank) bool {
		f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
		f.Set("client_id", eidas.OrgTPPB)
		return tb.token(tb.pki.TPPB, f).status == http.StatusOK
	}},
	FaultTokenTypeMAC: {probe: func(tb *testBank) bool {
		return tb.tokens(tb.pki.TPPA).json()["token_type"] == "MAC"
	}},
	FaultNoCacheControl: {probe: func(tb *testBank) bool {
		a := tb.tokens(tb.pki.TPPA)
		return a.header.Get("Cache-Control") == "" && a.header.Get("Pragma") == ""
	}},
	FaultNoRefreshToken: {probe: func(tb *testBank) bool {
		a := tb.tokens(tb.pki.TPPA)
		_, has := a.json()["refresh_token"]
		return !has && a.field("access_token") != ""
	}},
	FaultExpiresInMissing: {probe: func(tb *testBank) bool {
		_, has := tb.tokens(tb.pki.TPPA).json()["expires_in"]
		return !has
	}},
	FaultExpiresInZero: {probe: func(tb *testBank) bool {
		v, has := tb.tokens(tb.pki.TPPA).json()["expires_in"]
		return has && v == 0.0
	}},
	FaultErrorsAs200: {probe: func(tb *testBank) bool {
		a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown"))
		return a.status == http.StatusOK && a.field("error") == "invalid_grant"
	}},
	FaultNonRFCError: {probe: func(tb *testBank) bool {
		a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown"))
		return a.status == http.StatusBadRequest && a.field("error") == "bad_request"
	}},

	FaultNoClientCertAccepted: {
		probe: func(tb *testBank) bool {
			return tb.token(nil, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			expectTokenError(t, tb.token(tb.pki.TPPAUntrusted, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))), 401, "invalid_client")
		},
	},
	FaultClientIDUncheckedAtExchange: {
		probe: func(tb *testBank) bool {
			return tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPB, tb.code(eidas.OrgTPPB))).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			rt := refreshToken(tb, tb.pki.TPPB)
			expectTokenError(t, tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPB, rt)), 401, "invalid_client")
		},
	},
	FaultClientIDUncheckedAtRefresh: {
		probe: func(tb *testBank) bool {
			rt := refreshToken(tb, tb.pki.TPPB)
			return tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPB, rt)).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			expectTokenError(t, tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPB, tb.code(eidas.OrgTPPB))), 401, "invalid_client")
		},
	},
	FaultRoleNotChecked: {probe: func(tb *testBank) bool {
		code := tb.code(eidas.OrgTPPNoRole)
		return tb.token(tb.pki.TPPNoRole, exchangeForm(eidas.OrgTPPNoRole, code)).status == http.StatusOK
	}},
	FaultExpiredCertAccepted: {
		probe: func(tb *testBank) bool {
			return tb.token(tb.pki.TPPAExpired, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			expectTokenError(t, tb.token(tb.pki.TPPAUntrusted, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))), 401, "invalid_client")
		},
	},

	FaultRefreshWiderScopeInvalidGrant: {
		probe: func(tb *testBank) bool {
			rt := refreshToken(tb, tb.pki.TPPA)
			f := refreshForm(eidas.OrgTPPA, rt)
			f.Set("scope", "aisp pisp")
			wider := tb.token(tb.pki.TPPA, f)
			plain := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt))
			return wider.status == http.StatusBadRequest && wider.field("error") == "invalid_grant" && plain.status == http.StatusOK
		},
	},
	FaultRefreshWidensScope: {
		probe: func(tb *testBank) bool {
			f := refreshForm(eidas.OrgTPPA, refreshToken(tb, tb.pki.TPPA))
			f.Set("scope", "aisp pisp")
			a := tb.token(tb.pki.TPPA, f)
			return a.status == http.StatusOK && strings.Contains(a.field("scope"), "pisp")
		},
		also: func(t *testing.T, tb *testBank) {
			// A refresh that narrows, or repeats, the grant still works.
			f := refreshForm(eidas.OrgTPPA, refreshToken(tb, tb.pki.TPPA))
			f.Set("scope", "aisp")
			if a := tb.token(tb.pki.TPPA, f); a.status != http.StatusOK {
				t.Errorf("refresh with the granted scope: expected 200, found %d: %s", a.status, a.body)
			}
		},
	},
	FaultErrorsNotSTET: {probe: func(tb *testBank) bool {
		a := tb.accounts(tb.pki.TPPA, "Bearer unknown-token")
		return a.status == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("Content-Type"), "application/json")
	}},
	FaultCallbackPathAltered: {probe: func(tb *testBank) bool {
		u := tb.journey(authzQuery(eidas.OrgTPPA), "accept").location()
		return u != nil && u.Path == "/callback/approved" && u.Query().Has("code")
	}},
	FaultAuthorizeNeedsClientCert: {probe: func(tb *testBank) bool {
		return tb.get(nil, tb.URL()+PathAuthorize+"?"+authzQuery(eidas.OrgTPPA).Encode(), nil).status == http.StatusForbidden
	}, breaksCodeExchange: true},
	FaultPKCEChallengeRejected: {
		probe: func(tb *testBank) bool {
			q := authzQuery(eidas.OrgTPPA)
			q.Set("code_challenge", pkceChallenge("the-verifier-the-verifier-the-verifier-0123"))
			q.Set("code_challenge_method", "S256")
			u := tb.get(nil, tb.URL()+PathAuthorize+"?"+q.Encode(), nil).location()
			return u != nil && u.Query().Get("error") == "invalid_request"
		},
	},
	FaultAccountsForbidden: {probe: func(tb *testBank) bool {
		return tb.accounts(tb.pki.TPPA, "Bearer "+accessToken(tb, tb.pki.TPPA)).status == http.StatusForbidden
	}, breaksCodeExchange: true}, // the ordinary flow ends on the accounts
	FaultScopeAtTokenRejected: {probe: func(tb *testBank) bool {
		f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
		f.Set("scope", "aisp")
		return tb.token(tb.pki.TPPA, f).status == http.StatusBadRequest
	}},
	FaultRevokeIgnored: {probe: func(tb *testBank) bool {
		rt := refreshToken(tb, tb.pki.TPPA)
		tb.revoke(tb.pki.TPPA, eidas.OrgTPPA, rt)
		return tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)).status == http.StatusOK
	}},
	FaultRevokeAnyClient: {probe: func(tb *testBank) bool {
		rt := refreshToken(tb, tb.pki.TPPA)
		tb.revoke(tb.pki.TPPB, eidas.OrgTPPB, rt)
		return tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)).status != http.StatusOK
	}},
	FaultPKCEIgnored: {
		probe: func(tb *testBank) bool {
			q := authzQuery(eidas.OrgTPPA)
			q.Set("code_challenge", pkceChallenge("the-verifier-the-verifier-the-verifier-0123"))
			q.Set("code_challenge_method", "S256")
			f := exchangeForm(eidas.OrgTPPA, tb.callback(q, "accept").Get("code"))
			f.Set("code_verifier", "a-wrong-verifier-a-wrong-verifier-a-wrong-0123")
			return tb.token(tb.pki.TPPA, f).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			// Without a challenge, the ordinary exchange still works.
			if a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))); a.status != http.StatusOK {
				t.Errorf("exchange without PKCE: expected 200, found %d", a.status)
			}
		},
	},
	FaultCodeNeverExpires: {probe: func(tb *testBank) bool {
		code := tb.code(eidas.OrgTPPA)
		tb.clock.Advance(2 * DefaultCodeLifetime)
		return tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, code)).status == http.StatusOK
	}},
	FaultUntrustedCertAccepted: {
		probe: func(tb *testBank) bool {
			return tb.token(tb.pki.TPPAUntrusted, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			// The organizationIdentifier is still compared with client_id.
			expectTokenError(t, tb.token(tb.pki.TPPAUntrusted, exchangeForm(eidas.OrgTPPB, tb.code(eidas.OrgTPPB))), 401, "invalid_client")
		},
	},
	FaultTLS11Accepted: {probe: func(tb *testBank) bool {
		return dialTLS(tb, tls.VersionTLS10, tls.VersionTLS11) == nil
	}},
	FaultTokenGetServed: {probe: func(tb *testBank) bool {
		form := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
		return tb.get(tb.pki.TPPA, tb.URL()+PathToken+"?"+form.Encode(), nil).status == http.StatusOK
	}},

	FaultExpiredTokenAccepted: {probe: func(tb *testBank) bool {
		at := accessToken(tb, tb.pki.TPPA)
		tb.clock.Advance(2 * DefaultAccessTokenLifetime)
		return tb.accounts(tb.pki.TPPA, "Bearer "+at).status == http.StatusOK
	}},
	FaultExpiredTokenNoInvalidToken: {
		probe: func(tb *testBank) bool {
			at := accessToken(tb, tb.pki.TPPA)
			tb.clock.Advance(2 * DefaultAccessTokenLifetime)
			a := tb.accounts(tb.pki.TPPA, "Bearer "+at)
			return a.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == `Bearer realm="stet"`
		},
		also: func(t *testing.T, tb *testBank) {
			a := tb.accounts(tb.pki.TPPA, "Bearer ory_at_unknown.unknown")
			if !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("unknown token: expected invalid_token, found %q", a.header.Get("WWW-Authenticate"))
			}
		},
	},
	FaultNoWWWAuthenticate: {probe: func(tb *testBank) bool {
		none := tb.accounts(tb.pki.TPPA, "")
		unknown := tb.accounts(tb.pki.TPPA, "Bearer ory_at_unknown.unknown")
		return none.status == http.StatusUnauthorized && none.header.Get("WWW-Authenticate") == "" &&
			unknown.status == http.StatusUnauthorized && unknown.header.Get("WWW-Authenticate") == ""
	}},
	FaultTokenNotBound: {probe: func(tb *testBank) bool {
		at := accessToken(tb, tb.pki.TPPA)
		return tb.accounts(tb.pki.TPPB, "Bearer "+at).status == http.StatusOK
	}},
	FaultSchemeCaseSensitive: {probe: func(tb *testBank) bool {
		at := accessToken(tb, tb.pki.TPPA)
		return tb.accounts(tb.pki.TPPA, "bearer "+at).status == http.StatusUnauthorized &&
			tb.accounts(tb.pki.TPPA, "Bearer "+at).status == http.StatusOK
	}},

	FaultRefreshRefusedAsClient: {
		breaksCodeExchange: true, // the refresh of the ordinary flow
		probe: func(tb *testBank) bool {
			a := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, refreshToken(tb, tb.pki.TPPA)))
			return a.status == http.StatusUnauthorized && a.field("error") == "invalid_client"
		},
	},
	FaultRefreshRefusesSecondTPP: {
		probe: func(tb *testBank) bool {
			own := tb.token(tb.pki.TPPB, refreshForm(eidas.OrgTPPB, refreshToken(tb, tb.pki.TPPB)))
			return own.status == http.StatusUnauthorized && own.field("error") == "invalid_client" &&
				tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, refreshToken(tb, tb.pki.TPPA))).status == http.StatusOK
		},
	},
	FaultForeignRefreshAccepted: {
		probe: func(tb *testBank) bool {
			rt := refreshToken(tb, tb.pki.TPPA)
			return tb.token(tb.pki.TPPB, refreshForm(eidas.OrgTPPB, rt)).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
			f.Set("client_id", eidas.OrgTPPB)
			expectTokenError(t, tb.token(tb.pki.TPPB, f), 400, "invalid_grant")
		},
	},
	FaultUnknownRefresh500: {
		probe: func(tb *testBank) bool {
			a := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, "ory_rt_unknown.unknown"))
			return a.status == http.StatusInternalServerError && strings.HasPrefix(a.header.Get("Content-Type"), "text/html")
		},
		also: func(t *testing.T, tb *testBank) {
			rt := refreshToken(tb, tb.pki.TPPA)
			if a := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)); a.status != http.StatusOK {
				t.Fatalf("refresh: %d %s", a.status, a.body)
			}
			expectTokenError(t, tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)), 400, "invalid_grant")
		},
	},
	FaultRefreshNotRotated: {probe: func(tb *testBank) bool {
		rt := refreshToken(tb, tb.pki.TPPA)
		first := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt))
		_, rotated := first.json()["refresh_token"]
		again := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt))
		return first.status == http.StatusOK && !rotated && again.status == http.StatusOK
	}},
	FaultAuthorizeUnavailable: {breaksCodeExchange: true, probe: func(tb *testBank) bool {
		a := tb.get(nil, tb.URL()+PathAuthorize+"?"+authzQuery(eidas.OrgTPPA).Encode(), nil)
		return a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") == "1"
	}},
	FaultAuthorizeRedirectsUnavailable: {breaksCodeExchange: true, probe: func(tb *testBank) bool {
		a := tb.get(nil, tb.URL()+PathAuthorize+"?"+authzQuery(eidas.OrgTPPA).Encode(), nil)
		return a.status == http.StatusSeeOther && a.location().Query().Get("error") == "temporarily_unavailable"
	}},
	FaultScopeRequiredValidCode: {
		breaksCodeExchange: true,
		probe: func(tb *testBank) bool {
			a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA)))
			return a.status == http.StatusBadRequest && a.field("error") == "invalid_request"
		},
		also: func(t *testing.T, tb *testBank) {
			// Every other check comes first, with its own error...
			expectTokenError(t, tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown")), 400, "invalid_grant")
			f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
			f.Set("redirect_uri", "https://tpp-a.example/elsewhere")
			expectTokenError(t, tb.token(tb.pki.TPPA, f), 400, "invalid_grant")
			code := tb.code(eidas.OrgTPPNoRole)
			expectTokenError(t, tb.token(tb.pki.TPPNoRole, exchangeForm(eidas.OrgTPPNoRole, code)), 400, "unauthorized_client")
			// ...and the refusal does not use the code up.
			f = exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
			expectTokenError(t, tb.token(tb.pki.TPPA, f), 400, "invalid_request")
			f.Set("scope", "aisp")
			if a := tb.token(tb.pki.TPPA, f); a.status != http.StatusOK {
				t.Errorf("exchange with a scope after the refusal: expected 200, found %d: %s", a.status, a.body)
			}
		},
	},
	FaultTokenErrorsTextPlain: {
		probe: func(tb *testBank) bool {
			a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown"))
			return a.status == http.StatusBadRequest && strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") &&
				a.field("error") == "invalid_grant"
		},
		also: func(t *testing.T, tb *testBank) {
			// Token responses keep their JSON media type.
			if ct := tb.tokens(tb.pki.TPPA).header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("token response Content-Type: expected application/json, found %q", ct)
			}
		},
	},
	FaultUnsupportedGrantError: {
		probe: func(tb *testBank) bool {
			f := exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown")
			f.Set("grant_type", "urn:stet:unknown")
			a := tb.token(tb.pki.TPPA, f)
			return a.status == http.StatusBadRequest && a.field("error") == "invalid_request"
		},
		also: func(t *testing.T, tb *testBank) {
			expectTokenError(t, tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown")), 400, "invalid_grant")
			f := exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown")
			f.Del("grant_type")
			expectTokenError(t, tb.token(tb.pki.TPPA, f), 400, "invalid_request")
		},
	},
	FaultRateLimited: {
		probe: func(tb *testBank) bool {
			limited := false
			for i := 0; i < 2*rateLimit+2; i++ { // at least rateLimit+1 fall in one window
				a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown"))
				if a.status == http.StatusTooManyRequests && a.header.Get("Retry-After") == "1" {
					limited = true
				}
			}
			return limited
		},
		also: func(t *testing.T, tb *testBank) {
			at := accessToken(tb, tb.pki.TPPA)
			statuses := map[int]int{}
			for i := 0; i < 2*rateLimit+2; i++ {
				statuses[tb.accounts(tb.pki.TPPA, "Bearer "+at).status]++
			}
			if statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusOK] == 0 {
				t.Errorf("accounts: expected some 200 and some 429, found %v", statuses)
			}
			// Another client has its own budget, and the next window a new one.
			if a := tb.token(tb.pki.TPPB, exchangeForm(eidas.OrgTPPB, "ory_ac_unknown.unknown")); a.status != http.StatusBadRequest {
				t.Errorf("second TPP: expected its own budget (400 invalid_grant), found %d", a.status)
			}
			tb.clock.Advance(rateWindow)
			if a := tb.accounts(tb.pki.TPPA, "Bearer "+at); a.status != http.StatusOK {
				t.Errorf("accounts in the next window: expected 200, found %d", a.status)
			}
		},
	},
	FaultRoleNotCheckedRedirect: {
		probe: func(tb *testBank) bool {
			q := authzQuery(eidas.OrgTPPNoRole)
			if tb.get(nil, tb.URL()+PathAuthorize+"?"+q.Encode(), nil).status != http.StatusBadRequest {
				return false // its profile's redirect_uri is registered
			}
			q.Set("redirect_uri", "https://tpp-norole.example/registered-elsewhere")
			f := exchangeForm(eidas.OrgTPPNoRole, tb.callback(q, "accept").Get("code"))
			f.Set("redirect_uri", q.Get("redirect_uri"))
			return tb.token(tb.pki.TPPNoRole, f).status == http.StatusOK
		},
	},
	FaultTLS11UnusableSuites: {probe: func(tb *testBank) bool {
		legacy := dialTLS(tb, tls.VersionTLS10, tls.VersionTLS11)
		modern := dialTLS(tb, tls.VersionTLS12, tls.VersionTLS12)
		return legacy != nil && strings.Contains(legacy.Error(), "handshake failure") && modern == nil
	}},
	FaultNoTokenNoChallenge: {
		probe: func(tb *testBank) bool {
			a := tb.accounts(tb.pki.TPPA, "")
			return a.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == ""
		},
		also: func(t *testing.T, tb *testBank) {
			a := tb.accounts(tb.pki.TPPA, "Bearer ory_at_unknown.unknown")
			if !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("unknown token: expected a challenge with invalid_token, found %q", a.header.Get("WWW-Authenticate"))
			}
		},
	},
	FaultTokenTamperedAccepted: {
		probe: func(tb *testBank) bool {
			at := accessToken(tb, tb.pki.TPPA)
			return tb.accounts(tb.pki.TPPA, "Bearer "+tamperMiddle(at)).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			at := accessToken(tb, tb.pki.TPPA)
			for name, tok := range map[string]string{"unknown": "ory_at_unknown.unknown", "signature tampered": tamperLast(at), "foreign format": "unknown-token"} {
				if a := tb.accounts(tb.pki.TPPA, "Bearer "+tok); a.status != http.StatusUnauthorized {
					t.Errorf("%s token: expected 401, found %d", name, a.status)
				}
			}
			// The binding and the expiry are still checked.
			if a := tb.accounts(tb.pki.TPPB, "Bearer "+tamperMiddle(at)); a.status != http.StatusUnauthorized {
				t.Errorf("tampered token over another certificate: expected 401, found %d", a.status)
			}
			tb.clock.Advance(2 * DefaultAccessTokenLifetime)
			if a := tb.accounts(tb.pki.TPPA, "Bearer "+tamperMiddle(at)); a.status != http.StatusUnauthorized {
				t.Errorf("tampered expired token: expected 401, found %d", a.status)
			}
		},
	},
	FaultTokenUnknownAccepted: {
		probe: func(tb *testBank) bool {
			return tb.accounts(tb.pki.TPPA, "Bearer unknown-token").status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			at := accessToken(tb, tb.pki.TPPA)
			for name, tok := range map[string]string{"unknown in the bank's format": "ory_at_unknown.unknown", "tampered": tamperMiddle(at)} {
				if a := tb.accounts(tb.pki.TPPA, "Bearer "+tok); a.status != http.StatusUnauthorized {
					t.Errorf("%s token: expected 401, found %d", name, a.status)
				}
			}
		},
	},
	FaultTokensSuperseded: {
		probe: func(tb *testBank) bool {
			first := accessToken(tb, tb.pki.TPPA)
			tb.clock.Advance(2 * DefaultAccessTokenLifetime) // long expired, yet still accepted
			stillOK := tb.accounts(tb.pki.TPPA, "Bearer "+first).status == http.StatusOK
			second := accessToken(tb, tb.pki.TPPA) // a new consent of the same PSU and TPP
			a := tb.accounts(tb.pki.TPPA, "Bearer "+first)
			return stillOK && a.status == http.StatusUnauthorized && strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) &&
				tb.accounts(tb.pki.TPPA, "Bearer "+second).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			tok := tb.tokens(tb.pki.TPPA)
			// Within the grace period, and for another TPP, nothing is superseded.
			young := accessToken(tb, tb.pki.TPPA)
			tb.clock.Advance(time.Second)
			accessToken(tb, tb.pki.TPPB)
			if a := tb.accounts(tb.pki.TPPA, "Bearer "+young); a.status != http.StatusOK {
				t.Errorf("token of the same TPP issued within the grace period, after another TPP's consent: expected 200, found %d", a.status)
			}
			accessToken(tb, tb.pki.TPPA)
			// The whole pair goes: the refresh token too.
			expectTokenError(t, tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, tok.field("refresh_token"))), 400, "invalid_grant")
		},
	},
	FaultUnknownRefreshWrongError: {
		probe: func(tb *testBank) bool {
			a := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, "ory_rt_unknown.unknown"))
			return a.status == http.StatusBadRequest && a.field("error") == "invalid_request"
		},
		also: func(t *testing.T, tb *testBank) {
			rt := refreshToken(tb, tb.pki.TPPA)
			if a := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)); a.status != http.StatusOK {
				t.Fatalf("refresh: %d %s", a.status, a.body)
			}
			// A used (known) refresh token keeps its invalid_grant.
			expectTokenError(t, tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)), 400, "invalid_grant")
		},
	},
	FaultAbandonNoCallback: {probe: func(tb *testBank) bool {
		u := tb.journey(authzQuery(eidas.OrgTPPA), "cancel").location()
		return u == nil
	}, also: func(t *testing.T, tb *testBank) {
		// A refusal still calls back.
		if cb := tb.callback(authzQuery(eidas.OrgTPPA), "refuse"); cb.Get("error") != "access_denied" {
			t.Errorf("refusal: expected error=access_denied on the callback, found %v", cb)
		}
	}},
	FaultRefreshLifetimeSliding: {
		// fosite dates each refresh token on the real clock: a short lifetime, real waits.
		config: func(c *Config) { c.RefreshTokenLifetime = 1500 * time.Millisecond },
		probe: func(tb *testBank) bool {
			rt := refreshToken(tb, tb.pki.TPPA)
			// Half-way, a refresh; after the consent's lifetime, the new refresh token.
			time.Sleep(750 * time.Millisecond)
			r := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt))
			time.Sleep(950 * time.Millisecond)
			return r.status == http.StatusOK && tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, r.field("refresh_token"))).status == http.StatusOK
		},
	},
	FaultRefreshLifetimeShort: {probe: func(tb *testBank) bool {
		// The bank's clock, which dates the consent and caps the lifetime, moves 80 % of
		// the way: within the declared lifetime, past 70 % of it. (No real wait: a loaded
		// machine made one flaky.)
		rt := refreshToken(tb, tb.pki.TPPA)
		tb.clock.Advance(DefaultRefreshTokenLifetime * 8 / 10)
		return tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)).status != http.StatusOK
	}},
	FaultSignatureNotChecked: {
		config: func(c *Config) { c.RequireSignature = true },
		probe: func(tb *testBank) bool {
			return tb.sealedAccounts(tb.pki.TPPA, "Bearer "+accessToken(tb, tb.pki.TPPA), nil).status == http.StatusOK
		},
	},
	FaultSealOfAnyTPPAccepted: {
		config: func(c *Config) { c.RequireSignature = true },
		probe: func(tb *testBank) bool {
			return tb.sealedAccounts(tb.pki.TPPA, "Bearer "+accessToken(tb, tb.pki.TPPA), tb.pki.TPPBSeal).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			if a := tb.sealedAccounts(tb.pki.TPPA, "Bearer "+accessToken(tb, tb.pki.TPPA), nil); a.status != http.StatusUnauthorized {
				t.Errorf("unsigned: expected 401, found %d", a.status)
			}
		},
	},
	FaultOldRefreshStillValid: {probe: func(tb *testBank) bool {
		rt := refreshToken(tb, tb.pki.TPPA)
		first := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt))
		again := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt))
		newRT := first.field("refresh_token")
		return first.status == http.StatusOK && newRT != "" && newRT != rt && again.status == http.StatusOK
	}},
}

// TestFaults shows, for every fault of the catalogue, that the faulty bank shows the
// faulty behaviour, that the correct bank does not, and that the faulty bank still serves
// the ordinary flow (code, token, accounts, refresh).
func TestFaults(t *testing.T) {
	for _, f := range Faults() {
		fc, ok := faultCases[f.Name]
		if !ok {
			t.Errorf("fault %q has no test case", f.Name)
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			cfg := func(faults ...string) Config {
				c := Config{Faults: faults}
				if fc.config != nil {
					fc.config(&c)
				}
				return c
			}
			faulty := startBank(t, cfg(f.Name))
			if got := faulty.ActiveFaults(); len(got) != 1 || got[0] != f.Name {
				t.Fatalf("ActiveFaults(): expected [%s], found %v", f.Name, got)
			}
			if !fc.probe(faulty) {
				t.Errorf("the bank with %s does not show the faulty behaviour", f.Name)
			}
			if correct := startBank(t, cfg()); fc.probe(correct) {
				t.Errorf("the correct bank shows the behaviour of %s", f.Name)
			}
			if fc.also != nil {
				fc.also(t, startBank(t, cfg(f.Name)))
			}
			if !fc.breaksCodeExchange {
				ordinaryFlow(t, startBank(t, cfg(f.Name)))
			}
		})
	}
	for name := range faultCases {
		if _, err := parseFaults([]string{name}); err != nil {
			t.Errorf("test case for a fault not in the catalogue: %v", err)
		}
	}
}

// ordinaryFlow checks the flow a fault must leave working: approve, exchange, call the
// accounts resource, refresh (when a refresh token came), call it again.
func ordinaryFlow(t *testing.T, tb *testBank) {
	t.Helper()
	tok := tb.tokens(tb.pki.TPPA)
	if a := tb.accounts(tb.pki.TPPA, "Bearer "+tok.field("access_token")); a.status != http.StatusOK {
		t.Fatalf("ordinary flow: accounts: expected 200, found %d: %s", a.status, a.body)
	}
	rt := tok.field("refresh_token")
	if rt == "" {
		return
	}
	r := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt))
	if r.status != http.StatusOK {
		t.Fatalf("ordinary flow: refresh: expected 200, found %d: %s", r.status, r.body)
	}
	if a := tb.accounts(tb.pki.TPPA, "Bearer "+r.field("access_token")); a.status != http.StatusOK {
		t.Fatalf("ordinary flow: accounts after refresh: expected 200, found %d: %s", a.status, a.body)
	}
}

// TestFaultsCombine checks that faults can be combined (the runner may start a bank with
// several).
func TestFaultsCombine(t *testing.T) {
	tb := startBank(t, Config{Faults: []string{FaultTokenTypeMAC, FaultExpiresInZero, FaultNoCacheControl}, AccessTokenLifetime: time.Minute})
	a := tb.tokens(tb.pki.TPPA)
	m := a.json()
	if m["token_type"] != "MAC" || m["expires_in"] != 0.0 || a.header.Get("Cache-Control") != "" {
		t.Fatalf("expected all three faults, found %v %s", a.header, a.body)
	}
}

// dialTLS makes a TLS handshake with the bank at versions min to max, offering every
// cipher suite Go has (the insecure ones too, as the suite's TLS 1.1 probe does).
func dialTLS(tb *testBank, min, max uint16) error {
	pool := x509.NewCertPool()
	pool.AddCert(tb.pki.CA.Cert)
	u, _ := url.Parse(tb.URL())
	conf := &tls.Config{RootCAs: pool, MinVersion: min, MaxVersion: max}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		conf.CipherSuites = append(conf.CipherSuites, cs.ID)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", u.Host, conf)
	if err != nil {
		return err
	}
	return conn.Close()
}

// tamperMiddle changes the character in the middle of a token, as the suite's BEARER-05
// check does: in the bank's tokens, that is in the part before the signature.
func tamperMiddle(tok string) string {
	i := len(tok) / 2
	if tok[i] == '.' {
		i++
	}
	return tok[:i] + otherChar(tok[i]) + tok[i+1:]
}

// tamperLast changes the first character of the signature part of a token.
func tamperLast(tok string) string {
	i := strings.LastIndex(tok, ".") + 1
	return tok[:i] + otherChar(tok[i]) + tok[i+1:]
}

func otherChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// pkceChallenge is the S256 challenge of a verifier (RFC 7636 section 4.2).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
