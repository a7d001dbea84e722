package aspsp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

const (
	registeredCallback = "https://tpp-a.example/registered"
	otherCallback      = "https://tpp-a.example/other"
)

// sealFor is the QSealC of the TPP whose QWAC kp is (the register API always wants one).
func (tb *testBank) sealFor(kp *eidas.KeyPair) *eidas.KeyPair {
	switch kp {
	case tb.pki.TPPA:
		return tb.pki.TPPASeal
	case tb.pki.TPPB:
		return tb.pki.TPPBSeal
	case tb.pki.TPPNoRole:
		return tb.pki.TPPNoRoleSeal
	case tb.pki.TPPNoIC:
		return tb.pki.TPPNoICSeal
	}
	return nil
}

func metadata(uris ...string) string {
	return `{"redirect_uris":["` + strings.Join(uris, `","`) + `"],"token_endpoint_auth_method":"tls_client_auth","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"aisp cbpii","client_name":"Test TPP A"}`
}

// register creates a client as the TPP kp, signed with its seal; it must succeed.
func (tb *testBank) register(kp *eidas.KeyPair, uris ...string) (id, token, uri string) {
	tb.t.Helper()
	a := tb.sealedPost(kp, tb.URL()+PathRegister, "", metadata(uris...), tb.sealFor(kp))
	if a.status != http.StatusCreated {
		tb.t.Fatalf("register: expected 201, found %d: %s", a.status, a.body)
	}
	return a.field("client_id"), a.field("registration_access_token"), a.field("registration_client_uri")
}

// manage sends a signed request to a client's configuration endpoint over kp (nil: no
// certificate, then unsigned).
func (tb *testBank) manage(kp *eidas.KeyPair, method, uri, token, body string) answer {
	tb.t.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return tb.sealedRequest(kp, method, uri, auth, body, tb.sealFor(kp))
}

// registeredQuery is an authorization request of a registered client.
func registeredQuery(id, redirect string) url.Values {
	q := authzQuery(eidas.OrgTPPA)
	q.Set("client_id", id)
	q.Set("redirect_uri", redirect)
	return q
}

// firstHop is the answer of GET /authorize (200: the login page; 400: the error page).
func (tb *testBank) firstHop(q url.Values) answer {
	tb.t.Helper()
	return tb.get(nil, tb.URL()+PathAuthorize+"?"+q.Encode(), nil)
}

// registeredCode runs an approving journey of a registered client and returns its code.
func (tb *testBank) registeredCode(id, redirect string) string {
	tb.t.Helper()
	c := tb.callback(registeredQuery(id, redirect), "accept").Get("code")
	if c == "" {
		tb.t.Fatal("callback without a code")
	}
	return c
}

func registeredExchange(id, redirect, code string) url.Values {
	f := exchangeForm(eidas.OrgTPPA, code)
	f.Set("client_id", id)
	f.Set("redirect_uri", redirect)
	return f
}

func TestRegisterNotServedUnlessEnabled(t *testing.T) {
	tb := startBank(t, Config{})
	if a := tb.sealedPost(tb.pki.TPPA, tb.URL()+PathRegister, "", metadata(registeredCallback), tb.pki.TPPASeal); a.status != http.StatusNotFound {
		t.Errorf("expected 404 from a bank without the register API, found %d: %s", a.status, a.body)
	}
	// A register fault implies the API it breaks.
	tb = startBank(t, Config{Faults: []string{FaultRegisterTokenNotChecked}})
	if a := tb.sealedPost(tb.pki.TPPA, tb.URL()+PathRegister, "", metadata(registeredCallback), tb.pki.TPPASeal); a.status != http.StatusCreated {
		t.Errorf("expected 201 from a bank with a register fault, found %d: %s", a.status, a.body)
	}
}

