package preflight

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

// fixture is a folder with the test PKI (eidas.File* names) and a profile written there.
type fixture struct {
	dir string
	pki *eidas.TestPKI
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, pki: pki}
}

// writeQWAC writes a certificate and key issued for the test as name.pem and name.key.
func (f *fixture) writeQWAC(t *testing.T, name string, kp *eidas.KeyPair) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name+".pem"), kp.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, name+".key"), kp.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client is one entry under clients:; file is the base name of its .pem and .key.
type client struct{ name, id, file string }

func defaultClients() []client {
	return []client{
		{profile.ClientPrimary, eidas.OrgTPPA, "tpp-a"},
		{profile.ClientSecond, eidas.OrgTPPB, "tpp-b"},
		{profile.ClientWithoutAISPRole, eidas.OrgTPPNoRole, "tpp-norole"},
		{profile.ClientExpired, eidas.OrgTPPA, "tpp-a-expired"},
	}
}

// replaceClient returns cs with the client called c.name replaced by c.
func replaceClient(cs []client, c client) []client {
	out := make([]client, len(cs))
	for i, x := range cs {
		if x.name == c.name {
			x = c
		}
		out[i] = x
	}
	return out
}

// load writes bank.yaml for a bank at base (https://127.0.0.1:port) and loads it. extraTLS
// is added under tls:.
func (f *fixture) load(t *testing.T, base, extraTLS string, clients []client) *profile.Profile {
	t.Helper()
	return f.loadRoles(t, base, extraTLS, clients, false)
}

// loadRoles is load, for a bank that offers the cbpii role as well where cbpii is set.
func (f *fixture) loadRoles(t *testing.T, base, extraTLS string, clients []client, cbpii bool) *profile.Profile {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name: Test bank\nendpoints:\n  authorize: %s/oauth/authorize\n  token: %s/oauth/token\n  accounts: %s/v1/accounts\n", base, base, base)
	if cbpii {
		fmt.Fprintf(&b, "  funds_confirmations: %s/v1/funds-confirmations\nroles: [aisp, cbpii]\n", base)
	}
	fmt.Fprintf(&b, "tls:\n  ca: %s\n%s", eidas.FileCA, extraTLS)
	b.WriteString("timeouts:\n  connect: 5s\n  request: 5s\nclients:\n")
	for _, c := range clients {
		fmt.Fprintf(&b, "  %s:\n    client_id: %s\n    certificate: %s.pem\n    key: %s.key\n    redirect_uri: https://tpp.example/cb\n", c.name, c.id, c.file, c.file)
	}
	b.WriteString("psu:\n  driver: manual\n")
	path := filepath.Join(f.dir, "bank.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(path)
	if err != nil {
		t.Fatalf("the test profile does not load:\n%v", err)
	}
	return p
}

// bank is a TLS server on loopback answering 200 to everything.
type bank struct {
	cert      *eidas.KeyPair
	auth      tls.ClientAuthType
	clientCAs *x509.CertPool
	maxTLS    uint16
}

func (b bank) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{b.cert.TLSCertificate()},
		ClientAuth:   b.auth,
		ClientCAs:    b.clientCAs,
		MaxVersion:   b.maxTLS,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// expect is a finding a test looks for: its level, and texts its line contains.
type expect struct {
	level Level
	texts []string
}

func (e expect) String() string { return fmt.Sprintf("%s %q", e.level, e.texts) }

func has(fs []Finding, e expect) bool {
	for _, f := range fs {
		line := f.String()
		if f.Level != e.level {
			continue
		}
		all := true
		for _, s := range e.texts {
			all = all && strings.Contains(line, s)
		}
		if all {
			return true
		}
	}
	return false
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\n  " + f.String())
	}
	return b.String()
}

func lineOf(t *testing.T, path, text string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%q not in %s", text, path)
	return 0
}

func writeText(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }
