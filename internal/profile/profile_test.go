package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// testPKI is a throw-away CA that issues QWAC-like client certificates, made per test so
// that no key is ever committed.
type testPKI struct {
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	serial int64
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test QTSP CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{key: key, cert: cert, serial: 1}
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// issue makes a client certificate whose subject carries orgID as organizationIdentifier.
func (p *testPKI) issue(t *testing.T, pub crypto.PublicKey, orgID string, expired bool) *x509.Certificate {
	t.Helper()
	p.serial++
	notBefore, notAfter := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if expired {
		notBefore, notAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject: pkix.Name{
			CommonName: "tpp.example",
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 97}, Value: orgID}},
		},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, pub, p.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, key crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBytes("PRIVATE KEY", der)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeClient writes dir/certs/<name>.pem (certificate then CA) and dir/certs/<name>.key.
func (p *testPKI) writeClient(t *testing.T, dir, name, orgID string, expired bool) {
	t.Helper()
	key := newECKey(t)
	cert := p.issue(t, &key.PublicKey, orgID, expired)
	chain := append(pemBytes("CERTIFICATE", cert.Raw), pemBytes("CERTIFICATE", p.cert.Raw)...)
	writeFile(t, filepath.Join(dir, "certs", name+".pem"), chain)
	writeFile(t, filepath.Join(dir, "certs", name+".key"), pkcs8(t, key))
}

// validDir is a folder holding a copy of testdata/valid.yaml as bank.yaml and the
// certificates it names.
func validDir(t *testing.T) (dir string, pki *testPKI) {
	t.Helper()
	dir = t.TempDir()
	pki = newPKI(t)
	writeFile(t, filepath.Join(dir, "certs", "ca.pem"), pemBytes("CERTIFICATE", pki.cert.Raw))
	pki.writeClient(t, dir, "primary", "PSDFR-ACPR-12345", false)
	pki.writeClient(t, dir, "second", "PSDFR-ACPR-67890", false)
	pki.writeClient(t, dir, "expired", "PSDFR-ACPR-12345", true)
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "bank.yaml"), data)
	return dir, pki
}

const testPassword = "correct horse battery"

func TestLoadValid(t *testing.T) {
	t.Setenv("STETCONFORM_TEST_PSU_PASSWORD", testPassword)
	dir, pki := validDir(t)
	path := filepath.Join(dir, "bank.yaml")

	p, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"path", p.Path, path},
		{"name", p.Name, "Test bank"},
		{"min_version", p.TLS.MinVersion, "1.3"},
		{"timeouts.connect (set)", p.Timeouts.Connect, 3 * time.Second},
		{"timeouts.request (default)", p.Timeouts.Request, 15 * time.Second},
		{"timeouts.psu_journey (default)", p.Timeouts.PSUJourney, 2 * time.Minute},
		{"scopes.aisp (default)", p.Scopes.AISP, "aisp"},
		{"refresh_rotation (set)", p.Options.RefreshRotation, "rotate"},
		{"client_mismatch (default)", p.Options.ClientMismatch, "either"},
		{"pkce (default)", p.Options.PKCE, "none"},
		{"scope_at_token (default)", p.Options.ScopeAtToken, "either"},
		{"code_lifetime (set)", p.Options.CodeLifetime, time.Minute},
		{"max_expiry_wait (default)", p.Options.MaxExpiryWait, 30 * time.Second},
		{"expiry_skew (default)", p.Options.ExpirySkew, 2 * time.Second},
		{"step timeout", p.PSU.Refuse[1].Timeout, 10 * time.Second},
		{"expanded fill", p.PSU.Approve[0].Fill["input[name=password]"], testPassword},
		{"header", p.Headers["X-Request-ID"], "{uuid}"},
		// Relative paths are resolved against the profile's folder, not the working directory.
		{"resolved certificate", p.Clients.Primary.Certificate, filepath.Join(dir, "certs", "primary.pem")},
		{"resolved ca", p.TLS.CA, filepath.Join(dir, "certs", "ca.pem")},
		{"primary name", p.Clients.Primary.Name, "primary"},
		{"describe", p.Clients.Primary.Describe(), "primary (PSDFR-ACPR-12345)"},
		{"org id", p.Clients.Second.OrganizationIdentifier(), "PSDFR-ACPR-67890"},
		{"chain length", len(p.Clients.Primary.TLSCert.Certificate), 2},
		{"ClientByName", p.ClientByName("expired"), p.Clients.Expired},
		{"ClientByName absent", p.ClientByName("without_aisp_role"), (*Client)(nil)},
		{"ClientByName unknown", p.ClientByName("third"), (*Client)(nil)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if p.RootCAs == nil {
		t.Error("RootCAs is nil, want the pool from tls.ca")
	}
	// The expired client loads: judging it is for later checks.
	if leaf := p.Clients.Expired.Leaf; leaf == nil || time.Now().Before(leaf.NotAfter) {
		t.Errorf("expired client's Leaf = %v, want the loaded expired certificate", leaf)
	}
	if !p.Clients.Primary.Leaf.Equal(p.Clients.Primary.TLSCert.Leaf) || p.Clients.Primary.Leaf.Issuer.CommonName != pki.cert.Subject.CommonName {
		t.Error("primary Leaf is not the first certificate of its chain")
	}
	for _, s := range []string{testPassword, "psu-test-1"} {
		if !slices.Contains(p.Secrets, s) {
			t.Errorf("Secrets %q lacks %q", p.Secrets, s)
		}
	}
	if p.Secrets[0] != testPassword {
		t.Errorf("Secrets = %q, want the longest first", p.Secrets)
	}
}

