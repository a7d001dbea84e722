package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/runner"
)

// writeProfile writes the test PKI and a profile for a bank at base into a temp dir;
// secondID is clients.second's client_id.
func writeProfile(t *testing.T, pki *eidas.TestPKI, base, secondID string) string {
	t.Helper()
	dir := t.TempDir()
	if err := pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`name: Test bank
endpoints:
  authorize: %[1]s/authorize
  token: %[1]s/token
  accounts: %[1]s/accounts
tls:
  ca: ca.pem
timeouts:
  connect: 5s
  request: 5s
clients:
  primary:
    client_id: %[2]s
    certificate: tpp-a.pem
    key: tpp-a.key
    redirect_uri: https://tpp.example/cb
  second:
    client_id: %[3]s
    certificate: tpp-b.pem
    key: tpp-b.key
    redirect_uri: https://tpp.example/cb
psu:
  driver: manual
`, base, eidas.OrgTPPA, secondID)
	path := filepath.Join(dir, "bank.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProfileCheck(t *testing.T) {
	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server.TLSCertificate()}, ClientAuth: tls.RequestClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	good := writeProfile(t, pki, srv.URL, eidas.OrgTPPB)
	mismatch := writeProfile(t, pki, srv.URL, "PSDFR-ACPR-99999")
	badSelector := filepath.Join(filepath.Dir(good), "bad-selector.yaml")
	text, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	script := "  driver: form\n  approve:\n    - press: \"button[value=accept]\"\n  refuse:\n    - fill: {\"#psu\": psu1}\n      press: \"form >> button\"\n"
	text = bytes.Replace(text, []byte("  driver: manual\n"), []byte(script), 1)
	if err := os.WriteFile(badSelector, text, 0o600); err != nil {
		t.Fatal(err)
	}
	badLine := bytes.Count(text[:bytes.Index(text, []byte(">> button"))], []byte("\n")) + 1
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("name: x\nendpoint:\n  token: https://bank.example/token\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		code     int
		want     []string
		notWant  []string
		lastLine string
	}{
		{
			name: "good profile, probed",
			args: []string{"check", good},
			code: 0,
			want: []string{
				"OK   " + good + ": the profile loads (Test bank)",
				"OK   clients.primary: client_id PSDFR-ACPR-12345",
				"asks for a client certificate",
				"clients.primary (PSDFR-ACPR-12345): the handshake with its certificate succeeded",
				"OK   endpoints.authorize: the PSU's browser reaches the bank's first page",
			},
			notWant:  []string{"\nFAIL", "PRIVATE KEY"},
			lastLine: " 0 WARN, 0 FAIL",
		},
		{
			name:     "good profile, offline",
			args:     []string{"check", "--offline", good},
			code:     0,
			want:     []string{"OK   clients.second: client_id PSDFR-ACPR-67890"},
			notWant:  []string{"TCP connection", "asks for a client certificate"},
			lastLine: "0 FAIL (--offline: the network was not probed)",
		},
		{
			name:     "client_id differs from the certificate",
			args:     []string{"check", "--offline", mismatch},
			code:     runner.ExitBadInput,
			want:     []string{"FAIL clients.second.certificate: organizationIdentifier PSDFR-ACPR-67890 differs from client_id PSDFR-ACPR-99999 (declare options.client_id_match: indirect if the bank issues client_ids by registration) (" + mismatch + ":"},
			lastLine: " 1 FAIL (--offline: the network was not probed)",
		},
		{
			name:     "a selector the PSU drivers do not both understand",
			args:     []string{"check", "--offline", badSelector},
			code:     runner.ExitBadInput,
			want:     []string{fmt.Sprintf(`FAIL %s:%d: psu.refuse[0].press: selector "form >> button" is not valid CSS: `, badSelector, badLine)},
			lastLine: "0 OK, 0 WARN, 1 FAIL",
		},
		{
			name: "profile that does not load",
			args: []string{"check", broken},
			code: runner.ExitBadInput,
			want: []string{
				"FAIL " + broken + ":2: endpoint: unknown key \"endpoint\"",
				"FAIL " + broken + ": clients.primary: is required",
			},
			notWant:  []string{"OK "},
			lastLine: "0 OK, 0 WARN, ",
		},
		{
			name: "no file given",
			args: []string{"check"},
			code: runner.ExitBadInput,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := profileCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if got := exitCode(err); got != tc.code {
				t.Errorf("exit code %d (error %v), want %d; output:\n%s", got, err, tc.code, out.String())
			}
			text := out.String()
			for _, s := range tc.want {
				if !strings.Contains(text, s) {
					t.Errorf("missing %q in:\n%s", s, text)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(text, s) {
					t.Errorf("unexpected %q in:\n%s", s, text)
				}
			}
			lines := strings.Split(strings.TrimSpace(text), "\n")
			if last := lines[len(lines)-1]; tc.lastLine != "" && !strings.Contains(last, tc.lastLine) {
				t.Errorf("last line %q, want it to contain %q", last, tc.lastLine)
			}
		})
	}
}