func TestRegisterCreateReadUpdateDelete(t *testing.T) {
	tb := startBank(t, Config{Register: RegisterConfig{Enabled: true}})
	id, token, uri := tb.register(tb.pki.TPPA, registeredCallback)
	if !strings.HasPrefix(id, eidas.OrgTPPA+"-") || token == "" || uri != tb.URL()+PathRegister+"/"+id {
		t.Fatalf("expected a client_id under %s, a registration token and the client URI; found %q %q %q", eidas.OrgTPPA, id, token, uri)
	}
	g := tb.manage(tb.pki.TPPA, http.MethodGet, uri, token, "")
	if g.status != http.StatusOK || g.field("client_id") != id || !strings.Contains(g.body, registeredCallback) || g.field("token_endpoint_auth_method") != "tls_client_auth" {
		t.Fatalf("GET: expected 200 with the metadata, found %d: %s", g.status, g.body)
	}
	if g.field("registration_access_token") != "" {
		t.Errorf("GET repeats the registration access token: %s", g.body)
	}

	// REG-02: the client_id works at /authorize and /token over its registrant's QWAC.
	if a := tb.firstHop(registeredQuery(id, registeredCallback)); a.status != http.StatusOK {
		t.Fatalf("authorize with the registered client: expected the login page, found %d: %s", a.status, a.body)
	}
	code := tb.registeredCode(id, registeredCallback)
	tok := tb.token(tb.pki.TPPA, registeredExchange(id, registeredCallback, code))
	if tok.status != http.StatusOK {
		t.Fatalf("exchange with the registered client: expected 200, found %d: %s", tok.status, tok.body)
	}
	if a := tb.accounts(tb.pki.TPPA, "Bearer "+tok.field("access_token")); a.status != http.StatusOK {
		t.Errorf("accounts with the registered client's token: expected 200, found %d", a.status)
	}
	r := refreshForm(id, tok.field("refresh_token"))
	if a := tb.token(tb.pki.TPPA, r); a.status != http.StatusOK {
		t.Errorf("refresh with the registered client: expected 200, found %d: %s", a.status, a.body)
	}
	// ... and stays bound to the organizationIdentifier: TPP B's QWAC cannot use it.
	code = tb.registeredCode(id, registeredCallback)
	expectTokenError(t, tb.token(tb.pki.TPPB, registeredExchange(id, registeredCallback, code)), 401, "invalid_client")

	// REG-01: only the registered redirect URIs.
	if a := tb.firstHop(registeredQuery(id, otherCallback)); a.status != http.StatusBadRequest || a.location() != nil {
		t.Errorf("unregistered redirect_uri: expected the 400 error page, found %d %q", a.status, a.header.Get("Location"))
	}

	// PUT replaces the redirect URIs.
	p := tb.manage(tb.pki.TPPA, http.MethodPut, uri, token, metadata(otherCallback))
	if p.status != http.StatusOK || !strings.Contains(p.body, otherCallback) {
		t.Fatalf("PUT: expected 200 with the new metadata, found %d: %s", p.status, p.body)
	}
	if a := tb.firstHop(registeredQuery(id, otherCallback)); a.status != http.StatusOK {
		t.Errorf("updated redirect_uri: expected the login page, found %d", a.status)
	}
	if a := tb.firstHop(registeredQuery(id, registeredCallback)); a.status != http.StatusBadRequest {
		t.Errorf("replaced redirect_uri: expected 400, found %d", a.status)
	}
	if a := tb.manage(tb.pki.TPPA, http.MethodPut, uri, token, `{"client_id":"other","redirect_uris":["`+otherCallback+`"]}`); a.status != http.StatusBadRequest {
		t.Errorf("PUT with another client_id: expected 400, found %d", a.status)
	}

	// DELETE ends the client at once.
	if d := tb.manage(tb.pki.TPPA, http.MethodDelete, uri, token, ""); d.status != http.StatusNoContent {
		t.Fatalf("DELETE: expected 204, found %d: %s", d.status, d.body)
	}
	if a := tb.firstHop(registeredQuery(id, otherCallback)); a.status != http.StatusBadRequest {
		t.Errorf("deleted client at /authorize: expected 400, found %d", a.status)
	}
	if g := tb.manage(tb.pki.TPPA, http.MethodGet, uri, token, ""); g.status != http.StatusUnauthorized {
		t.Errorf("GET after DELETE: expected 401, found %d", g.status)
	}
}

