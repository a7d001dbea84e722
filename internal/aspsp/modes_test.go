package aspsp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
)

// openJourney opens an authorization request as the PSU's browser and returns the
// journey's id and the URL its forms post to.
func (tb *testBank) openJourney(q url.Values) (id, authURL string) {
	tb.t.Helper()
	authURL = tb.URL() + PathAuthorize + "?" + q.Encode()
	a := tb.get(nil, authURL, nil)
	m := journeyField.FindStringSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		tb.t.Fatalf("authorization request: expected the login page, found %d: %s", a.status, a.body)
	}
	return m[1], authURL
}

// login posts the login form of a journey as psu.
func (tb *testBank) login(id, authURL, psu string) answer {
	tb.t.Helper()
	return tb.post(nil, authURL, url.Values{"journey": {id}, "psu_id": {psu}, "password": {tb.PSUPassword(psu)}, "action": {"login"}})
}

// codeAs runs an approving journey of psu for the TPP kp and returns the code.
func (tb *testBank) codeAs(kp *eidas.KeyPair, psu string) string {
	tb.t.Helper()
	id, authURL := tb.openJourney(authzQuery(eidas.OrganizationIdentifier(kp.Cert)))
	if a := tb.login(id, authURL, psu); a.status != http.StatusOK || !strings.Contains(a.body, `value="accept"`) {
		tb.t.Fatalf("login as %s: expected the consent page, found %d: %s", psu, a.status, a.body)
	}
	a := tb.post(nil, authURL, url.Values{"journey": {id}, "action": {"accept"}})
	code := a.location().Query().Get("code")
	if a.status != http.StatusSeeOther || code == "" {
		tb.t.Fatalf("consent of %s: expected a 303 with a code, found %d: %s", psu, a.status, a.body)
	}
	return code
}

// pairAs runs a journey of psu for kp and exchanges the code: the access and refresh token.
func (tb *testBank) pairAs(kp *eidas.KeyPair, psu string) (at, rt string) {
	tb.t.Helper()
	id := eidas.OrganizationIdentifier(kp.Cert)
	a := tb.token(kp, exchangeForm(id, tb.codeAs(kp, psu)))
	if a.status != http.StatusOK {
		tb.t.Fatalf("code exchange of %s: expected 200, found %d: %s", psu, a.status, a.body)
	}
	return a.field("access_token"), a.field("refresh_token")
}

func TestPSUPool(t *testing.T) {
	t.Run("default is psu1 alone", func(t *testing.T) {
		tb := startBank(t, Config{})
		if ids := tb.PSUIDs(); !slices.Equal(ids, []string{"psu1"}) {
			t.Fatalf("PSUIDs: expected [psu1], found %v", ids)
		}
	})
	t.Run("four PSUs share psu1's password", func(t *testing.T) {
		tb := startBank(t, Config{PSUCount: 4, PSUs: map[string]string{"psu1": "pool-secret"}})
		want := []string{"psu1", "psu2", "psu3", "psu4"}
		if ids := tb.PSUIDs(); !slices.Equal(ids, want) {
			t.Fatalf("PSUIDs: expected %v, found %v", want, ids)
		}
		for _, psu := range want {
			if pw := tb.PSUPassword(psu); pw != "pool-secret" {
				t.Errorf("%s's password: expected psu1's, found %q", psu, pw)
			}
			tb.codeAs(tb.pki.TPPA, psu)
		}
		st := tb.Stats()
		for _, psu := range want {
			if c := st.PSUs[psu]; c.Logins != 1 || c.ConsentsApproved != 1 {
				t.Errorf("%s's counts: expected 1 login and 1 approval, found %+v", psu, c)
			}
		}
		id, authURL := tb.openJourney(authzQuery(eidas.OrgTPPA))
		a := tb.post(nil, authURL, url.Values{"journey": {id}, "psu_id": {"psu5"}, "password": {"pool-secret"}, "action": {"login"}})
		if !strings.Contains(a.body, "wrong password") {
			t.Errorf("psu5 outside the pool of 4: expected the login page with an error, found %d: %s", a.status, a.body)
		}
	})
	t.Run("own passwords", func(t *testing.T) {
		tb := startBank(t, Config{PSUCount: 2, PSUs: map[string]string{"psu1": "one", "psu2": "two", "alice": "three"}})
		if ids := tb.PSUIDs(); !slices.Equal(ids, []string{"psu1", "psu2", "alice"}) {
			t.Fatalf("PSUIDs: expected [psu1 psu2 alice], found %v", ids)
		}
		for _, psu := range []string{"psu2", "alice"} {
			tb.codeAs(tb.pki.TPPA, psu)
		}
	})
	t.Run("random shared password", func(t *testing.T) {
		tb := startBank(t, Config{PSUCount: 3})
		if pw := tb.PSUPassword("psu3"); pw == "" || pw != tb.PSUPassword("psu1") {
			t.Fatalf("psu3's password: expected psu1's random one")
		}
		tb.codeAs(tb.pki.TPPA, "psu3")
	})
	if _, err := New(Config{PKI: sharedPKI(t), PSUCount: -1}); err == nil {
		t.Error("PSUCount -1: expected an error")
	}
}

