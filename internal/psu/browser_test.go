package psu

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFindChromiumExplicit(t *testing.T) {
	if _, err := FindChromium("/nonexistent/chromium"); err == nil || !strings.Contains(err.Error(), `"/nonexistent/chromium"`) {
		t.Errorf("FindChromium(missing) = %v, want an error naming the path", err)
	}
}

func TestFetchPattern(t *testing.T) {
	if got, want := fetchPattern(`https://tpp/cb?x=*\`), `https://tpp/cb\?x=\*\\*`; got != want {
		t.Errorf("fetchPattern = %q, want %q", got, want)
	}
}

// TestBrowserDriver runs the fake bank's journeys in headless Chromium. The fake bank's
// certificate is from a private CA, which the driver is told to trust as a profile's
// tls.ca would.
func TestBrowserDriver(t *testing.T) {
	exe, err := FindChromium("")
	if err != nil {
		t.Skipf("no browser to run the browser driver: %v", err)
	}
	if _, err := findCertutil(); err != nil {
		t.Skipf("no certutil to trust the fake bank's CA: %v", err)
	}
	d := NewBrowserDriver(BrowserOptions{Executable: exe, TrustCAsPEM: testPKI().CA.CertPEM()})
	d.pressQuiet, d.endQuiet = 300*time.Millisecond, 500*time.Millisecond // the fake bank is quick
	drive := func(b *fakeBank, script Script) (*Outcome, error) {
		return d.Drive(context.Background(), Journey{
			AuthorizeURL:   b.authorizeURL(),
			CallbackPrefix: b.callback,
			Script:         script,
			Timeout:        generous,
		})
	}

	t.Run("approve", func(t *testing.T) {
		t.Parallel()
		b := newFakeBank(t) // callback https://tpp.invalid/cb: it would fail if requested
		out, err := drive(b, approveScript)
		if err != nil {
			t.Fatalf("Drive: %v", err)
		}
		q := out.Callback.Query()
		if out.Callback.Host != "tpp.invalid" || q.Get("code") != bankCode || q.Get("state") != "xyz" {
			t.Errorf("callback = %s, want code=%s&state=xyz", out.Callback, bankCode)
		}
		if out.Redirects != 3 {
			t.Errorf("Redirects = %d, want 3", out.Redirects)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.logins) != 1 || b.logins[0].Get("csrf") != bankCSRF || len(b.logins[0]["action"]) != 1 {
			t.Errorf("logins = %v, want one with the hidden csrf and only the pressed button", b.logins)
		}
	})
	t.Run("refuse, callback on the bank's own host is not requested", func(t *testing.T) {
		t.Parallel()
		b := newFakeBank(t)
		b.callback = b.srv.URL + "/cb"
		out, err := drive(b, refuseScript)
		if err != nil {
			t.Fatalf("Drive: %v", err)
		}
		if q := out.Callback.Query(); q.Get("error") != "access_denied" || q.Has("code") {
			t.Errorf("callback = %s, want error=access_denied", out.Callback)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.callbackHits != 0 {
			t.Errorf("the callback was requested %d times, want 0", b.callbackHits)
		}
	})
	t.Run("journey timeout on a hanging page", func(t *testing.T) {
		t.Parallel()
		b := newFakeBank(t)
		out, err := d.Drive(context.Background(), Journey{AuthorizeURL: b.srv.URL + "/slow", CallbackPrefix: b.callback, Script: approveScript, Timeout: 800 * time.Millisecond})
		want := "journey timed out after 800ms on " + b.srv.URL + "/slow"
		if err == nil || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want %q", err, want)
		}
		if out.Callback != nil {
			t.Errorf("callback %v", out.Callback)
		}
	})
	t.Run("a host under another CA", func(t *testing.T) {
		t.Parallel()
		other, err := testPKI().Untrusted.IssueServer([]string{"127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		b := newFakeBankCert(t, other)
		_, err = drive(b, approveScript)
		if err == nil || !strings.Contains(err.Error(), "ERR_CERT_AUTHORITY_INVALID") || !strings.Contains(err.Error(), "not issued for this host by a CA of tls.ca") {
			t.Errorf("error = %v, want ERR_CERT_AUTHORITY_INVALID with a hint", err)
		}
	})
	t.Run("a certificate of the trusted CA for another host", func(t *testing.T) {
		t.Parallel()
		other, err := testPKI().CA.IssueServer([]string{"bank.invalid"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		b := newFakeBankCert(t, other)
		_, err = drive(b, approveScript)
		if err == nil || !strings.Contains(err.Error(), "ERR_CERT_COMMON_NAME_INVALID") {
			t.Errorf("error = %v, want ERR_CERT_COMMON_NAME_INVALID", err)
		}
	})
	t.Run("the trusted bank sends the browser to a host under another CA", func(t *testing.T) {
		t.Parallel()
		other, err := testPKI().Untrusted.IssueServer([]string{"127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		elsewhere := newFakeBankCert(t, other)
		b := newFakeBank(t)
		out, err := d.Drive(context.Background(), Journey{
			AuthorizeURL: b.srv.URL + "/to?url=" + url.QueryEscape(elsewhere.authorizeURL()), CallbackPrefix: b.callback, Script: approveScript, Timeout: generous,
		})
		if err == nil || !strings.Contains(err.Error(), "ERR_CERT_AUTHORITY_INVALID") {
			t.Errorf("error = %v, want ERR_CERT_AUTHORITY_INVALID", err)
		}
		if out.Redirects != 1 || out.LastURL != elsewhere.authorizeURL() {
			t.Errorf("outcome = %+v, want one redirect, to %s", out, elsewhere.authorizeURL())
		}
		elsewhere.mu.Lock()
		defer elsewhere.mu.Unlock()
		if len(elsewhere.logins) != 0 {
			t.Errorf("the untrusted host got %d logins", len(elsewhere.logins))
		}
	})
	t.Run("no tls.ca: only Chromium's own roots", func(t *testing.T) {
		t.Parallel()
		b := newFakeBank(t)
		strict := NewBrowserDriver(BrowserOptions{Executable: exe})
		_, err := strict.Drive(context.Background(), Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback, Script: approveScript, Timeout: generous})
		if err == nil || !strings.Contains(err.Error(), "ERR_CERT_AUTHORITY_INVALID") || !strings.Contains(err.Error(), "set tls.ca in the bank profile") {
			t.Errorf("error = %v, want a certificate error with a hint", err)
		}
	})
	t.Run("script runs out", func(t *testing.T) {
		t.Parallel()
		b := newFakeBank(t)
		_, err := drive(b, Script{{Match: "*/login?state=*", Fill: map[string]string{"#psu": "psu1", "[type=password]": bankPassword}, Press: "button[value=login]"}})
		want := "the bank never redirected to the callback: after the only script step the journey stopped on " + b.srv.URL + `/consent?state=xyz (200, "Consent")`
		if err == nil || err.Error() != want || !errors.Is(err, ErrNoCallback) {
			t.Errorf("error = %v\nwant    %s", err, want)
		}
	})
	t.Run("missing button", func(t *testing.T) {
		t.Parallel()
		b := newFakeBank(t)
		// 2 s: the consent page has loaded by then, on a machine loaded by other tests too
		// (with 500 ms, 1 run in many read it still loading, without its title).
		script := Script{approveScript[0], {Press: "button[value=agree]", Timeout: 2 * time.Second}}
		out, err := drive(b, script)
		if err == nil {
			t.Fatalf("Drive succeeded with %v, want an error", out.Callback)
		}
		t.Logf("error: %v", err)
		want := `step 2: no visible element matches "button[value=agree]" on ` + b.srv.URL + `/consent?state=xyz (200, "Consent") (waited 2s)`
		if err.Error() != want {
			t.Errorf("error = %q\nwant    %q", err, want)
		}
		if !bytes.HasPrefix(out.Screenshot, []byte("\x89PNG")) {
			t.Errorf("screenshot is not a PNG (%d bytes)", len(out.Screenshot))
		}
		if out.Callback != nil || out.LastTitle != "Consent" || out.LastStatus != 200 || !strings.HasSuffix(out.LastURL, "/consent?state=xyz") {
			t.Errorf("outcome = %+v", out)
		}
	})
}

// generous bounds a journey that is expected to end well before it: long enough for a
// machine loaded by other tests, and a journey that ends does not wait for it.
const generous = 60 * time.Second

// TestBrowserTrustLeavesHome checks that trusting the bank's CA writes nothing in the
// user's HOME (where Chromium's NSS database is), and that the journey's HOME goes.
func TestBrowserTrustLeavesHome(t *testing.T) {
	exe, err := FindChromium("")
	if err != nil {
		t.Skipf("no browser to run the browser driver: %v", err)
	}
	if _, err := findCertutil(); err != nil {
		t.Skipf("no certutil to trust the fake bank's CA: %v", err)
	}
	home, tmp := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("TMPDIR", tmp)
	b := newFakeBank(t)
	d := NewBrowserDriver(BrowserOptions{Executable: exe, TrustCAsPEM: testPKI().CA.CertPEM()})
	d.pressQuiet, d.endQuiet = 300*time.Millisecond, 500*time.Millisecond
	out, err := d.Drive(context.Background(), Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback, Script: approveScript, Timeout: generous})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if out.Callback.Query().Get("code") != bankCode {
		t.Errorf("callback = %s", out.Callback)
	}
	if left, _ := filepath.Glob(filepath.Join(home, "*")); len(left) != 0 {
		t.Errorf("written in HOME: %v", left)
	}
	// Chromium's own shared-memory files may stay in TMPDIR; the journey's HOME must not.
	if left, _ := filepath.Glob(filepath.Join(tmp, "stetconform-psu-home-*")); len(left) != 0 {
		t.Errorf("the journey's HOME is left: %v", left)
	}
}

func TestBrowserTrustErrors(t *testing.T) {
	exe, noBrowser := FindChromium("")
	d := NewBrowserDriver(BrowserOptions{Executable: "/nonexistent/chromium", TrustCAsPEM: []byte("not PEM")})
	if err := d.CheckTrust(); err == nil || !strings.Contains(err.Error(), "tls.ca") || !strings.Contains(err.Error(), "no certificate found") {
		t.Errorf("CheckTrust(not PEM) = %v, want an error naming tls.ca", err)
	}

	t.Setenv("PATH", t.TempDir()) // no certutil
	d = NewBrowserDriver(BrowserOptions{TrustCAsPEM: testPKI().CA.CertPEM()})
	want := "the browser cannot be made to trust the bank's CA (tls.ca): certutil (NSS) was not found on PATH; install it (Debian: apt-get install libnss3-tools)"
	if err := d.CheckTrust(); err == nil || err.Error() != want {
		t.Errorf("CheckTrust without certutil = %v\nwant %s", err, want)
	}
	if noBrowser != nil {
		return
	}
	d = NewBrowserDriver(BrowserOptions{Executable: exe, TrustCAsPEM: testPKI().CA.CertPEM()})
	if _, err := d.Drive(context.Background(), Journey{AuthorizeURL: "https://127.0.0.1:1/authorize", CallbackPrefix: "https://tpp.invalid/cb", Timeout: generous}); err == nil || err.Error() != want {
		t.Errorf("Drive without certutil = %v\nwant %s", err, want)
	}
}
