package aspsp

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

func TestHappyPath(t *testing.T) {
	tb := startBank(t, Config{})
	p := tb.pki

	cb := tb.callback(authzQuery(eidas.OrgTPPA), "accept")
	if got := cb.Get("state"); got != testState {
		t.Errorf("callback state: expected %q, found %q", testState, got)
	}
	code := cb.Get("code")
	tok := tb.token(p.TPPA, exchangeForm(eidas.OrgTPPA, code))
	if tok.status != http.StatusOK {
		t.Fatalf("exchange: expected 200, found %d: %s", tok.status, tok.body)
	}
	m := tok.json()
	if m["token_type"] != "Bearer" {
		t.Errorf("token_type: expected exactly Bearer, found %v", m["token_type"])
	}
	// The time left, rounded up: fosite rounds the expiry itself to the nearest second.
	if e, _ := m["expires_in"].(float64); e < 3600 || e > 3601 {
		t.Errorf("expires_in: expected 3600 or 3601, found %v", m["expires_in"])
	}
	if m["scope"] != "aisp" {
		t.Errorf("scope: expected aisp, found %v", m["scope"])
	}
	if cc, pr := tok.header.Get("Cache-Control"), tok.header.Get("Pragma"); cc != "no-store" || pr != "no-cache" {
		t.Errorf("cache headers: expected no-store/no-cache, found %q/%q", cc, pr)
	}
	at, rt := tok.field("access_token"), tok.field("refresh_token")
	if at == "" || rt == "" {
		t.Fatalf("expected an access and a refresh token: %s", tok.body)
	}

	acc := tb.accounts(p.TPPA, "Bearer "+at)
	if acc.status != http.StatusOK || !strings.Contains(acc.body, `"cashAccountType":"CACC"`) {
		t.Fatalf("accounts: expected 200 with accounts, found %d: %s", acc.status, acc.body)
	}

	ref := tb.token(p.TPPA, refreshForm(eidas.OrgTPPA, rt))
	if ref.status != http.StatusOK {
		t.Fatalf("refresh: expected 200, found %d: %s", ref.status, ref.body)
	}
	at2, rt2 := ref.field("access_token"), ref.field("refresh_token")
	if at2 == "" || at2 == at || rt2 == "" || rt2 == rt {
		t.Fatalf("refresh: expected a new access and refresh token: %s", ref.body)
	}
	if ref.json()["token_type"] != "Bearer" || ref.header.Get("Cache-Control") != "no-store" {
		t.Errorf("refresh response: expected Bearer and no-store: %v %s", ref.header, ref.body)
	}
	if a := tb.accounts(p.TPPA, "Bearer "+at2); a.status != http.StatusOK {
		t.Errorf("accounts with the refreshed token: expected 200, found %d: %s", a.status, a.body)
	}
	if a := tb.accounts(p.TPPA, "Bearer "+at); a.status != http.StatusUnauthorized {
		t.Errorf("accounts with the superseded token: expected 401, found %d", a.status)
	}
	expectTokenError(t, tb.token(p.TPPA, refreshForm(eidas.OrgTPPA, rt)), 400, "invalid_grant")

	secrets := tb.IssuedSecrets()
	for _, s := range []string{code, at, rt, at2, rt2} {
		if !slices.Contains(secrets, s) {
			t.Errorf("IssuedSecrets lacks an issued secret (%d recorded)", len(secrets))
		}
	}
}

func TestRefusal(t *testing.T) {
	tb := startBank(t, Config{})
	cb := tb.callback(authzQuery(eidas.OrgTPPA), "refuse")
	if cb.Get("error") != "access_denied" || cb.Get("state") != testState || cb.Has("code") {
		t.Fatalf("refusal callback: expected error=access_denied, the state and no code, found %v", cb)
	}
}