func TestTokenPairs(t *testing.T) {
	for _, mode := range []string{"", TokenPairsMany, TokenPairsOnePerPSU} {
		t.Run("mode "+mode, func(t *testing.T) {
			tb := startBank(t, Config{TokenPairs: mode, PSUCount: 2})
			p := tb.pki
			at1, rt1 := tb.pairAs(p.TPPA, "psu1")
			// Other PSUs and other TPPs never supersede psu1's pair with TPP A.
			tb.pairAs(p.TPPA, "psu2")
			tb.pairAs(p.TPPB, "psu1")
			if a := tb.accounts(p.TPPA, "Bearer "+at1); a.status != http.StatusOK {
				t.Fatalf("psu1's first token after consents of others: expected 200, found %d: %s", a.status, a.body)
			}
			at2, rt2 := tb.pairAs(p.TPPA, "psu1") // psu1 consents again to TPP A for aisp
			if a := tb.accounts(p.TPPA, "Bearer "+at2); a.status != http.StatusOK {
				t.Fatalf("the new token: expected 200, found %d: %s", a.status, a.body)
			}
			a1 := tb.accounts(p.TPPA, "Bearer "+at1)
			r1 := tb.token(p.TPPA, refreshForm(eidas.OrgTPPA, rt1))
			if mode != TokenPairsOnePerPSU {
				if a1.status != http.StatusOK || r1.status != http.StatusOK {
					t.Fatalf("many: the earlier pair must survive a new consent, found accounts %d, refresh %d: %s", a1.status, r1.status, r1.body)
				}
				return
			}
			if a1.status != http.StatusUnauthorized || !strings.Contains(a1.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("one-per-psu: the earlier access token: expected 401 invalid_token, found %d %q", a1.status, a1.header.Get("WWW-Authenticate"))
			}
			expectTokenError(t, r1, http.StatusBadRequest, "invalid_grant")
			// The new pair is untouched by the refused refresh of the old one.
			if a := tb.token(p.TPPA, refreshForm(eidas.OrgTPPA, rt2)); a.status != http.StatusOK {
				t.Fatalf("refresh of the new pair: expected 200, found %d: %s", a.status, a.body)
			}

			// A code of an earlier consent, exchanged after a later one, yields no tokens.
			code := tb.codeAs(p.TPPB, "psu2")
			tb.codeAs(p.TPPB, "psu2")
			expectTokenError(t, tb.token(p.TPPB, exchangeForm(eidas.OrgTPPB, code)), http.StatusBadRequest, "invalid_grant")
		})
	}
	if _, err := New(Config{PKI: sharedPKI(t), TokenPairs: "one"}); err == nil {
		t.Error("TokenPairs \"one\": expected an error")
	}
}

func TestRoleOfScopes(t *testing.T) {
	for in, want := range map[string]string{
		"aisp": "aisp", "aisp extended_transaction_history": "aisp", "extended_transaction_history": "aisp",
		"cbpii": "cbpii", "aisp cbpii": "aisp cbpii",
	} {
		if got := role(strings.Fields(in)); got != want {
			t.Errorf("role(%q): expected %q, found %q", in, want, got)
		}
	}
}

