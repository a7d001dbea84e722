package preflight

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFirstPage(t *testing.T) {
	f := newFixture(t)
	pki := f.pki
	now := time.Now()
	untrusted, err := pki.Untrusted.IssueServer([]string{"127.0.0.1"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	// refusing answers 403 to the browser, as a bank refusing the request would: that is a
	// conformance question, so the first page still counts as reached.
	refusing := func(t *testing.T) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("response_type") != "code" || r.URL.Query().Get("client_id") != "PSDFR-ACPR-12345" || r.TLS == nil || len(r.TLS.PeerCertificates) > 0 {
				http.Error(w, "not the browser's authorization request", http.StatusTeapot)
				return
			}
			http.Error(w, "forbidden", http.StatusForbidden)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server.TLSCertificate()}, ClientAuth: tls.RequestClientCert}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name  string
		base  func(t *testing.T) string
		level Level
		texts []string
	}{
		{"any HTTP answer is reached", refusing, OK, []string{"endpoints.authorize: the PSU's browser reaches the bank's first page", "answers HTTP 403"}},
		{"closed port", func(t *testing.T) string { return "https://" + closedPort(t) }, Fail, []string{"cannot open the authorization request", "connection refused", "no PSU journey can start", "bank.yaml:"}},
		{"untrusted server", bank{cert: untrusted}.start, Fail, []string{"cannot open the authorization request", "certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := f.load(t, tt.base(t), "", defaultClients())
			got := FirstPage(context.Background(), p)
			if got.Level != tt.level {
				t.Errorf("level %s, want %s: %s", got.Level, tt.level, got)
			}
			for _, s := range tt.texts {
				if !strings.Contains(got.String(), s) {
					t.Errorf("%q lacks %q", got, s)
				}
			}
		})
	}
}

func TestBeforeRun(t *testing.T) {
	f := newFixture(t)
	good := bank{cert: f.pki.Server, auth: tls.RequestClientCert}
	t.Run("a usable profile has no Fail, and the first page is checked", func(t *testing.T) {
		fs := BeforeRun(context.Background(), f.load(t, good.start(t), "", defaultClients()), time.Now())
		if fails := Failures(fs); len(fails) > 0 {
			t.Errorf("Fail findings:\n%s", dump(fails))
		}
		if !has(fs, expect{OK, []string{"the PSU's browser reaches the bank's first page"}}) {
			t.Errorf("no first-page finding:\n%s", dump(fs))
		}
	})
	t.Run("a static Fail stops before the network", func(t *testing.T) {
		clients := replaceClient(defaultClients(), client{name: "primary", id: "PSDFR-ACPR-99999", file: "tpp-a"})
		fs := BeforeRun(context.Background(), f.load(t, "https://"+closedPort(t), "", clients), time.Now())
		if !has(fs, expect{Fail, []string{"differs from client_id PSDFR-ACPR-99999"}}) || has(fs, expect{Fail, []string{"TCP"}}) {
			t.Errorf("findings:\n%s", dump(fs))
		}
	})
	t.Run("a closed port is a Fail", func(t *testing.T) {
		fs := BeforeRun(context.Background(), f.load(t, "https://"+closedPort(t), "", defaultClients()), time.Now())
		if !has(fs, expect{Fail, []string{"TCP connection failed"}}) {
			t.Errorf("findings:\n%s", dump(fs))
		}
	})
}