func TestTLSConfig(t *testing.T) {
	t.Setenv("STETCONFORM_TEST_PSU_PASSWORD", testPassword)
	dir, pki := validDir(t)
	p, err := Load(filepath.Join(dir, "bank.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	none := p.TLSConfig(nil)
	if none.MinVersion != tls.VersionTLS13 || none.RootCAs != p.RootCAs || none.InsecureSkipVerify || len(none.Certificates) != 0 || none.GetClientCertificate != nil {
		t.Errorf("TLSConfig(nil) = %+v, want TLS 1.3, the profile's roots, no client certificate", none)
	}

	// A real handshake over a pipe: the server certificate verifies against tls.ca, and
	// the client certificate is sent although the server asks for another CA's.
	serverKey := newECKey(t)
	serverCert := pki.issue(t, &serverKey.PublicKey, "bank", false)
	otherCA := newPKI(t)
	acceptable := x509.NewCertPool()
	acceptable.AddCert(otherCA.cert)
	srvConf := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Raw}, PrivateKey: serverKey}},
		ClientAuth:   tls.RequireAnyClientCert,
		ClientCAs:    acceptable,
	}
	cliConf := p.TLSConfig(p.Clients.Primary)
	cliConf.ServerName = "localhost"

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, srvConf)
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	cli := tls.Client(b, cliConf)
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	peers := srv.ConnectionState().PeerCertificates
	if len(peers) == 0 || !peers[0].Equal(p.Clients.Primary.Leaf) {
		t.Errorf("server saw client certificates %v, want the primary client's", peers)
	}
	if v := cli.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", v)
	}
}

// parseErrs runs Parse and returns its errors, failing the test when there are none.
func parseErrs(t *testing.T, text, baseDir string) Errors {
	t.Helper()
	p, err := Parse([]byte(text), "bank.yaml", baseDir)
	if err == nil {
		t.Fatalf("Parse succeeded (%+v), want errors", p)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v, want Errors", err, err)
	}
	return errs
}

// find returns the error about field, failing when there is none.
func find(t *testing.T, errs Errors, field string) *Error {
	t.Helper()
	for _, e := range errs {
		if e.Field == field {
			return e
		}
	}
	t.Fatalf("no error about %s in:\n%v", field, errs)
	return nil
}

