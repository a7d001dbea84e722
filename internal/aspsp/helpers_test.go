package aspsp

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/httpsig"
)

var (
	pkiOnce sync.Once
	pki     *eidas.TestPKI
	pkiErr  error
)

// sharedPKI builds the test PKI once for the whole package.
func sharedPKI(t *testing.T) *eidas.TestPKI {
	t.Helper()
	pkiOnce.Do(func() { pki, pkiErr = eidas.NewTestPKI(time.Now()) })
	if pkiErr != nil {
		t.Fatalf("building the test PKI: %v", pkiErr)
	}
	return pki
}

// testClock is a clock the test moves forward instead of sleeping.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// testBank is a started bank and the test's view of it.
type testBank struct {
	*Bank
	t     *testing.T
	pki   *eidas.TestPKI
	clock *testClock

	mu      sync.Mutex
	clients map[*eidas.KeyPair]*http.Client
}

// startBank starts a bank on 127.0.0.1:0 with the shared PKI and a test clock.
func startBank(t *testing.T, cfg Config) *testBank {
	t.Helper()
	tb := &testBank{t: t, pki: sharedPKI(t), clock: &testClock{}, clients: map[*eidas.KeyPair]*http.Client{}}
	cfg.PKI = tb.pki
	if cfg.Now == nil {
		cfg.Now = tb.clock.Now
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tb.Bank = b
	t.Cleanup(func() {
		tb.mu.Lock()
		for _, c := range tb.clients {
			c.CloseIdleConnections()
		}
		tb.mu.Unlock()
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tb
}

// client returns an HTTP client presenting kp (nil: no certificate, like the PSU's
// browser) that does not follow redirects.
func (tb *testBank) client(kp *eidas.KeyPair) *http.Client {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if c, ok := tb.clients[kp]; ok {
		return c
	}
	roots := x509.NewCertPool()
	roots.AddCert(tb.pki.CA.Cert)
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if kp != nil {
		tc.Certificates = []tls.Certificate{kp.TLSCertificate()}
	}
	c := &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: tc},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	tb.clients[kp] = c
	return c
}

// answer is an HTTP response, read.
type answer struct {
	status int
	header http.Header
	body   string
}

// location parses the Location header (nil when absent).
func (a answer) location() *url.URL {
	l := a.header.Get("Location")
	if l == "" {
		return nil
	}
	u, err := url.Parse(l)
	if err != nil {
		return nil
	}
	return u
}

// json decodes the body as a JSON object (nil when it is not one).
func (a answer) json() map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		return nil
	}
	return m
}

func (a answer) field(name string) string {
	v, _ := a.json()[name].(string)
	return v
}

