package psu

import (
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// fakeBank imitates a bank's authorization pages: /authorize -> /login (a form with a
// hidden csrf field and two buttons) -> a session cookie -> /consent (accept or refuse
// in one form) -> the callback.
type fakeBank struct {
	srv      *httptest.Server
	callback string // where /consent sends the browser

	mu            sync.Mutex
	logins        []url.Values
	consents      []url.Values
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

func newFakeBank(t *testing.T) *fakeBank {
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