// lineOfText is the 1-based line of the first line of text containing s.
func lineOfText(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in text", s)
	return 0
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestUnknownKeys(t *testing.T) {
	text := readTestdata(t, "typo.yaml")
	_, err := Decode([]byte(text), "typo.yaml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Decode error = %v, want Errors", err)
	}
	tests := []struct {
		field, marker, want string
	}{
		{"timout", "timout:", "did you mean timeouts?"},
		{"clients.primary.redirect_url", "redirect_url:", "did you mean redirect_uri?"},
	}
	for _, tt := range tests {
		e := find(t, errs, tt.field)
		if want := lineOfText(t, text, tt.marker); e.Line != want {
			t.Errorf("%s: line %d, want %d", tt.field, e.Line, want)
		}
		if !strings.Contains(e.Msg, tt.want) {
			t.Errorf("%s: %q lacks %q", tt.field, e.Msg, tt.want)
		}
		wantPrefix := "typo.yaml:" + itoa(e.Line) + ": " + tt.field + ": "
		if !strings.HasPrefix(e.Error(), wantPrefix) {
			t.Errorf("Error() = %q, want prefix %q", e.Error(), wantPrefix)
		}
	}
	// The misspelt redirect_uri is not reported a second time as missing.
	if len(errs) != 2 {
		t.Errorf("got %d errors, want 2:\n%v", len(errs), errs)
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func TestSuggest(t *testing.T) {
	known := []string{"client_id", "certificate", "key", "pkcs12", "pkcs12_password", "redirect_uri"}
	tests := []struct{ key, want string }{
		{"clientid", "client_id"},
		{"client-id", "client_id"},
		{"Client_ID", "client_id"},
		{"redirect_url", "redirect_uri"},
		{"cert", "certificate"},
		{"kye", "key"},
		{"p12", ""},
		{"secret", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// minimal is a profile that passes validation without files (both clients use a
// certificate that the tests replace or leave missing).
const minimal = `name: Bank
endpoints:
  authorize: https://bank.example/authorize
  token: https://bank.example/token
  accounts: https://bank.example/accounts
clients:
  primary:
    client_id: PSDFR-ACPR-12345
    certificate: certs/primary.pem
    key: certs/primary.key
    redirect_uri: https://tpp.example/cb
  second:
    client_id: PSDFR-ACPR-67890
    certificate: certs/second.pem
    key: certs/second.key
    redirect_uri: https://tpp.example/cb
psu:
  driver: manual
`

func TestMissingFile(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)
	pki.writeClient(t, dir, "second", "PSDFR-ACPR-67890", false)
	pki.writeClient(t, dir, "primary", "PSDFR-ACPR-12345", false)
	if err := os.Remove(filepath.Join(dir, "certs", "primary.pem")); err != nil {
		t.Fatal(err)
	}
	errs := parseErrs(t, minimal, dir)
	e := find(t, errs, "clients.primary.certificate")
	if want := lineOfText(t, minimal, "certs/primary.pem"); e.Line != want {
		t.Errorf("line %d, want %d", e.Line, want)
	}
	resolved := filepath.Join(dir, "certs", "primary.pem")
	if !strings.Contains(e.Msg, "does not exist") || !strings.Contains(e.Msg, resolved) {
		t.Errorf("message %q should say the file %s does not exist", e.Msg, resolved)
	}
	if len(errs) != 1 {
		t.Errorf("got %d errors, want 1:\n%v", len(errs), errs)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("STETCONFORM_TEST_UNSET", "")
	os.Unsetenv("STETCONFORM_TEST_UNSET")
	t.Setenv("STETCONFORM_TEST_SECRET", "hunter2-secret")

	tests := []struct {
		name, line, field, want string
	}{
		{"unset variable", "  psu_journey: ${STETCONFORM_TEST_UNSET}", "timeouts.psu_journey", "${STETCONFORM_TEST_UNSET} is not set"},
		{"secret in a duration", "  connect: ${STETCONFORM_TEST_SECRET}", "timeouts.connect", "expected a duration"},
		{"secret in an enum", "  request: 1s\n  psu_journey: 1m\noptions:\n  pkce: ${STETCONFORM_TEST_SECRET}", "options.pkce", "expected one of none, supported, required"},
		{"unterminated", "  connect: ${STETCONFORM_TEST_SECRET", "timeouts.connect", "without a closing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(minimal, "psu:\n", "timeouts:\n"+tt.line+"\npsu:\n", 1)
			errs := parseErrs(t, text, t.TempDir())
			e := find(t, errs, tt.field)
			if want := lineOfText(t, text, strings.SplitN(strings.TrimSpace(tt.line), "\n", 2)[0]); tt.field != "options.pkce" && e.Line != want {
				t.Errorf("line %d, want %d", e.Line, want)
			}
			if !strings.Contains(e.Msg, tt.want) {
				t.Errorf("message %q lacks %q", e.Msg, tt.want)
			}
			if strings.Contains(errs.Error(), "hunter2") {
				t.Errorf("a secret value leaked into the errors:\n%v", errs)
			}
		})
	}
}

func TestExpandVars(t *testing.T) {
	env := map[string]string{"A": "x", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want string
		missing  []string
		wantErr  bool
	}{
		{in: "plain", want: "plain"},
		{in: "costs $5 and $", want: "costs $5 and $"},
		{in: "a${A}b${A}", want: "axbx"},
		{in: "${EMPTY}", want: ""},
		{in: "$${A}", want: "${A}"},
		{in: "p@$$w{rd}", want: "p@$$w{rd}"},
		{in: "${NOPE} ${A}", want: " x", missing: []string{"NOPE"}},
		{in: "${A", wantErr: true},
		{in: "${1A}", wantErr: true},
		{in: "${}", wantErr: true},
	}
	for _, tt := range tests {
		got, _, missing, err := expandVars(tt.in, lookup)
		if (err != nil) != tt.wantErr {
			t.Errorf("expandVars(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got != tt.want || !slices.Equal(missing, tt.missing)) {
			t.Errorf("expandVars(%q) = %q, missing %q; want %q, %q", tt.in, got, missing, tt.want, tt.missing)
		}
	}
}

func TestCertKeyMismatch(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)
	pki.writeClient(t, dir, "primary", "PSDFR-ACPR-12345", false)
	pki.writeClient(t, dir, "second", "PSDFR-ACPR-67890", false)
	text := strings.Replace(minimal, "key: certs/primary.key", "key: certs/second.key", 1)
	errs := parseErrs(t, text, dir)
	e := find(t, errs, "clients.primary.key")
	if !strings.Contains(e.Msg, "does not match") || e.Line != lineOfText(t, text, "key: certs/second.key") {
		t.Errorf("got %v, want a mismatch at the key's line", e)
	}
}

func TestKeyFormats(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := newECKey(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		pub    crypto.PublicKey
		keyPEM []byte
	}{
		{"RSA PKCS#1", &rsaKey.PublicKey, pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))},
		{"RSA PKCS#8", &rsaKey.PublicKey, pkcs8(t, rsaKey)},
		{"ECDSA SEC1", &ecKey.PublicKey, pemBytes("EC PRIVATE KEY", sec1)},
		{"ECDSA PKCS#8", &ecKey.PublicKey, pkcs8(t, ecKey)},
		{"Ed25519 PKCS#8", edKey.Public(), pkcs8(t, edKey)},
	}
	pki := newPKI(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pki.writeClient(t, dir, "second", "PSDFR-ACPR-67890", false)
			cert := pki.issue(t, tt.pub, "PSDFR-ACPR-12345", false)
			writeFile(t, filepath.Join(dir, "certs", "primary.pem"), pemBytes("CERTIFICATE", cert.Raw))
			writeFile(t, filepath.Join(dir, "certs", "primary.key"), tt.keyPEM)
			p, err := Parse([]byte(minimal), "bank.yaml", dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Clients.Primary.OrganizationIdentifier(); got != "PSDFR-ACPR-12345" {
				t.Errorf("organizationIdentifier %q", got)
			}
		})
	}
}

func TestKeyFileProblems(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)
	pki.writeClient(t, dir, "primary", "PSDFR-ACPR-12345", false)
	pki.writeClient(t, dir, "second", "PSDFR-ACPR-67890", false)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"encrypted", encrypted, "encrypted"},
		{"certificate instead", pemBytes("CERTIFICATE", pki.cert.Raw), "found a certificate"},
		{"not PEM", []byte("hello"), "no private key found"},
	}
	for _, tt := range tests {
		writeFile(t, filepath.Join(dir, "certs", "primary.key"), tt.data)
		errs := parseErrs(t, minimal, dir)
		if e := find(t, errs, "clients.primary.key"); !strings.Contains(e.Msg, tt.want) {
			t.Errorf("%s: %q lacks %q", tt.name, e.Msg, tt.want)
		}
	}
}