// REG-03: no QWAC, no signature, no or a wrong registration token, another TPP: refused.
func TestRegisterRefusals(t *testing.T) {
	tb := startBank(t, Config{Register: RegisterConfig{Enabled: true}})
	base := tb.URL() + PathRegister
	if a := tb.sealedPost(nil, base, "", metadata(registeredCallback), tb.pki.TPPASeal); a.status != http.StatusUnauthorized || a.field("error") != "invalid_client" {
		t.Errorf("POST without a QWAC: expected 401 invalid_client, found %d: %s", a.status, a.body)
	}
	if a := tb.sealedPost(tb.pki.TPPA, base, "", metadata(registeredCallback), nil); a.status != http.StatusUnauthorized {
		t.Errorf("unsigned POST: expected 401, found %d: %s", a.status, a.body)
	}
	if a := tb.sealedPost(tb.pki.TPPA, base, "", metadata(registeredCallback), tb.pki.TPPBSeal); a.status != http.StatusUnauthorized {
		t.Errorf("POST sealed by another TPP: expected 401, found %d: %s", a.status, a.body)
	}
	if a := tb.sealedPost(tb.pki.TPPA, base, "", metadata("http://tpp-a.example/cb"), tb.pki.TPPASeal); a.status != http.StatusBadRequest || a.field("error") != "invalid_redirect_uri" {
		t.Errorf("http redirect URI: expected 400 invalid_redirect_uri, found %d: %s", a.status, a.body)
	}
	if a := tb.sealedPost(tb.pki.TPPA, base, "", `{"redirect_uris":["`+registeredCallback+`"],"token_endpoint_auth_method":"client_secret_basic"}`, tb.pki.TPPASeal); a.status != http.StatusBadRequest || a.field("error") != "invalid_client_metadata" {
		t.Errorf("client_secret_basic: expected 400 invalid_client_metadata, found %d: %s", a.status, a.body)
	}
	_, token, uri := tb.register(tb.pki.TPPA, registeredCallback)
	for name, a := range map[string]answer{
		"without a QWAC":       tb.manage(nil, http.MethodGet, uri, token, ""),
		"without the token":    tb.manage(tb.pki.TPPA, http.MethodGet, uri, "", ""),
		"with a wrong token":   tb.manage(tb.pki.TPPA, http.MethodGet, uri, token+"x", ""),
		"unknown client":       tb.manage(tb.pki.TPPA, http.MethodGet, tb.URL()+PathRegister+"/PSDFR-ACPR-12345-NOSUCH", token, ""),
		"DELETE without it":    tb.manage(tb.pki.TPPA, http.MethodDelete, uri, "", ""),
		"PUT with wrong token": tb.manage(tb.pki.TPPA, http.MethodPut, uri, "nope", metadata(otherCallback)),
	} {
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s: expected 401, found %d: %s", name, a.status, a.body)
		}
	}
	if a := tb.manage(tb.pki.TPPB, http.MethodGet, uri, token, ""); a.status != http.StatusForbidden {
		t.Errorf("another TPP's QWAC with the token: expected 403, found %d: %s", a.status, a.body)
	}
	// The client survived every refused request.
	if g := tb.manage(tb.pki.TPPA, http.MethodGet, uri, token, ""); g.status != http.StatusOK || !strings.Contains(g.body, registeredCallback) {
		t.Errorf("after the refusals: expected the client unchanged, found %d: %s", g.status, g.body)
	}
}

// A bank that applies registrations later (BPCE: the next working day).
func TestRegisterTakesEffectLater(t *testing.T) {
	tb := startBank(t, Config{Register: RegisterConfig{Enabled: true, EffectiveAfter: 24 * time.Hour}})
	id, token, uri := tb.register(tb.pki.TPPA, registeredCallback)
	if a := tb.firstHop(registeredQuery(id, registeredCallback)); a.status != http.StatusBadRequest {
		t.Errorf("before it takes effect: expected 400, found %d", a.status)
	}
	if g := tb.manage(tb.pki.TPPA, http.MethodGet, uri, token, ""); g.status != http.StatusOK {
		t.Errorf("GET before it takes effect: expected 200, found %d", g.status)
	}
	tb.clock.Advance(24*time.Hour + time.Second)
	if a := tb.firstHop(registeredQuery(id, registeredCallback)); a.status != http.StatusOK {
		t.Fatalf("once in effect: expected the login page, found %d: %s", a.status, a.body)
	}
	if p := tb.manage(tb.pki.TPPA, http.MethodPut, uri, token, metadata(otherCallback)); p.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", p.status, p.body)
	}
	// The update waits too: the old URI is honoured until then.
	if a := tb.firstHop(registeredQuery(id, registeredCallback)); a.status != http.StatusOK {
		t.Errorf("old URI before the update takes effect: expected 200, found %d", a.status)
	}
	if a := tb.firstHop(registeredQuery(id, otherCallback)); a.status != http.StatusBadRequest {
		t.Errorf("new URI before the update takes effect: expected 400, found %d", a.status)
	}
	tb.clock.Advance(24*time.Hour + time.Second)
	if a := tb.firstHop(registeredQuery(id, otherCallback)); a.status != http.StatusOK {
		t.Errorf("new URI once in effect: expected 200, found %d", a.status)
	}
}

