package psu

import (
	"bytes"
	"context"
	"errors"
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
// certificate is from httptest's CA, which Chromium does not trust: IgnoreCertErrors.
func TestBrowserDriver(t *testing.T) {
	exe, err := FindChromium("")
	if err != nil {
		t.Skipf("no browser to run the browser driver: %v", err)
	}
	d := NewBrowserDriver(BrowserOptions{Executable: exe, IgnoreCertErrors: true})
	d.pressQuiet, d.endQuiet = 300*time.Millisecond, 500*time.Millisecond // the fake bank is quick
	drive := func(b *fakeBank, script Script) (*Outcome, error) {
		return d.Drive(context.Background(), Journey{
			AuthorizeURL:   b.authorizeURL(),
			CallbackPrefix: b.callback,
			Script:         script,
			Timeout:        20 * time.Second,
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
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		b := newFakeBank(t)
		strict := NewBrowserDriver(BrowserOptions{Executable: exe})
		_, err := strict.Drive(context.Background(), Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback, Script: approveScript, Timeout: 10 * time.Second})
		t.Logf("error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "ERR_CERT") || !strings.Contains(err.Error(), "does not trust the bank's certificate") {
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
		script := Script{approveScript[0], {Press: "button[value=agree]", Timeout: 500 * time.Millisecond}}
		out, err := drive(b, script)
		if err == nil {
			t.Fatalf("Drive succeeded with %v, want an error", out.Callback)
		}
		t.Logf("error: %v", err)
		want := `step 2: no visible element matches "button[value=agree]" on ` + b.srv.URL + `/consent?state=xyz (200, "Consent") (waited 500ms)`
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