func TestPKCS12(t *testing.T) {
	const password = "p12-pass-word"
	t.Setenv("STETCONFORM_TEST_P12_PASSWORD", password)
	dir := t.TempDir()
	pki := newPKI(t)
	pki.writeClient(t, dir, "primary", "PSDFR-ACPR-12345", false)
	key := newECKey(t)
	cert := pki.issue(t, &key.PublicKey, "PSDFR-ACPR-67890", false)
	pfx, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{pki.cert}, password)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "certs", "second.p12"), pfx)
	text := strings.Replace(minimal, "    certificate: certs/second.pem\n    key: certs/second.key\n",
		"    pkcs12: certs/second.p12\n    pkcs12_password: ${STETCONFORM_TEST_P12_PASSWORD}\n", 1)

	p, err := Parse([]byte(text), "bank.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	second := p.Clients.Second
	if second.OrganizationIdentifier() != "PSDFR-ACPR-67890" || len(second.TLSCert.Certificate) != 2 || second.TLSCert.PrivateKey == nil {
		t.Errorf("second client not loaded from PKCS#12: %+v", second)
	}
	if second.PKCS12 != filepath.Join(dir, "certs", "second.p12") {
		t.Errorf("pkcs12 path %q not resolved", second.PKCS12)
	}
	if !slices.Contains(p.Secrets, password) {
		t.Errorf("Secrets %q lacks the PKCS#12 password", p.Secrets)
	}

	t.Setenv("STETCONFORM_TEST_P12_PASSWORD", "wrong-guess")
	errs := parseErrs(t, text, dir)
	e := find(t, errs, "clients.second.pkcs12_password")
	if !strings.Contains(e.Msg, "wrong") || strings.Contains(errs.Error(), "wrong-guess") {
		t.Errorf("got %q, want a wrong-password error without the password", e.Msg)
	}
}