func (tb *testBank) do(c *http.Client, req *http.Request) answer {
	tb.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		tb.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		tb.t.Fatalf("reading %s %s: %v", req.Method, req.URL.Path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (tb *testBank) get(kp *eidas.KeyPair, rawURL string, header http.Header) answer {
	tb.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		tb.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return tb.do(tb.client(kp), req)
}

func (tb *testBank) post(kp *eidas.KeyPair, rawURL string, form url.Values) answer {
	tb.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		tb.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return tb.do(tb.client(kp), req)
}

const testState = "st-0123456789-abc_DEF~xyz.42"

// authzQuery is a well-formed authorization request of a registered client.
func authzQuery(clientID string) url.Values {
	return url.Values{
		"response_type": {"code"},
		"client_id":     {clientID},
		"redirect_uri":  {redirectOf(clientID)},
		"scope":         {"aisp"},
		"state":         {testState},
	}
}

func redirectOf(clientID string) string {
	for _, r := range DefaultClients() {
		if r.ClientID == clientID {
			return r.RedirectURIs[0]
		}
	}
	return "https://tpp-a.example/callback"
}

var journeyField = regexp.MustCompile(`name="journey" value="([^"]+)"`)

// journey opens the authorization request as the PSU's browser, logs in and presses
// action ("accept" or "refuse"). It returns the first answer that is not a bank page
// (the callback redirect, or an error page).
func (tb *testBank) journey(q url.Values, action string) answer {
	tb.t.Helper()
	authURL := tb.URL() + PathAuthorize + "?" + q.Encode()
	a := tb.get(nil, authURL, nil)
	if a.status != http.StatusOK {
		return a
	}
	m := journeyField.FindStringSubmatch(a.body)
	if m == nil {
		tb.t.Fatalf("login page without a journey field: %s", a.body)
	}
	a = tb.post(nil, authURL, url.Values{"journey": {m[1]}, "psu_id": {DefaultPSU}, "password": {tb.PSUPassword(DefaultPSU)}, "action": {"login"}})
	if a.status != http.StatusOK || !strings.Contains(a.body, `value="accept"`) {
		tb.t.Fatalf("login: expected the consent page, found %d: %s", a.status, a.body)
	}
	return tb.post(nil, authURL, url.Values{"journey": {m[1]}, "action": {action}})
}

// callback runs an approving journey and returns the callback URL's query.
func (tb *testBank) callback(q url.Values, action string) url.Values {
	tb.t.Helper()
	a := tb.journey(q, action)
	u := a.location()
	if a.status != http.StatusSeeOther || u == nil {
		tb.t.Fatalf("expected a 303 to the callback, found %d Location %q: %s", a.status, a.header.Get("Location"), a.body)
	}
	return u.Query()
}

// code runs an approving journey for clientID and returns the code.
func (tb *testBank) code(clientID string) string {
	tb.t.Helper()
	c := tb.callback(authzQuery(clientID), "accept").Get("code")
	if c == "" {
		tb.t.Fatal("callback without a code")
	}
	return c
}

func (tb *testBank) token(kp *eidas.KeyPair, form url.Values) answer {
	tb.t.Helper()
	return tb.post(kp, tb.URL()+PathToken, form)
}

func exchangeForm(clientID, code string) url.Values {
	return url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {redirectOf(clientID)},
		"client_id":    {clientID},
	}
}

func refreshForm(clientID, rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}
}

// tokens runs a journey and the code exchange for the TPP kp (client_id its organization).
func (tb *testBank) tokens(kp *eidas.KeyPair) answer {
	tb.t.Helper()
	id := eidas.OrganizationIdentifier(kp.Cert)
	a := tb.token(kp, exchangeForm(id, tb.code(id)))
	if a.status != http.StatusOK {
		tb.t.Fatalf("code exchange: expected 200, found %d: %s", a.status, a.body)
	}
	return a
}

func (tb *testBank) accounts(kp *eidas.KeyPair, authorization string) answer {
	tb.t.Helper()
	return tb.sealedAccounts(kp, authorization, tb.sealOf(kp))
}

// sealedAccounts calls the accounts resource over kp's QWAC, signed with seal's QSealC
// (nil: unsigned).
func (tb *testBank) sealedAccounts(kp *eidas.KeyPair, authorization string, seal *eidas.KeyPair) answer {
	tb.t.Helper()
	req, err := http.NewRequest(http.MethodGet, tb.URL()+PathAccounts, nil)
	if err != nil {
		tb.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set("X-Request-ID", "4b0b2f36-0d8e-4a39-9f5e-2b1f6c6f8f10")
	if seal != nil {
		s := &httpsig.Signer{KeyID: "https://tpp.example/qsealc.pem", Key: seal.Key, Algorithm: httpsig.ECDSASHA256}
		if err := s.Sign(req, nil); err != nil {
			tb.t.Fatal(err)
		}
	}
	return tb.do(tb.client(kp), req)
}

// sealOf is the QSealC of the TPP whose QWAC kp is, where the bank requires signatures.
func (tb *testBank) sealOf(kp *eidas.KeyPair) *eidas.KeyPair {
	if !tb.cfg.RequireSignature {
		return nil
	}
	return tb.sealFor(kp)
}

// expectTokenError checks an RFC 6749 error answer.
func expectTokenError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.field("error") != code {
		t.Fatalf("expected %d error %q, found %d: %s", status, code, a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type: expected application/json, found %q", ct)
	}
}

// revoke asks the bank to revoke a token as the TPP of kp (RFC 7009).
func (tb *testBank) revoke(kp *eidas.KeyPair, clientID, token string) answer {
	tb.t.Helper()
	return tb.post(kp, tb.URL()+PathRevoke, url.Values{"token": {token}, "client_id": {clientID}})
}