func TestWrongPasswordShowsLoginAgain(t *testing.T) {
	tb := startBank(t, Config{})
	authURL := tb.URL() + PathAuthorize + "?" + authzQuery(eidas.OrgTPPA).Encode()
	a := tb.get(nil, authURL, nil)
	id := journeyField.FindStringSubmatch(a.body)[1]
	a = tb.post(nil, authURL, url.Values{"journey": {id}, "psu_id": {DefaultPSU}, "password": {"wrong"}, "action": {"login"}})
	if a.status != http.StatusOK || !strings.Contains(a.body, `name="password"`) || !strings.Contains(a.body, "wrong password") {
		t.Fatalf("expected the login page with an error, found %d: %s", a.status, a.body)
	}
	// Consent without login is refused.
	a = tb.post(nil, authURL, url.Values{"journey": {id}, "action": {"accept"}})
	if a.status != http.StatusOK || a.location() != nil {
		t.Fatalf("accept before login: expected the login page, found %d %v", a.status, a.location())
	}
	// An unknown journey gets an error page.
	a = tb.post(nil, authURL, url.Values{"journey": {"forged"}, "action": {"accept"}})
	if a.status != http.StatusBadRequest || a.location() != nil {
		t.Fatalf("unknown journey: expected 400 without redirect, found %d", a.status)
	}
}

func TestAuthorizeRejects(t *testing.T) {
	tb := startBank(t, Config{})
	cases := []struct {
		name     string
		edit     func(url.Values)
		redirect string // expected error on the callback; "" means a 400 page, no redirect
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "PSDFR-ACPR-00000") }, ""},
		{"missing client", func(q url.Values) { q.Del("client_id") }, ""},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "https://attacker.invalid/callback") }, ""},
		{"redirect_uri with extra path", func(q url.Values) { q.Set("redirect_uri", "https://tpp-a.example/callback/x") }, ""},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"scope pisp", func(q url.Values) { q.Set("scope", "pisp") }, "invalid_scope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := authzQuery(eidas.OrgTPPA)
			c.edit(q)
			a := tb.get(nil, tb.URL()+PathAuthorize+"?"+q.Encode(), nil)
			if c.redirect == "" {
				if a.status != http.StatusBadRequest || a.location() != nil || !strings.Contains(a.header.Get("Content-Type"), "text/html") {
					t.Fatalf("expected a 400 HTML page and no redirect, found %d Location %q", a.status, a.header.Get("Location"))
				}
				return
			}
			u := a.location()
			if a.status != http.StatusSeeOther || u == nil || !strings.HasPrefix(u.String(), redirectOf(eidas.OrgTPPA)+"?") {
				t.Fatalf("expected a 303 to the callback, found %d %v", a.status, u)
			}
			if u.Query().Get("error") != c.redirect || u.Query().Get("state") != testState || u.Query().Has("code") {
				t.Fatalf("callback: expected error=%s with the state, found %v", c.redirect, u.Query())
			}
		})
	}
}

func TestDefaultScope(t *testing.T) {
	tb := startBank(t, Config{})
	q := authzQuery(eidas.OrgTPPA)
	q.Del("scope")
	code := tb.callback(q, "accept").Get("code")
	a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, code))
	if a.status != http.StatusOK || a.field("scope") != "aisp" {
		t.Fatalf("expected scope aisp by default, found %d: %s", a.status, a.body)
	}
}

func TestExtendedHistoryNotRefreshed(t *testing.T) {
	tb := startBank(t, Config{})
	q := authzQuery(eidas.OrgTPPA)
	q.Set("scope", "aisp extended_transaction_history")
	code := tb.callback(q, "accept").Get("code")
	a := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, code))
	if a.field("scope") != "aisp extended_transaction_history" {
		t.Fatalf("exchange: expected both scopes, found %s", a.body)
	}
	r := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, a.field("refresh_token")))
	if r.status != http.StatusOK || r.field("scope") != "aisp" {
		t.Fatalf("refresh: expected scope aisp only, found %d: %s", r.status, r.body)
	}
}

