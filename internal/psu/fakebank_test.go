package psu

import (
	"crypto/tls"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
)

// testPKI is the fake bank's private PKI: its server certificate (for 127.0.0.1, ::1 and
// localhost) comes from CA, which the browser driver is told to trust (TrustCAsPEM).
var testPKI = sync.OnceValue(func() *eidas.TestPKI {
	p, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		panic(fmt.Sprintf("making the test PKI: %v", err))
	}
	return p
})

// fakeBank imitates a bank's authorization pages: /authorize -> /login (a form with a
// hidden csrf field and two buttons) -> a session cookie -> /consent (accept or refuse
// in one form) -> the callback.
type fakeBank struct {
	srv      *httptest.Server
	callback string // where /consent sends the browser

	mu            sync.Mutex
	logins        []url.Values
	consents      []url.Values
	picks         []url.Values // forms posted from pickPage
	callbackHits  int
	consentNoAuth int
}

const (
	bankCSRF     = "tok-123"
	bankPassword = "s3cret-pw"
	bankCode     = "c0de-42"
)

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><title>Login</title></head><body>
<h1>My Bank</h1>
<form id="login" method="post" action="/login?state={{.}}">
  <input type="hidden" name="csrf" value="` + bankCSRF + `">
  <label>Customer ID <input name="psu_id" id="psu"></label>
  <label>Password <input type="password" name="password"></label>
  <label><input type="checkbox" name="remember" value="yes"> remember me</label>
  <button type="submit" name="action" value="help">Help</button>
  <button type="submit" name="action" value="login" class="primary big">Log in</button>
</form></body></html>`))

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><title>Consent</title></head><body>
<p>Share your accounts with the TPP?</p>
<form method="post" action="">
  <input type="hidden" name="csrf2" value="c2">
  <select name="account"><option value="FR76-1">Current</option><option value="FR76-2" selected>Savings</option></select>
  <button name="action" value="refuse">Refuse</button>
  <button name="action" value="accept" class="primary">Accept</button>
</form></body></html>`))

// pickPage has, for each selector of the tests that run both drivers, elements that a
// selector engine getting a combinator, a pseudo-class or the order of a selector list
// wrong would pick instead. Its buttons' types are in mixed case: HTML, and so Chromium,
// compares them without case.
const pickPage = `<!doctype html>
<html><head><title>Pick</title></head><body>
<div>
  <form id="decoy" method="post" action="/pick">
    <input name="psu">
    <button type="submit" name="action" value="decoy">Decoy</button>
  </form>
</div>
<div>
  <button form="consent" name="action" value="before">Before</button>
  <form id="consent" method="post" action="/pick">
    <input type="hidden" name="csrf" value="p1">
    <input name="pin">
    <input name="otp_code">
    <input name="a_note" value="kept" readonly>
    <input name="b_note">
    <fieldset><legend>Account</legend>
      <label><input type="radio" name="account" value="FR76-1"> Current</label>
      <label><input type="radio" name="account" value="FR76-2" checked> Savings</label>
    </fieldset>
    <button type="Submit" name="action" value="disabled" disabled>Disabled</button>
    <button type="button" name="action" value="js">Run a script</button>
    <button type="Submit" name="action" value="accept">Accept</button>
    <button type="SUBMIT" name="action" value="later">Later</button>
  </form>
  <p>Terms</p>
  <span><button form="consent" name="action" value="nested">Nested</button></span>
  <button form="consent" name="action" value="sibling">Sibling</button>
</div>
</body></html>`

// newFakeBank starts a fake bank with the server certificate of testPKI.
func newFakeBank(t *testing.T) *fakeBank {
	t.Helper()
	return newFakeBankCert(t, testPKI().Server)
}

// newFakeBankCert starts a fake bank that presents cert.
func newFakeBankCert(t *testing.T, cert *eidas.KeyPair) *fakeBank {
	t.Helper()
	b := &fakeBank{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login?state="+url.QueryEscape(r.URL.Query().Get("state")), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, r.URL.Query().Get("state"))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		b.mu.Lock()
		b.logins = append(b.logins, r.PostForm)
		b.mu.Unlock()
		f := r.PostForm
		if f.Get("csrf") != bankCSRF || f.Get("psu_id") != "psu1" || f.Get("password") != bankPassword || f.Get("action") != "login" {
			fmt.Fprint(w, `<!doctype html><title>Login failed</title><p>Wrong credentials.</p>`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1", Path: "/", HttpOnly: true, Secure: true})
		http.Redirect(w, r, "/consent?state="+url.QueryEscape(r.URL.Query().Get("state")), http.StatusSeeOther)
	})
	signedIn := func(r *http.Request) bool {
		c, err := r.Cookie("session")
		return err == nil && c.Value == "s1"
	}
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		if !signedIn(r) {
			b.mu.Lock()
			b.consentNoAuth++
			b.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `<!doctype html><title>Not signed in</title>`)
			return
		}
		_ = consentPage.Execute(w, nil)
	})
	mux.HandleFunc("POST /consent", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		b.mu.Lock()
		b.consents = append(b.consents, r.PostForm)
		cb := b.callback
		b.mu.Unlock()
		if !signedIn(r) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `<!doctype html><title>Not signed in</title>`)
			return
		}
		state := url.QueryEscape(r.URL.Query().Get("state"))
		switch r.PostForm.Get("action") {
		case "accept":
			http.Redirect(w, r, cb+"?code="+bankCode+"&state="+state, http.StatusSeeOther)
		default:
			http.Redirect(w, r, cb+"?error=access_denied&state="+state, http.StatusSeeOther)
		}
	})
	mux.HandleFunc("GET /pick", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, pickPage)
	})
	mux.HandleFunc("POST /pick", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		b.mu.Lock()
		b.picks = append(b.picks, r.PostForm)
		cb := b.callback
		b.mu.Unlock()
		http.Redirect(w, r, cb+"?code="+bankCode, http.StatusSeeOther)
	})
	mux.HandleFunc("GET /to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("url"), http.StatusSeeOther) // to another host
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<!doctype html><title>Server error</title>`)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /slowform", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Slow</title><form method="post" action="/slow"><button>Go</button></form>`)
	})
	mux.HandleFunc("/refresh", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><head><meta http-equiv="refresh" content="0; URL='/login?state=m'"><title>Wait</title></head>`)
	})
	mux.HandleFunc("/cb", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.callbackHits++
		b.mu.Unlock()
		fmt.Fprint(w, "the TPP")
	})
	b.srv = httptest.NewUnstartedServer(mux)
	b.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLSCertificate()}}
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a browser refusing the certificate is a test case
	b.srv.StartTLS()
	t.Cleanup(b.srv.Close)
	b.callback = "https://tpp.invalid/cb"
	return b
}

func (b *fakeBank) authorizeURL() string { return b.srv.URL + "/authorize?state=xyz" }

var (
	approveScript = Script{
		{Match: "*/login*", Fill: map[string]string{"input[name=psu_id]": "psu1", "input[name=password]": bankPassword}, Press: "button[value=login]"},
		{WaitFor: "form select", Press: "button[value=accept]"},
	}
	refuseScript = Script{
		{Fill: map[string]string{"#psu": "psu1", "form#login input[type=password]": bankPassword}, Press: "button.primary[value=login]"},
		{Match: "*/consent?state=*", Press: "button[value=refuse]"},
	}
)