// The register faults' cases, with the catalogue's other cases in faults_test.go.
func init() {
	enabled := func(c *Config) { c.Register.Enabled = true }
	faultCases[FaultRegisteredRedirectIgnored] = faultCase{config: enabled,
		probe: func(tb *testBank) bool {
			id, _, _ := tb.register(tb.pki.TPPA, registeredCallback)
			return tb.firstHop(registeredQuery(id, otherCallback)).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			// The default clients keep their registered URIs.
			q := authzQuery(eidas.OrgTPPA)
			q.Set("redirect_uri", otherCallback)
			if a := tb.firstHop(q); a.status != http.StatusBadRequest {
				t.Errorf("a default client's unregistered URI: expected 400, found %d", a.status)
			}
		},
	}
	faultCases[FaultRegisteredClientUnbound] = faultCase{config: enabled,
		probe: func(tb *testBank) bool {
			id, _, _ := tb.register(tb.pki.TPPA, registeredCallback)
			code := tb.registeredCode(id, registeredCallback)
			return tb.token(tb.pki.TPPB, registeredExchange(id, registeredCallback, code)).status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			// Direct matching still holds for the default clients.
			expectTokenError(t, tb.token(tb.pki.TPPB, exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))), 401, "invalid_client")
		},
	}
	faultCases[FaultRegisteredUnknownAtAuthorize] = faultCase{config: enabled,
		probe: func(tb *testBank) bool {
			id, _, _ := tb.register(tb.pki.TPPA, registeredCallback)
			return tb.firstHop(registeredQuery(id, registeredCallback)).status != http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			// The token endpoint still knows the registered client.
			id, _, _ := tb.register(tb.pki.TPPA, registeredCallback)
			if a := tb.token(tb.pki.TPPA, registeredExchange(id, registeredCallback, "unknown-code")); a.field("error") != "invalid_grant" {
				t.Errorf("the registered client at /token: expected invalid_grant for an unknown code, found %d: %s", a.status, a.body)
			}
		},
	}
	faultCases[FaultRegisterUpdateIgnored] = faultCase{config: enabled,
		probe: func(tb *testBank) bool {
			id, token, uri := tb.register(tb.pki.TPPA, registeredCallback)
			tb.manage(tb.pki.TPPA, http.MethodPut, uri, token, `{"client_id":"`+id+`","redirect_uris":["`+otherCallback+`"]}`)
			return !strings.Contains(tb.manage(tb.pki.TPPA, http.MethodGet, uri, token, "").body, otherCallback)
		},
	}
	faultCases[FaultRegisterDeleteIgnored] = faultCase{config: enabled,
		probe: func(tb *testBank) bool {
			_, token, uri := tb.register(tb.pki.TPPA, registeredCallback)
			tb.manage(tb.pki.TPPA, http.MethodDelete, uri, token, "")
			return tb.manage(tb.pki.TPPA, http.MethodGet, uri, token, "").status == http.StatusOK
		},
	}
	faultCases[FaultRegisterWithoutQWAC] = faultCase{config: enabled,
		probe: func(tb *testBank) bool {
			_, token, uri := tb.register(tb.pki.TPPA, registeredCallback)
			return tb.manage(nil, http.MethodGet, uri, token, "").status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			_, _, uri := tb.register(tb.pki.TPPA, registeredCallback)
			if a := tb.manage(tb.pki.TPPA, http.MethodGet, uri, "", ""); a.status != http.StatusUnauthorized {
				t.Errorf("without the token: expected 401, found %d", a.status)
			}
		},
	}
	faultCases[FaultRegisterTokenNotChecked] = faultCase{config: enabled,
		probe: func(tb *testBank) bool {
			_, _, uri := tb.register(tb.pki.TPPA, registeredCallback)
			return tb.manage(tb.pki.TPPA, http.MethodGet, uri, "", "").status == http.StatusOK
		},
		also: func(t *testing.T, tb *testBank) {
			_, token, uri := tb.register(tb.pki.TPPA, registeredCallback)
			if a := tb.manage(nil, http.MethodGet, uri, token, ""); a.status != http.StatusUnauthorized {
				t.Errorf("without a QWAC: expected 401, found %d", a.status)
			}
		},
	}
}