func TestTokenClientAuthentication(t *testing.T) {
	tb := startBank(t, Config{})
	p := tb.pki
	cases := []struct {
		name   string
		kp     *eidas.KeyPair
		form   func(code string) url.Values
		status int
		error  string
	}{
		{"client_id of another TPP", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Set("client_id", eidas.OrgTPPB)
			return f
		}, 401, "invalid_client"},
		{"made-up client_id", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Set("client_id", "PSDFR-ACPR-99999")
			return f
		}, 401, "invalid_client"},
		{"no client_id", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Del("client_id")
			return f
		}, 401, "invalid_client"},
		{"no certificate", nil, func(c string) url.Values { return exchangeForm(eidas.OrgTPPA, c) }, 401, "invalid_client"},
		{"expired certificate", p.TPPAExpired, func(c string) url.Values { return exchangeForm(eidas.OrgTPPA, c) }, 401, "invalid_client"},
		{"untrusted certificate", p.TPPAUntrusted, func(c string) url.Values { return exchangeForm(eidas.OrgTPPA, c) }, 401, "invalid_client"},
		{"unknown code", p.TPPA, func(string) url.Values { return exchangeForm(eidas.OrgTPPA, "ory_ac_unknown.unknown") }, 400, "invalid_grant"},
		{"no code", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Del("code")
			return f
		}, 400, "invalid_request"},
		{"no grant_type", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Del("grant_type")
			return f
		}, 400, "invalid_request"},
		{"unknown grant_type", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Set("grant_type", "urn:stet:unknown")
			return f
		}, 400, "unsupported_grant_type"},
		{"another redirect_uri", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Set("redirect_uri", "https://tpp-a.example/callback/")
			return f
		}, 400, "invalid_grant"},
		{"no redirect_uri", p.TPPA, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Del("redirect_uri")
			return f
		}, 400, "invalid_grant"},
		{"code of another TPP", p.TPPB, func(c string) url.Values {
			f := exchangeForm(eidas.OrgTPPA, c)
			f.Set("client_id", eidas.OrgTPPB)
			f.Set("redirect_uri", redirectOf(eidas.OrgTPPB))
			return f
		}, 400, "invalid_grant"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := tb.code(eidas.OrgTPPA)
			expectTokenError(t, tb.token(c.kp, c.form(code)), c.status, c.error)
			// The refused request did not burn the code.
			if a := tb.token(p.TPPA, exchangeForm(eidas.OrgTPPA, code)); a.status != http.StatusOK {
				t.Errorf("the code no longer works after a refused request: %d %s", a.status, a.body)
			}
		})
	}

	t.Run("certificate without PSP_AI", func(t *testing.T) {
		code := tb.code(eidas.OrgTPPNoRole)
		expectTokenError(t, tb.token(p.TPPNoRole, exchangeForm(eidas.OrgTPPNoRole, code)), 400, "unauthorized_client")
	})
	t.Run("GET", func(t *testing.T) {
		a := tb.get(p.TPPA, tb.URL()+PathToken+"?"+exchangeForm(eidas.OrgTPPA, "x").Encode(), nil)
		if a.status != http.StatusMethodNotAllowed || a.field("access_token") != "" {
			t.Fatalf("GET /token: expected 405, found %d: %s", a.status, a.body)
		}
	})
	t.Run("scope at the exchange is ignored", func(t *testing.T) {
		f := exchangeForm(eidas.OrgTPPA, tb.code(eidas.OrgTPPA))
		f.Set("scope", "aisp extended_transaction_history")
		a := tb.token(p.TPPA, f)
		if a.status != http.StatusOK || a.field("scope") != "aisp" {
			t.Fatalf("expected 200 with the authorized scope aisp, found %d: %s", a.status, a.body)
		}
	})
	t.Run("refresh by another TPP", func(t *testing.T) {
		rt := tb.tokens(p.TPPA).field("refresh_token")
		expectTokenError(t, tb.token(p.TPPB, refreshForm(eidas.OrgTPPB, rt)), 400, "invalid_grant")
		expectTokenError(t, tb.token(p.TPPB, refreshForm(eidas.OrgTPPA, rt)), 401, "invalid_client")
	})
	t.Run("unknown refresh token", func(t *testing.T) {
		expectTokenError(t, tb.token(p.TPPA, refreshForm(eidas.OrgTPPA, "ory_rt_unknown.unknown")), 400, "invalid_grant")
	})
}

func TestCodeReuse(t *testing.T) {
	tb := startBank(t, Config{})
	code := tb.code(eidas.OrgTPPA)
	first := tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, code))
	if first.status != http.StatusOK {
		t.Fatalf("first exchange: %d %s", first.status, first.body)
	}
	expectTokenError(t, tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, code)), 400, "invalid_grant")
	// RFC 6749 4.1.2: the tokens issued from a replayed code are revoked.
	if a := tb.accounts(tb.pki.TPPA, "Bearer "+first.field("access_token")); a.status != http.StatusUnauthorized {
		t.Errorf("token of a replayed code: expected 401, found %d", a.status)
	}
}