func TestValidationReportsEverything(t *testing.T) {
	text := `endpoints:
  authorize: http://bank.example/authorize
  token: https://bank.example/token
  revoke: /revoke
tls:
  min_version: "1.1"
timeouts:
  request: -1s
clients:
  primary:
    certificate: a.pem
    pkcs12: a.p12
    redirect_uri: https://tpp.example/cb#frag
psu:
  driver: robot
  approve:
    - match: "*/login*"
options:
  pkce: maybe
`
	_, err := Decode([]byte(text), "bank.yaml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Decode error = %v, want Errors", err)
	}
	tests := []struct{ field, want, lineOf string }{
		{"name", "is required", ""},
		{"endpoints.authorize", "expected an https URL", "authorize:"},
		{"endpoints.accounts", "is required", "endpoints:"},
		{"endpoints.revoke", "absolute URL", "revoke:"},
		{"tls.min_version", `"1.2" or "1.3"`, "min_version:"},
		{"timeouts.request", "must not be negative", "request:"},
		{"clients.primary.client_id", "is required", "primary:"},
		{"clients.primary.redirect_uri", "fragment", "redirect_uri:"},
		{"clients.primary.pkcs12", "not both", "pkcs12:"},
		{"clients.second", "is required", "clients:"},
		{"psu.driver", "expected form, browser or manual", "driver:"},
		{"psu.approve[0]", "does nothing", "- match:"},
		{"psu.refuse", "is required", "psu:"},
		{"options.pkce", "expected one of none, supported, required", "pkce:"},
	}
	for _, tt := range tests {
		e := find(t, errs, tt.field)
		if !strings.Contains(e.Msg, tt.want) {
			t.Errorf("%s: %q lacks %q", tt.field, e.Msg, tt.want)
		}
		if tt.lineOf != "" && e.Line != lineOfText(t, text, tt.lineOf) {
			t.Errorf("%s: line %d, want %d (%s)", tt.field, e.Line, lineOfText(t, text, tt.lineOf), tt.lineOf)
		}
	}
	if len(errs) != len(tests) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tests), errs)
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != len(errs) {
		t.Errorf("Errors.Error() has %d lines, want one per error", len(lines))
	}
}

