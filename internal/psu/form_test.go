package psu

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func driveForm(t *testing.T, b *fakeBank, j Journey) (*Outcome, error) {
	t.Helper()
	if j.Timeout == 0 {
		j.Timeout = 5 * time.Second
	}
	return NewFormDriver(b.srv.Client()).Drive(context.Background(), j)
}

func TestFormDriverApprove(t *testing.T) {
	b := newFakeBank(t)
	out, err := driveForm(t, b, Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback, Script: approveScript})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if out.Callback == nil {
		t.Fatal("no callback")
	}
	q := out.Callback.Query()
	if out.Callback.Host != "tpp.invalid" || q.Get("code") != bankCode || q.Get("state") != "xyz" {
		t.Errorf("callback = %s, want https://tpp.invalid/cb?code=%s&state=xyz", out.Callback, bankCode)
	}
	if out.Redirects != 3 {
		t.Errorf("Redirects = %d, want 3 (authorize, login, consent)", out.Redirects)
	}

	if len(b.logins) != 1 {
		t.Fatalf("%d logins, want 1", len(b.logins))
	}
	login := b.logins[0]
	if got := login["action"]; len(got) != 1 || got[0] != "login" {
		t.Errorf("login action = %q, want only the pressed button's [login]", got)
	}
	if login.Get("csrf") != bankCSRF {
		t.Errorf("hidden csrf = %q, want %q", login.Get("csrf"), bankCSRF)
	}
	if login.Has("remember") {
		t.Error("an unchecked checkbox was submitted")
	}
	if len(b.consents) != 1 {
		t.Fatalf("%d consents, want 1", len(b.consents))
	}
	c := b.consents[0]
	if c.Get("action") != "accept" || c.Get("csrf2") != "c2" || c.Get("account") != "FR76-2" {
		t.Errorf("consent form = %v, want action=accept csrf2=c2 account=FR76-2", c)
	}
	if b.consentNoAuth != 0 {
		t.Error("the session cookie was not sent to /consent")
	}
}

func TestFormDriverRefuse(t *testing.T) {
	b := newFakeBank(t)
	out, err := driveForm(t, b, Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback, Script: refuseScript})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	q := out.Callback.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Has("code") {
		t.Errorf("callback = %s, want error=access_denied&state=xyz", out.Callback)
	}
}

func TestFormDriverDoesNotRequestCallback(t *testing.T) {
	b := newFakeBank(t)
	b.callback = b.srv.URL + "/cb"
	out, err := driveForm(t, b, Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback, Script: approveScript})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if !strings.HasPrefix(out.Callback.String(), b.srv.URL+"/cb?code=") {
		t.Errorf("callback = %s", out.Callback)
	}
	if b.callbackHits != 0 {
		t.Errorf("the callback was requested %d times, want 0", b.callbackHits)
	}
}

func TestFormDriverMetaRefresh(t *testing.T) {
	b := newFakeBank(t)
	out, err := driveForm(t, b, Journey{AuthorizeURL: b.srv.URL + "/refresh", CallbackPrefix: b.callback, Script: approveScript})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if out.Callback.Query().Get("state") != "m" {
		t.Errorf("callback = %s, want state=m from the refresh target", out.Callback)
	}
}

func TestFormDriverFailures(t *testing.T) {
	b := newFakeBank(t)
	login := approveScript[0]
	tests := []struct {
		name      string
		authorize string
		script    Script
		timeout   time.Duration
		want      []string
		is        error
		check     func(t *testing.T, out *Outcome)
	}{
		{
			name:   "missing selector",
			script: Script{login, {Press: "button[value=agree]"}},
			want:   []string{`step 2: no element matches "button[value=agree]" on ` + b.srv.URL + `/consent?state=xyz (200, "Consent")`},
		},
		{
			name:   "match mismatch",
			script: Script{{Match: "*/consent*", Press: "button[value=login]"}},
			want:   []string{`step 1: expected a page matching "*/consent*", the journey is on ` + b.srv.URL + `/login?state=xyz (200, "Login")`},
		},
		{
			name:   "script runs out",
			script: Script{login},
			want:   []string{"the bank never redirected to the callback: after the only script step the journey stopped on " + b.srv.URL + `/consent?state=xyz (200, "Consent")`},
			is:     ErrNoCallback,
		},
		{
			name:   "wrong password",
			script: Script{{Fill: map[string]string{"#psu": "psu1", "input[type=password]": "nope"}, Press: "button[value=login]"}, {Press: "button[value=accept]"}},
			want:   []string{`step 2: no element matches "button[value=accept]" on ` + b.srv.URL + `/login?state=xyz (200, "Login failed")`},
		},
		{
			name:      "redirect loop",
			authorize: b.srv.URL + "/loop",
			want:      []string{"redirect loop: 20 redirects"},
			check: func(t *testing.T, out *Outcome) {
				if out.Redirects != 20 {
					t.Errorf("Redirects = %d, want 20", out.Redirects)
				}
			},
		},
		{
			name:      "server error",
			authorize: b.srv.URL + "/broken",
			want:      []string{"the bank answered HTTP 500 at " + b.srv.URL + `/broken, page title "Server error"`},
			check: func(t *testing.T, out *Outcome) {
				if out.LastStatus != 500 || out.LastTitle != "Server error" {
					t.Errorf("outcome = %d %q, want 500 \"Server error\"", out.LastStatus, out.LastTitle)
				}
			},
		},
		{
			name:   "invalid selector",
			script: Script{{Press: "form >> button"}},
			want:   []string{`step 1: selector "form >> button" is not valid CSS: `},
		},
		{
			name:   "button outside a form",
			script: Script{{Press: "h1"}},
			want:   []string{`step 1: press "h1": <h1> does not submit a form`},
		},
		{
			name:      "journey timeout",
			authorize: b.srv.URL + "/slow",
			timeout:   300 * time.Millisecond,
			want:      []string{"journey timed out after 300ms on " + b.srv.URL + "/slow"},
			is:        context.DeadlineExceeded,
		},
		{
			name:      "step timeout",
			authorize: b.srv.URL + "/slowform",
			script:    Script{{Press: "button", Timeout: 300 * time.Millisecond}},
			want:      []string{`step 1: after pressing "button": timed out after 300ms on ` + b.srv.URL + "/slow"},
			is:        context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authorize := tt.authorize
			if authorize == "" {
				authorize = b.authorizeURL()
			}
			out, err := driveForm(t, b, Journey{AuthorizeURL: authorize, CallbackPrefix: b.callback, Script: tt.script, Timeout: tt.timeout})
			if err == nil {
				t.Fatalf("Drive succeeded with callback %v, want an error", out.Callback)
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), bankPassword) {
				t.Errorf("the error shows the password: %q", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
			if out == nil || out.Callback != nil {
				t.Fatalf("outcome = %+v, want one without a callback", out)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*/login*", "https://bank/login?state=x", true},
		{"*/login*", "https://bank/consent", false},
		{"https://bank/login", "https://bank/login", true},
		{"https://bank/login", "https://bank/login?x", false},
		{"*", "", true},
		{"https://*/consent?*", "https://bank.example/consent?state=1", true},
		{"https://*/consent?*", "https://bank.example/consent", false},
		{"*a*b*c", "xaybzc", true},
		{"*a*b*c", "xaybzcd", false},
		{"a*a", "a", false},
	}
	for _, tt := range tests {
		if got := MatchGlob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{2 * time.Minute: "2m", time.Hour: "1h", 90 * time.Second: "1m30s", 300 * time.Millisecond: "300ms", 10 * time.Second: "10s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