func TestBearer(t *testing.T) {
	tb := startBank(t, Config{})
	p := tb.pki
	tok := tb.tokens(p.TPPA)
	at, rt := tok.field("access_token"), tok.field("refresh_token")
	tampered := at[:len(at)-1] + "A"
	if strings.HasSuffix(at, "A") {
		tampered = at[:len(at)-1] + "B"
	}
	cases := []struct {
		name      string
		kp        *eidas.KeyPair
		auth      string
		status    int
		challenge string // expected WWW-Authenticate
	}{
		{"valid", p.TPPA, "Bearer " + at, 200, ""},
		{"lowercase scheme", p.TPPA, "bearer " + at, 200, ""},
		{"uppercase scheme", p.TPPA, "BEARER " + at, 200, ""},
		{"no token", p.TPPA, "", 401, `Bearer realm="stet"`},
		{"Basic scheme", p.TPPA, "Basic dXNlcjpwYXNz", 401, `Bearer realm="stet"`},
		{"tampered token", p.TPPA, "Bearer " + tampered, 401, `error="invalid_token"`},
		{"unknown token", p.TPPA, "Bearer ory_at_unknown.unknown", 401, `error="invalid_token"`},
		{"refresh token as access token", p.TPPA, "Bearer " + rt, 401, `error="invalid_token"`},
		{"other TPP's certificate", p.TPPB, "Bearer " + at, 401, `error="invalid_token"`},
		{"no certificate", nil, "Bearer " + at, 401, `error="invalid_token"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := tb.accounts(c.kp, c.auth)
			if a.status != c.status {
				t.Fatalf("expected %d, found %d: %s", c.status, a.status, a.body)
			}
			wa := a.header.Get("WWW-Authenticate")
			switch {
			case c.challenge == `Bearer realm="stet"` && wa != c.challenge:
				t.Errorf("expected the bare challenge %q, found %q", c.challenge, wa)
			case c.challenge != "" && !strings.Contains(wa, c.challenge):
				t.Errorf("expected a challenge with %q, found %q", c.challenge, wa)
			}
			if c.status == 401 {
				if s, _ := a.json()["status"].(float64); s != 401 || a.field("message") == "" {
					t.Errorf("expected a STET error body {status, message}, found %s", a.body)
				}
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	tb := startBank(t, Config{AccessTokenLifetime: time.Second})
	tok := tb.tokens(tb.pki.TPPA)
	// fosite rounds the expiry to the second; the bank announces the time left rounded up,
	// so a 1 s lifetime reads 1 or 2, never 0.
	if e, _ := tok.json()["expires_in"].(float64); e < 1 || e > 2 {
		t.Errorf("expires_in: expected 1 or 2, found %v", tok.json()["expires_in"])
	}
	code := tb.code(eidas.OrgTPPA) // for the code expiry below
	tb.clock.Advance(2 * time.Second)
	a := tb.accounts(tb.pki.TPPA, "Bearer "+tok.field("access_token"))
	if a.status != http.StatusUnauthorized || !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("expired token: expected 401 invalid_token, found %d %q", a.status, a.header.Get("WWW-Authenticate"))
	}
	// The refresh token outlives the access token.
	r := tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, tok.field("refresh_token")))
	if r.status != http.StatusOK {
		t.Fatalf("refresh after access expiry: expected 200, found %d: %s", r.status, r.body)
	}
	tb.clock.Advance(DefaultCodeLifetime)
	expectTokenError(t, tb.token(tb.pki.TPPA, exchangeForm(eidas.OrgTPPA, code)), 400, "invalid_grant")
	tb.clock.Advance(DefaultRefreshTokenLifetime)
	expectTokenError(t, tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, r.field("refresh_token"))), 400, "invalid_grant")
}

func TestNewRejectsUnknownFault(t *testing.T) {
	_, err := New(Config{PKI: sharedPKI(t), Faults: []string{"no-such-fault"}})
	if err == nil {
		t.Fatal("expected an error for an unknown fault")
	}
	for _, want := range []string{`"no-such-fault"`, FaultStateNotEchoed, FaultOldRefreshStillValid} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("expected an error without a PKI")
	}
}

func TestFaultCatalogue(t *testing.T) {
	fs := Faults()
	if !slices.IsSortedFunc(fs, func(a, b Fault) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("Faults() is not sorted by name")
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Name] {
			t.Errorf("fault %q declared twice", f.Name)
		}
		seen[f.Name] = true
		if f.Description == "" || len(f.Breaks)+len(f.Inconclusive)+len(f.NotPassed) == 0 && !f.WrongReason {
			t.Errorf("fault %q needs a description and something a run must show", f.Name)
		}
		if f.Pending != "" && (len(f.Breaks) == 0 || len(f.Scenarios) > 0 || f.Reason != "") {
			t.Errorf("fault %q: a pending fault names what it breaks, and no scenario yet: %v %v %q", f.Name, f.Breaks, f.Scenarios, f.Reason)
		} else if f.Pending == "" && ((len(f.Breaks) == 0) != (len(f.Scenarios) == 0) || (len(f.Scenarios) == 0) != (f.Reason == "")) {
			t.Errorf("fault %q: Breaks, Scenarios and Reason go together: %v %v %q", f.Name, f.Breaks, f.Scenarios, f.Reason)
		}
		if _, err := regexp.Compile(f.Reason); err != nil {
			t.Errorf("fault %q: Reason: %v", f.Name, err)
		}
		if f.WrongReason && len(f.Breaks) > 0 {
			t.Errorf("fault %q: a wrong-reason fault breaks nothing, found %v", f.Name, f.Breaks)
		}
		for _, id := range slices.Concat(f.Inconclusive, f.NotPassed) {
			if slices.Contains(f.Breaks, id) {
				t.Errorf("fault %q: %s is declared failed and also inconclusive or not passed", f.Name, id)
			}
		}
	}
	fs[0].Breaks[0] = "changed"
	if Faults()[0].Breaks[0] == "changed" {
		t.Error("Faults() shares its slices with the catalogue")
	}
}

func TestProfileYAML(t *testing.T) {
	tb := startBank(t, Config{})
	dir := t.TempDir()
	if err := tb.pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	out := tb.ProfileYAML(dir)
	var p profile.Profile
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("the profile does not decode into profile.Profile: %v\n%s", err, out)
	}
	if p.Endpoints.Token != tb.URL()+PathToken || p.Endpoints.Authorize != tb.URL()+PathAuthorize || p.Endpoints.Accounts != tb.URL()+PathAccounts {
		t.Errorf("endpoints: %+v", p.Endpoints)
	}
	if p.Options.RefreshRotation != "rotate" || p.Options.ClientMismatch != "http" || p.Options.PKCE != "supported" ||
		p.Options.ScopeAtToken != "ignored" || p.Options.MaxExpiryWait != 30*time.Second || p.Options.ExpirySkew != 250*time.Millisecond {
		t.Errorf("options: %+v", p.Options)
	}
	cl := p.Clients
	if cl.Primary == nil || cl.Second == nil || cl.WithoutAISPRole == nil || cl.Expired == nil {
		t.Fatalf("clients: %+v", cl)
	}
	if cl.Expired.ClientID != eidas.OrgTPPA || cl.Expired.RedirectURI != "https://tpp-a.example/callback" ||
		filepath.Base(cl.Expired.Certificate) != eidas.FileTPPAExpiredCert {
		t.Errorf("expired client: %+v", cl.Expired)
	}
	for _, c := range []*profile.Client{cl.Primary, cl.Second, cl.WithoutAISPRole, cl.Expired} {
		for _, f := range []string{c.Certificate, c.Key} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("client %s: %v", c.ClientID, err)
			}
		}
	}
	if _, err := os.Stat(p.TLS.CA); err != nil {
		t.Errorf("tls.ca: %v", err)
	}
	if len(p.PSU.Approve) != 2 || p.PSU.Approve[0].Fill[SelectorPassword] != tb.PSUPassword(DefaultPSU) ||
		p.PSU.Approve[1].Press != SelectorAccept || p.PSU.Refuse[1].Press != SelectorRefuse {
		t.Errorf("PSU scripts: %+v", p.PSU)
	}
}

// TestConcurrentJourneys runs journeys, exchanges and resource calls at once (run with
// -race to check the bank's locking).
func TestConcurrentJourneys(t *testing.T) {
	tb := startBank(t, Config{})
	done := make(chan string, 8)
	for i := 0; i < cap(done); i++ {
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- "panic"
				}
			}()
			kp, id := tb.pki.TPPA, eidas.OrgTPPA
			if i%2 == 1 {
				kp, id = tb.pki.TPPB, eidas.OrgTPPB
			}
			q := authzQuery(id)
			authURL := tb.URL() + PathAuthorize + "?" + q.Encode()
			c := tb.client(nil)
			get, _ := http.NewRequest(http.MethodGet, authURL, nil)
			resp, err := c.Do(get)
			if err != nil {
				done <- err.Error()
				return
			}
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			jid := journeyField.FindStringSubmatch(buf.String())[1]
			for _, f := range []url.Values{
				{"journey": {jid}, "psu_id": {DefaultPSU}, "password": {tb.PSUPassword(DefaultPSU)}, "action": {"login"}},
				{"journey": {jid}, "action": {"accept"}},
			} {
				resp, err = c.PostForm(authURL, f)
				if err != nil {
					done <- err.Error()
					return
				}
				resp.Body.Close()
			}
			code, _ := url.Parse(resp.Header.Get("Location"))
			resp, err = tb.client(kp).PostForm(tb.URL()+PathToken, exchangeForm(id, code.Query().Get("code")))
			if err != nil {
				done <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				done <- "exchange status " + resp.Status
				return
			}
			done <- ""
		}()
	}
	for i := 0; i < cap(done); i++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

func TestPKCE(t *testing.T) {
	tb := startBank(t, Config{})
	verifier := "the-verifier-the-verifier-the-verifier-0123"
	q := authzQuery(eidas.OrgTPPA)
	q.Set("code_challenge", pkceChallenge(verifier))
	q.Set("code_challenge_method", "S256")
	for _, c := range []struct {
		verifier string
		status   int
	}{{"a-wrong-verifier-a-wrong-verifier-a-wrong-0123", 400}, {"", 400}, {verifier, 200}} {
		f := exchangeForm(eidas.OrgTPPA, tb.callback(q, "accept").Get("code"))
		if c.verifier != "" {
			f.Set("code_verifier", c.verifier)
		}
		if a := tb.token(tb.pki.TPPA, f); a.status != c.status {
			t.Errorf("code_verifier %q: expected %d, found %d: %s", c.verifier, c.status, a.status, a.body)
		}
	}
}

func TestRevocation(t *testing.T) {
	tb := startBank(t, Config{})
	tok := tb.tokens(tb.pki.TPPA)
	at, rt := tok.field("access_token"), tok.field("refresh_token")
	// Another TPP cannot revoke it (RFC 7009 section 2.1)...
	tb.revoke(tb.pki.TPPB, eidas.OrgTPPB, rt)
	if a := tb.accounts(tb.pki.TPPA, "Bearer "+at); a.status != http.StatusOK {
		t.Fatalf("after another TPP's revocation: expected the access token to work, found %d", a.status)
	}
	// ...its owner can, and the grant's access token goes with it.
	if a := tb.revoke(tb.pki.TPPA, eidas.OrgTPPA, rt); a.status != http.StatusOK {
		t.Fatalf("revocation: expected 200, found %d: %s", a.status, a.body)
	}
	expectTokenError(t, tb.token(tb.pki.TPPA, refreshForm(eidas.OrgTPPA, rt)), 400, "invalid_grant")
	if a := tb.accounts(tb.pki.TPPA, "Bearer "+at); a.status != http.StatusUnauthorized {
		t.Errorf("access token after revoking its refresh token: expected 401, found %d", a.status)
	}
	// Revoking an unknown token is no error (RFC 7009 section 2.2).
	if a := tb.revoke(tb.pki.TPPA, eidas.OrgTPPA, "unknown-token"); a.status != http.StatusOK {
		t.Errorf("unknown token: expected 200, found %d", a.status)
	}
}