func TestYAMLProblems(t *testing.T) {
	tests := []struct {
		name, text, field, want string
		line                    int
	}{
		{"syntax", "name: a\n b: c: d\n", "", "YAML syntax error: mapping values are not allowed", 2},
		{"empty", "", "", "empty", 0},
		{"top is a list", "- a\n", "", "expected a YAML mapping", 1},
		{"duplicate key", "name: a\nname: b\n", "name", "already defined", 2},
		{"duration without unit", "timeouts:\n  connect: 30\n", "timeouts.connect", "expected a duration such as 30s, 2m or 90d, found a number \"30\"", 2},
		{"list for a mapping", "tls:\n  - ca\n", "tls", "expected a mapping", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.text), "bank.yaml")
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v, want Errors", err)
			}
			for _, e := range errs {
				if e.Field == tt.field && e.Line == tt.line && strings.Contains(e.Msg, tt.want) {
					return
				}
			}
			t.Errorf("no error at line %d about %q containing %q in:\n%v", tt.line, tt.field, tt.want, errs)
		})
	}
}

func TestTemplate(t *testing.T) {
	const path = "../../fixtures/banks/template.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(data, "template.yaml")
	if err != nil {
		t.Fatalf("template.yaml does not decode:\n%v", err)
	}
	if p.Clients.Second.PKCS12 == "" || p.Clients.Expired == nil || p.Options.CodeLifetime != 5*time.Minute || p.Options.ScopeAtToken != "either" {
		t.Errorf("template decoded unexpectedly: %+v", p)
	}

	// With its variables set, Parse finds nothing wrong but the certificate files that a
	// real bank's engineer provides.
	for _, v := range []string{"TPP_B_P12_PASSWORD", "PSU_ID", "PSU_PASSWORD"} {
		t.Setenv(v, "value-of-"+v)
	}
	_, err = Parse(data, "template.yaml", t.TempDir())
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error %v, want missing files", err)
	}
	for _, e := range errs {
		if !strings.Contains(e.Msg, "does not exist") {
			t.Errorf("unexpected error: %v", e)
		}
	}
	if len(errs) != 8 {
		t.Errorf("got %d missing files, want 8 (ca and 7 client files):\n%v", len(errs), errs)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{"bank.yaml", 15, "clients.primary.certificate", "file certs/a.pem does not exist"}, "bank.yaml:15: clients.primary.certificate: file certs/a.pem does not exist"},
		{Error{"bank.yaml", 0, "name", "is required"}, "bank.yaml: name: is required"},
		{Error{"", 3, "", "bad"}, "line 3: bad"},
		{Error{"", 0, "", "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	var none *Client
	tests := []struct {
		c    *Client
		want string
	}{
		{&Client{Name: "primary", ClientID: "PSDFR-ACPR-12345"}, "primary (PSDFR-ACPR-12345)"},
		{&Client{ClientID: "PSDFR-ACPR-12345"}, "PSDFR-ACPR-12345"},
		{none, "no client"},
	}
	for _, tt := range tests {
		if got := tt.c.Describe(); got != tt.want {
			t.Errorf("Describe() = %q, want %q", got, tt.want)
		}
	}
	if none.OrganizationIdentifier() != "" {
		t.Error("nil client has an organizationIdentifier")
	}
}

func TestMisspeltSectionReportedOnce(t *testing.T) {
	text := strings.Replace(minimal, "endpoints:", "endpoint:", 1)
	_, err := Decode([]byte(text), "bank.yaml")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Field != "endpoint" || !strings.Contains(errs[0].Msg, "did you mean endpoints?") {
		t.Errorf("got %v, want one error suggesting endpoints", err)
	}
}

// Where names the line of a field, or of its closest parent, so that later checks (profile
// check) can point at the file without reading it again.
func TestWhere(t *testing.T) {
	t.Setenv("STETCONFORM_TEST_PSU_PASSWORD", testPassword)
	dir, _ := validDir(t)
	path := filepath.Join(dir, "bank.yaml")
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for field, line := range map[string]int{
		"clients.primary":             21,
		"clients.primary.certificate": 23,
		"clients.primary.not_there":   21, // the closest parent
	} {
		if got, want := p.Where(field), fmt.Sprintf("%s:%d", path, line); got != want {
			t.Errorf("Where(%q) = %q, want %q", field, got, want)
		}
	}
	if got := (&Profile{}).Where("name"); got != "" {
		t.Errorf("a profile not read from a file gives %q, want none", got)
	}
}

// A selector that the PSU drivers would not both understand is found when the profile is
// read, before any journey, with the file, the line and the step.
func TestPSUSelectors(t *testing.T) {
	t.Setenv("STETCONFORM_TEST_SELECTOR", "p:contains(Accept)")
	text := strings.Replace(minimal, "  driver: manual\n", `  driver: form
  approve:
    - match: "*/login*"
      fill:
        "input[name^=psu], #pin": psu1
        "input:focus": secret-1
      press: "form#login button[type=submit]:not([disabled])"
    - wait_for: "div > form + p ~ button:first-of-type"
      press: "form >> button"
  refuse:
    - wait_for: "[name=x"
      press: ${STETCONFORM_TEST_SELECTOR}
`, 1)
	tests := []struct{ field, msg, lineOf string }{
		{"psu.approve[0].fill", `selector "input:focus": :focus is about a live page's state: it never matches in the form driver`, `"input:focus"`},
		{"psu.approve[1].press", `selector "form >> button" is not valid CSS: `, `press: "form >> button"`},
		{"psu.refuse[0].wait_for", `selector "[name=x" is not valid CSS: `, `wait_for: "[name=x"`},
		{"psu.refuse[0].press", "the selector, a value from the environment, is not one both PSU drivers understand", "${STETCONFORM_TEST_SELECTOR}"},
	}
	for _, decode := range []bool{false, true} {
		var err error
		if decode {
			_, err = Decode([]byte(text), "bank.yaml")
		} else {
			_, err = Parse([]byte(text), "bank.yaml", t.TempDir())
		}
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error %v, want Errors", err)
		}
		var selErrs Errors
		for _, e := range errs {
			if strings.HasPrefix(e.Field, "psu.") {
				selErrs = append(selErrs, e)
			}
		}
		want := tests
		if decode { // ${...} is not expanded: the selector is not known
			want = tests[:3]
		}
		if len(selErrs) != len(want) {
			t.Errorf("decode=%v: %d errors about the PSU scripts, want %d:\n%v", decode, len(selErrs), len(want), selErrs)
		}
		for _, tt := range want {
			e := find(t, selErrs, tt.field)
			line := lineOfText(t, text, tt.lineOf)
			if got, prefix := e.Error(), fmt.Sprintf("bank.yaml:%d: %s: ", line, tt.field); !strings.HasPrefix(got, prefix) || !strings.Contains(got, tt.msg) {
				t.Errorf("decode=%v: error %q, want %q followed by %q", decode, got, prefix, tt.msg)
			}
		}
		if strings.Contains(errs.Error(), "contains(Accept)") {
			t.Errorf("a value from the environment is in the errors:\n%v", errs)
		}
	}
}