func TestOneSessionPerPSU(t *testing.T) {
	for _, exclusive := range []bool{false, true} {
		t.Run(fmt.Sprint("exclusive ", exclusive), func(t *testing.T) {
			tb := startBank(t, Config{OneSessionPerPSU: exclusive, PSUCount: 2})
			idA, urlA := tb.openJourney(authzQuery(eidas.OrgTPPA))
			idB, urlB := tb.openJourney(authzQuery(eidas.OrgTPPB))
			if a := tb.login(idA, urlA, "psu1"); a.status != http.StatusOK {
				t.Fatalf("first login: expected 200, found %d", a.status)
			}
			a := tb.login(idB, urlB, "psu1")
			if !exclusive {
				if a.status != http.StatusOK || !strings.Contains(a.body, `value="accept"`) {
					t.Fatalf("second concurrent login: expected the consent page, found %d: %s", a.status, a.body)
				}
				return
			}
			if a.status != http.StatusConflict || !strings.Contains(a.body, "session_in_progress") {
				t.Fatalf("second concurrent login of psu1: expected 409 session_in_progress, found %d: %s", a.status, a.body)
			}
			// Another PSU is not held back; psu1 is, until its journey ends.
			idC, urlC := tb.openJourney(authzQuery(eidas.OrgTPPB))
			if a := tb.login(idC, urlC, "psu2"); a.status != http.StatusOK {
				t.Fatalf("psu2's login: expected 200, found %d", a.status)
			}
			if a := tb.post(nil, urlA, url.Values{"journey": {idA}, "action": {"accept"}}); a.status != http.StatusSeeOther {
				t.Fatalf("first journey's consent: expected 303, found %d", a.status)
			}
			if a := tb.login(idB, urlB, "psu1"); a.status != http.StatusOK || !strings.Contains(a.body, `value="accept"`) {
				t.Fatalf("psu1's login once its journey ended: expected the consent page, found %d: %s", a.status, a.body)
			}
			if c := tb.Stats().PSUs["psu1"]; c.SessionConflicts != 1 || c.Logins != 2 {
				t.Errorf("psu1's counts: expected 1 session conflict and 2 logins, found %+v", c)
			}
		})
	}
}

func TestParseRateLimit(t *testing.T) {
	good := map[string]RateLimit{"": {}, "off": {}, "10/1s": {10, time.Second}, "3/500ms": {3, 500 * time.Millisecond}, " 100 / 1m ": {100, time.Minute}}
	for in, want := range good {
		if got, err := ParseRateLimit(in); err != nil || got != want {
			t.Errorf("ParseRateLimit(%q): expected %v, found %v, %v", in, want, got, err)
		}
	}
	for _, in := range []string{"10", "x/1s", "10/x", "0/1s", "10/0s", "-1/1s", "10/-1s"} {
		if _, err := ParseRateLimit(in); err == nil {
			t.Errorf("ParseRateLimit(%q): expected an error", in)
		}
	}
	if s := (RateLimit{10, time.Second}).String(); s != "10/1s" {
		t.Errorf("String: expected 10/1s, found %s", s)
	}
}