// The printed profile declares both roles, the CBPII resource and the client without
// PSP_IC, and the register API where it is served; it loads with its files.
func TestProfileYAMLDeclaresCBPIIAndRegister(t *testing.T) {
	for _, reg := range []RegisterConfig{{}, {Enabled: true}, {Enabled: true, EffectiveAfter: time.Hour}} {
		tb := startBank(t, Config{Register: reg})
		dir := t.TempDir()
		if err := tb.pki.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(tb.ProfileYAML(dir), "bank.yaml", dir)
		if err != nil {
			t.Fatalf("register %+v: the printed profile does not load:\n%v", reg, err)
		}
		if !p.HasRole(profile.RoleCBPII) || !p.HasRole(profile.RoleAISP) || p.Endpoints.FundsConfirmations != tb.URL()+PathFundsConfirmations || p.Scopes.CBPII != ScopeCBPII {
			t.Errorf("roles %v, funds_confirmations %q, scopes %+v", p.Roles, p.Endpoints.FundsConfirmations, p.Scopes)
		}
		if c := p.Clients.WithoutCBPIIRole; c == nil || c.ClientID != eidas.OrgTPPNoIC || c.Leaf == nil || eidas.HasRole(c.Leaf, eidas.RolePSPIC) {
			t.Errorf("without_cbpii_role: %+v", c)
		}
		switch {
		case !reg.Enabled && p.RegisterDeclared():
			t.Errorf("a bank without the register API declares one: %+v", p.Register)
		case reg.Enabled && (p.Register == nil || p.Register.URL != tb.URL()+PathRegister || p.Clients.Primary.QSealC == nil):
			t.Errorf("register %+v: declared %+v", reg, p.Register)
		case reg.Enabled && (p.Register.Effective == profile.EffectiveLater) != (reg.EffectiveAfter > 0):
			t.Errorf("register %+v: effective %q", reg, p.Register.Effective)
		}
	}
}

// A register API behind an initial access token (RFC 7591 section 3, BPCE style): a
// registration needs a client credentials token for the bootstrap scope, issued to the same
// TPP; the token endpoint issues no client credentials token for any other scope.
func TestRegisterBootstrapToken(t *testing.T) {
	tb := startBank(t, Config{Register: RegisterConfig{Enabled: true, BootstrapScope: "tpp_registration"}})
	bootstrap := func(kp *eidas.KeyPair, scope string) answer {
		return tb.token(kp, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "client_id": {eidas.OrganizationIdentifier(kp.Cert)}})
	}
	if a := tb.sealedPost(tb.pki.TPPA, tb.URL()+PathRegister, "", metadata(registeredCallback), tb.sealFor(tb.pki.TPPA)); a.status != http.StatusUnauthorized {
		t.Fatalf("a registration without an initial access token: expected 401, found %d: %s", a.status, a.body)
	}
	if a := bootstrap(tb.pki.TPPA, "aisp"); a.field("error") != "invalid_scope" {
		t.Fatalf("client credentials for aisp: expected invalid_scope, found %d: %s", a.status, a.body)
	}
	a := bootstrap(tb.pki.TPPA, "tpp_registration")
	tok := a.field("access_token")
	if a.status != http.StatusOK || tok == "" {
		t.Fatalf("client credentials for the bootstrap scope: expected 200 with a token, found %d: %s", a.status, a.body)
	}
	if a := tb.sealedPost(tb.pki.TPPB, tb.URL()+PathRegister, "Bearer "+tok, metadata(registeredCallback), tb.sealFor(tb.pki.TPPB)); a.status != http.StatusUnauthorized {
		t.Fatalf("another TPP's initial access token: expected 401, found %d: %s", a.status, a.body)
	}
	if a := tb.sealedPost(tb.pki.TPPA, tb.URL()+PathRegister, "Bearer "+tok, metadata(registeredCallback), tb.sealFor(tb.pki.TPPA)); a.status != http.StatusCreated {
		t.Fatalf("a registration with its initial access token: expected 201, found %d: %s", a.status, a.body)
	}
	if !strings.Contains(string(tb.ProfileYAML(t.TempDir())), "scope: tpp_registration") {
		t.Error("the profile must declare register.scope")
	}
}