func TestRateLimit(t *testing.T) {
	tb := startBank(t, Config{RateLimit: RateLimit{Requests: 3, Window: 2 * time.Second}, ServeStats: true})
	p := tb.pki
	bad := refreshForm(eidas.OrgTPPA, "ory_rt_unknown.unknown")
	for i := 1; i <= 3; i++ {
		if a := tb.token(p.TPPA, bad); a.status == http.StatusTooManyRequests {
			t.Fatalf("request %d of 3: expected to be served, found 429", i)
		}
	}
	a := tb.token(p.TPPA, bad)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "2" {
		t.Fatalf("request 4 of 3: expected 429 with Retry-After: 2, found %d %q: %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	if m := a.json(); m["status"] != float64(429) || m["error"] != "too_many_requests" {
		t.Errorf("429 body: expected a JSON error with status 429, found %s", a.body)
	}
	// Per client: TPP B and the PSU's browser are served, and so are the counters.
	if a := tb.token(p.TPPB, refreshForm(eidas.OrgTPPB, "ory_rt_unknown.unknown")); a.status == http.StatusTooManyRequests {
		t.Fatal("TPP B: expected to be served while TPP A is limited")
	}
	for i := 0; i < 5; i++ {
		if a := tb.get(nil, tb.URL()+PathStats, nil); a.status != http.StatusOK {
			t.Fatalf("GET /stats: expected 200 whatever the limit, found %d", a.status)
		}
	}
	tb.clock.Advance(time.Second)
	if a := tb.accounts(p.TPPA, "Bearer x"); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "1" {
		t.Fatalf("within the window: expected 429 with Retry-After: 1, found %d %q", a.status, a.header.Get("Retry-After"))
	}
	tb.clock.Advance(time.Second)
	if a := tb.token(p.TPPA, bad); a.status == http.StatusTooManyRequests {
		t.Fatal("after the window: expected to be served again, found 429")
	}
	if got := tb.Stats().RateLimited; got != 2 {
		t.Errorf("Stats.RateLimited: expected 2, found %d", got)
	}

	// The PSU's browser, keyed by its address, gets a page.
	q := tb.URL() + PathAuthorize + "?" + authzQuery(eidas.OrgTPPA).Encode()
	for i := 0; i < 3; i++ {
		tb.get(nil, q, nil)
	}
	a = tb.get(nil, q, nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || !strings.Contains(a.header.Get("Content-Type"), "text/html") {
		t.Fatalf("browser beyond the limit: expected a 429 page with Retry-After, found %d %v", a.status, a.header)
	}
}

func TestStats(t *testing.T) {
	tb := startBank(t, Config{PSUCount: 2, ServeStats: true})
	p := tb.pki
	q := authzQuery(eidas.OrgTPPA)

	at, rt := tb.pairAs(p.TPPA, "psu1") // approval, exchange
	ref := tb.token(p.TPPA, refreshForm(eidas.OrgTPPA, rt))
	if ref.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", ref.status, ref.body)
	}
	id, u := tb.openJourney(q) // psu2 refuses
	tb.login(id, u, "psu2")
	tb.post(nil, u, url.Values{"journey": {id}, "action": {"refuse"}})
	id, u = tb.openJourney(q) // psu2 abandons after logging in, after a wrong password
	tb.post(nil, u, url.Values{"journey": {id}, "psu_id": {"psu2"}, "password": {"wrong"}, "action": {"login"}})
	tb.login(id, u, "psu2")
	tb.post(nil, u, url.Values{"journey": {id}, "action": {"cancel"}})
	id, u = tb.openJourney(q) // someone abandons before logging in
	tb.post(nil, u, url.Values{"journey": {id}, "action": {"cancel"}})
	bad := authzQuery(eidas.OrgTPPA) // invalid: no login page
	bad.Set("redirect_uri", "https://attacker.invalid/cb")
	tb.get(nil, tb.URL()+PathAuthorize+"?"+bad.Encode(), nil)
	tb.token(p.TPPA, refreshForm(eidas.OrgTPPA, rt)) // reused: refused, not counted

	want := Stats{
		Counts: Counts{AuthorizeRequests: 5, Journeys: 4, Logins: 3, FailedLogins: 1, ConsentsApproved: 1, ConsentsRefused: 1,
			JourneysAbandoned: 2, CodeExchanges: 1, Refreshes: 1},
		PSUs: map[string]Counts{
			"psu1": {Logins: 1, ConsentsApproved: 1, CodeExchanges: 1, Refreshes: 1},
			"psu2": {Logins: 2, ConsentsRefused: 1, JourneysAbandoned: 1},
		},
	}
	got := tb.Stats()
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("Stats:\nexpected %+v\nfound    %+v", want, got)
	}
	if got.SCAJourneys() != 2 {
		t.Errorf("SCAJourneys: expected 2, found %d", got.SCAJourneys())
	}

	a := tb.get(nil, tb.URL()+PathStats, nil)
	var served Stats
	if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &served) != nil {
		t.Fatalf("GET /stats: expected 200 JSON, found %d: %s", a.status, a.body)
	}
	if fmt.Sprintf("%+v", served) != fmt.Sprintf("%+v", want) {
		t.Errorf("GET /stats:\nexpected %+v\nfound    %s", want, a.body)
	}
	for _, s := range append(tb.IssuedSecrets(), at, tb.PSUPassword("psu1")) {
		if strings.Contains(a.body, s) {
			t.Fatal("GET /stats shows a secret")
		}
	}
	if a := tb.post(nil, tb.URL()+PathStats, nil); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /stats: expected 405, found %d", a.status)
	}
	off := startBank(t, Config{})
	if a := off.get(nil, off.URL()+PathStats, nil); a.status != http.StatusNotFound {
		t.Errorf("GET /stats without ServeStats: expected 404, found %d", a.status)
	}
}

// A bank that burns codes: a refused exchange ends the code it named, whatever was wrong
// with it; a bank that does not (the default) serves the same code's right exchange after.
func TestBurnCodes(t *testing.T) {
	for _, burn := range []bool{false, true} {
		t.Run(fmt.Sprintf("burn=%v", burn), func(t *testing.T) {
			tb := startBank(t, Config{BurnCodes: burn})
			id := eidas.OrganizationIdentifier(tb.pki.TPPA.Cert)
			code := tb.codeAs(tb.pki.TPPA, DefaultPSU)
			wrong := exchangeForm(id, code)
			wrong.Set("redirect_uri", "https://elsewhere.example/callback")
			if a := tb.token(tb.pki.TPPA, wrong); a.status < 400 {
				t.Fatalf("exchange with another redirect_uri: expected a refusal, found %d: %s", a.status, a.body)
			}
			a := tb.token(tb.pki.TPPA, exchangeForm(id, code))
			if burn {
				expectTokenError(t, a, http.StatusBadRequest, "invalid_grant")
				return
			}
			if a.status != http.StatusOK {
				t.Fatalf("the right exchange after a refused one: expected 200, found %d: %s", a.status, a.body)
			}
		})
	}
	if !strings.Contains(string(startBank(t, Config{BurnCodes: true}).ProfileYAML(t.TempDir())), "code_after_refusal: burned") {
		t.Error("the profile of a bank that burns codes must declare options.code_after_refusal: burned")
	}
}
