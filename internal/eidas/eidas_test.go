package eidas

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	pkiOnce sync.Once
	pkiVal  *TestPKI
	pkiErr  error
	pkiNow  = time.Now()
)

// testPKI builds the test PKI once per test binary: every test reads it, none changes it.
func testPKI(t *testing.T) *TestPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = NewTestPKI(pkiNow) })
	if pkiErr != nil {
		t.Fatalf("NewTestPKI: %v", pkiErr)
	}
	return pkiVal
}

func TestTPPCertificatesRoundTrip(t *testing.T) {
	p := testPKI(t)
	tests := []struct {
		name   string
		kp     *KeyPair
		org    string
		roles  []Role
		issuer *Authority
	}{
		{"TPP A", p.TPPA, OrgTPPA, []Role{RolePSPAI, RolePSPIC}, p.CA},
		{"TPP B", p.TPPB, OrgTPPB, []Role{RolePSPAI, RolePSPIC}, p.CA},
		{"TPP without PSP_AI", p.TPPNoRole, OrgTPPNoRole, []Role{RolePSPIC}, p.CA},
		{"TPP without PSP_IC", p.TPPNoIC, OrgTPPNoIC, []Role{RolePSPAI}, p.CA},
		{"TPP A expired", p.TPPAExpired, OrgTPPA, []Role{RolePSPAI, RolePSPIC}, p.CA},
		{"TPP A untrusted", p.TPPAUntrusted, OrgTPPA, []Role{RolePSPAI, RolePSPIC}, p.Untrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.kp.Cert
			if got := OrganizationIdentifier(c); got != tc.org {
				t.Errorf("OrganizationIdentifier = %q, want %q", got, tc.org)
			}
			psd2, err := ParsePSD2(c)
			if err != nil {
				t.Fatalf("ParsePSD2: %v", err)
			}
			if !slices.Equal(psd2.Roles, tc.roles) {
				t.Errorf("roles = %v, want %v", psd2.Roles, tc.roles)
			}
			if psd2.NCAName != TestNCAName || psd2.NCAID != TestNCAID {
				t.Errorf("NCA = %q/%q, want %q/%q", psd2.NCAName, psd2.NCAID, TestNCAName, TestNCAID)
			}
			for _, r := range []Role{RolePSPAS, RolePSPPI, RolePSPAI, RolePSPIC} {
				if got, want := HasRole(c, r), slices.Contains(tc.roles, r); got != want {
					t.Errorf("HasRole(%s) = %v, want %v", r, got, want)
				}
			}
			if !IsQWAC(c) {
				t.Error("IsQWAC = false, want true")
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("ExtKeyUsage = %v, want serverAuth and clientAuth", c.ExtKeyUsage)
			}
			qcpw, _ := x509.OIDFromInts(oidInts(OIDPolicyQCPWeb))
			if !slices.ContainsFunc(c.Policies, qcpw.Equal) {
				t.Errorf("Policies = %v, want QCP-w %v", c.Policies, OIDPolicyQCPWeb)
			}
			if err := c.CheckSignatureFrom(tc.issuer.Cert); err != nil {
				t.Errorf("not signed by %s: %v", tc.issuer.Cert.Subject.CommonName, err)
			}
		})
	}
}

func TestPSD2StatementUsesUTF8String(t *testing.T) {
	der, err := marshalPSD2(&PSD2{Roles: []Role{RolePSPAI}, NCAName: "N", NCAID: "FR-X"})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Roles, Name, ID asn1.RawValue }
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		t.Fatal(err)
	}
	var role struct{ OID, Name asn1.RawValue }
	if _, err := asn1.Unmarshal(raw.Roles.Bytes, &role); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]asn1.RawValue{"role name": role.Name, "NCA name": raw.Name, "NCA id": raw.ID} {
		if v.Tag != asn1.TagUTF8String {
			t.Errorf("%s has ASN.1 tag %d, want UTF8String (%d)", name, v.Tag, asn1.TagUTF8String)
		}
	}
}

// printablePSD2 mirrors psd2QcType without the utf8 tags, so it encodes PrintableString.
type printablePSD2 struct {
	Roles []struct {
		OID  asn1.ObjectIdentifier
		Name string
	}
	NCAName, NCAID string
}

// customCert signs a certificate built from tmpl by a, for encodings IssueQWAC never makes.
func customCert(t *testing.T, a *Authority, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber, _ = newSerial()
	tmpl.NotBefore, tmpl.NotAfter = pkiNow.Add(-time.Hour), pkiNow.Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseToleratesOtherEncodings(t *testing.T) {
	p := testPKI(t)

	printable := printablePSD2{NCAName: "Some NCA", NCAID: "FR-ACPR"}
	printable.Roles = append(printable.Roles, struct {
		OID  asn1.ObjectIdentifier
		Name string
	}{roleOIDs[RolePSPPI], "PSP_PI"})
	info, err := asn1.Marshal(printable)
	if err != nil {
		t.Fatal(err)
	}
	qc, err := asn1.Marshal([]qcStatement{{ID: OIDPSD2Statement, Info: asn1.RawValue{FullBytes: info}}})
	if err != nil {
		t.Fatal(err)
	}
	utf8OrgID := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte("PSDFR-ACPR-99999")}

	c := customCert(t, p.CA, &x509.Certificate{
		Subject: pkix.Name{CommonName: "utf8", ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: OIDOrganizationIdentifier, Value: utf8OrgID},
		}},
		ExtraExtensions: []pkix.Extension{{Id: OIDQCStatements, Value: qc}},
	})
	if got := OrganizationIdentifier(c); got != "PSDFR-ACPR-99999" {
		t.Errorf("UTF8String organizationIdentifier = %q, want PSDFR-ACPR-99999", got)
	}
	psd2, err := ParsePSD2(c)
	if err != nil {
		t.Fatalf("ParsePSD2 with PrintableString fields: %v", err)
	}
	if !slices.Equal(psd2.Roles, []Role{RolePSPPI}) || psd2.NCAName != "Some NCA" || psd2.NCAID != "FR-ACPR" {
		t.Errorf("ParsePSD2 = %+v", psd2)
	}
	if IsQWAC(c) {
		t.Error("IsQWAC = true without QcCompliance, want false")
	}

	// IssueQWAC leaves the default PrintableString (tag 0x13) for the organizationIdentifier.
	if !bytes.Contains(p.TPPA.Cert.RawSubject, []byte{0x06, 0x03, 0x55, 0x04, 0x61, 0x13}) {
		t.Errorf("TPP A subject has no PrintableString organizationIdentifier: %x", p.TPPA.Cert.RawSubject)
	}
}

func TestNoPSD2Statement(t *testing.T) {
	p := testPKI(t)
	noPSD2, err := p.CA.IssueQWAC(QWACRequest{
		CommonName: "x", NotBefore: pkiNow.Add(-time.Hour), NotAfter: pkiNow.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		c      *x509.Certificate
		isQWAC bool
	}{
		{"server cert without qcStatements", p.Server.Cert, false},
		{"QWAC without PSD2 statement", noPSD2.Cert, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePSD2(tc.c); !errors.Is(err, ErrNoPSD2Statement) {
				t.Errorf("ParsePSD2 error = %v, want ErrNoPSD2Statement", err)
			}
			if HasRole(tc.c, RolePSPAI) {
				t.Error("HasRole(PSP_AI) = true, want false")
			}
			if got := OrganizationIdentifier(tc.c); got != "" {
				t.Errorf("OrganizationIdentifier = %q, want empty", got)
			}
			if got := IsQWAC(tc.c); got != tc.isQWAC {
				t.Errorf("IsQWAC = %v, want %v", got, tc.isQWAC)
			}
		})
	}
}

func TestMalformedPSD2Statement(t *testing.T) {
	p := testPKI(t)
	qc, _ := asn1.Marshal([]qcStatement{{ID: OIDPSD2Statement, Info: asn1.RawValue{FullBytes: []byte{0x05, 0x00}}}})
	c := customCert(t, p.CA, &x509.Certificate{
		Subject:         pkix.Name{CommonName: "bad"},
		ExtraExtensions: []pkix.Extension{{Id: OIDQCStatements, Value: qc}},
	})
	if _, err := ParsePSD2(c); err == nil || errors.Is(err, ErrNoPSD2Statement) {
		t.Errorf("ParsePSD2 error = %v, want a decoding error", err)
	}
	if !strings.Contains(Describe(c), "malformed PSD2 statement") {
		t.Errorf("Describe = %q, want it to say malformed", Describe(c))
	}
}

func TestIssueQWACRejectsBadRequests(t *testing.T) {
	p := testPKI(t)
	from, to := pkiNow, pkiNow.Add(time.Hour)
	tests := []struct {
		name string
		req  QWACRequest
	}{
		{"no common name", QWACRequest{NotBefore: from, NotAfter: to}},
		{"notAfter before notBefore", QWACRequest{CommonName: "x", NotBefore: to, NotAfter: from}},
		{"unknown role", QWACRequest{CommonName: "x", NotBefore: from, NotAfter: to,
			PSD2: &PSD2{Roles: []Role{"PSP_XX"}, NCAName: "n", NCAID: "i"}}},
		{"no roles", QWACRequest{CommonName: "x", NotBefore: from, NotAfter: to,
			PSD2: &PSD2{NCAName: "n", NCAID: "i"}}},
		{"no NCA id", QWACRequest{CommonName: "x", NotBefore: from, NotAfter: to,
			PSD2: &PSD2{Roles: []Role{RolePSPAI}, NCAName: "n"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.CA.IssueQWAC(tc.req); err == nil {
				t.Error("IssueQWAC succeeded, want an error")
			}
		})
	}
}

func TestTPPAVerifiesForClientAuth(t *testing.T) {
	p := testPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.CA.Cert)
	if _, err := p.TPPA.Cert.Verify(x509.VerifyOptions{
		Roots: roots, CurrentTime: pkiNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		t.Fatalf("TPP A does not verify for client auth: %v", err)
	}
}

func TestVerifyClient(t *testing.T) {
	p := testPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.CA.Cert)
	tests := []struct {
		name  string
		chain []*x509.Certificate
		check func(error) bool // nil: must succeed
	}{
		{"TPP A", []*x509.Certificate{p.TPPA.Cert}, nil},
		{"TPP B", []*x509.Certificate{p.TPPB.Cert}, nil},
		{"TPP without PSP_AI still verifies", []*x509.Certificate{p.TPPNoRole.Cert}, nil},
		{"expired", []*x509.Certificate{p.TPPAExpired.Cert}, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{"untrusted root", []*x509.Certificate{p.TPPAUntrusted.Cert}, func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
		{"server cert lacks clientAuth", []*x509.Certificate{p.Server.Cert}, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.IncompatibleUsage
		}},
		{"empty chain", nil, func(err error) bool { return err != nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyClient(tc.chain, roots, pkiNow)
			switch {
			case tc.check == nil && err != nil:
				t.Errorf("VerifyClient: %v", err)
			case tc.check != nil && !tc.check(err):
				t.Errorf("VerifyClient error = %v, not the expected kind", err)
			}
		})
	}
	if err := VerifyClient([]*x509.Certificate{p.TPPA.Cert}, roots, pkiNow.AddDate(2, 0, 0)); err == nil {
		t.Error("VerifyClient two years later succeeded, want expiry")
	}
}

func TestServerCertificate(t *testing.T) {
	p := testPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.CA.Cert)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			if _, err := p.Server.Cert.Verify(x509.VerifyOptions{
				Roots: roots, CurrentTime: pkiNow, DNSName: host,
			}); err != nil {
				t.Errorf("server cert does not verify for %s: %v", host, err)
			}
		})
	}
	if _, err := p.Server.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: pkiNow, DNSName: "example.com"}); err == nil {
		t.Error("server cert verifies for example.com, want a hostname error")
	}
}

// TestMutualTLSHandshake runs a real in-memory handshake: bank server cert, TPP A as client.
func TestMutualTLSHandshake(t *testing.T) {
	p := testPKI(t)
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	cConn, sConn := net.Pipe()
	defer cConn.Close()
	defer sConn.Close()
	deadline := time.Now().Add(5 * time.Second)
	cConn.SetDeadline(deadline)
	sConn.SetDeadline(deadline)

	srv := tls.Server(sConn, &tls.Config{
		Certificates: []tls.Certificate{p.Server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	cli := tls.Client(cConn, &tls.Config{
		Certificates: []tls.Certificate{p.TPPA.TLSCertificate()},
		RootCAs:      pool,
		ServerName:   "localhost",
	})
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	peers := srv.ConnectionState().PeerCertificates
	if len(peers) == 0 || OrganizationIdentifier(peers[0]) != OrgTPPA {
		t.Fatalf("server saw peer %v, want TPP A", peers)
	}
}

func TestDescribe(t *testing.T) {
	p := testPKI(t)
	date := p.TPPA.Cert.NotAfter.UTC().Format(time.DateOnly)
	tests := []struct {
		name string
		c    *x509.Certificate
		want string
	}{
		{"TPP A", p.TPPA.Cert, "PSDFR-ACPR-12345 (Test TPP A SAS; roles PSP_AI,PSP_IC; expires " + date + ")"},
		{"server", p.Server.Cert, "127.0.0.1 (stetconform reference bank; no PSD2 roles; expires " +
			p.Server.Cert.NotAfter.UTC().Format(time.DateOnly) + ")"},
		{"nil", nil, "(no certificate)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Describe(tc.c); got != tc.want {
				t.Errorf("Describe = %q, want %q", got, tc.want)
			}
		})
	}
}

var allFiles = []string{
	FileCA, FileUntrustedCA, FileServerCert, FileServerKey, FileTPPACert, FileTPPAKey,
	FileTPPBCert, FileTPPBKey, FileTPPNoRoleCert, FileTPPNoRoleKey,
	FileTPPAExpiredCert, FileTPPAExpiredKey, FileTPPAUntrustedCert, FileTPPAUntrustedKey,
	FileTPPASealCert, FileTPPASealKey, FileTPPBSealCert, FileTPPBSealKey, FileTPPNoRoleSealCert, FileTPPNoRoleSealKey,
	FileTPPNoICCert, FileTPPNoICKey, FileTPPNoICSealCert, FileTPPNoICSealKey,
}

// writtenDir writes the test PKI into a fresh directory.
func writtenDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := testPKI(t).WriteDir(dir); err != nil {
		t.Fatalf("WriteDir: %v", err)
	}
	return dir
}

func TestWriteDir(t *testing.T) {
	dir := writtenDir(t)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v (err %v), want 0700", fi.Mode().Perm(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(allFiles) {
		t.Errorf("WriteDir wrote %d files, want %d", len(entries), len(allFiles))
	}
	for _, name := range allFiles {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	kp, err := tls.LoadX509KeyPair(filepath.Join(dir, FileTPPACert), filepath.Join(dir, FileTPPAKey))
	if err != nil {
		t.Fatalf("LoadX509KeyPair(tpp-a): %v", err)
	}
	if len(kp.Certificate) != 1 || OrganizationIdentifier(kp.Leaf) != OrgTPPA {
		t.Errorf("tpp-a.pem holds %d certificates, leaf %s; want only TPP A", len(kp.Certificate), Describe(kp.Leaf))
	}

	// Rewriting over a key file that was made world-readable restores 0600.
	keyPath := filepath.Join(dir, FileServerKey)
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testPKI(t).WriteDir(dir); err != nil {
		t.Fatalf("second WriteDir: %v", err)
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("rewritten key mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenSSLAcceptsQWAC(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	dir := writtenDir(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	text := run("x509", "-noout", "-text", "-in", FileTPPACert)
	if !regexp.MustCompile(`(organizationIdentifier|2\.5\.4\.97) ?= ?PSDFR-ACPR-12345`).MatchString(text) {
		t.Errorf("openssl x509 -text does not show organizationIdentifier = %s:\n%s", OrgTPPA, text)
	}
	if !strings.Contains(text, "0.4.0.194112.1.4") {
		t.Errorf("openssl x509 -text does not show the QCP-w policy:\n%s", text)
	}
	out := run("verify", "-CAfile", FileCA, "-purpose", "sslclient", FileTPPACert)
	if !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify = %q, want OK", out)
	}
	// The expired certificate must not verify; openssl exits non-zero for it.
	cmd := exec.Command(openssl, "verify", "-CAfile", FileCA, "-purpose", "sslclient", FileTPPAExpiredCert)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("openssl verify accepted the expired certificate: %s", out)
	}
}

// A QSealC carries the TPP's identity like its QWAC, declares QcType eseal, and is not a
// TLS certificate; openssl reads it.
func TestQSealC(t *testing.T) {
	pki, err := NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seal, qwac := pki.TPPASeal.Cert, pki.TPPA.Cert
	if !IsQSealC(seal) || IsQWAC(seal) {
		t.Errorf("QSealC: IsQSealC %v, IsQWAC %v; want true, false", IsQSealC(seal), IsQWAC(seal))
	}
	if IsQSealC(qwac) {
		t.Error("a QWAC passes for a QSealC")
	}
	if got := OrganizationIdentifier(seal); got != OrgTPPA {
		t.Errorf("organizationIdentifier %q, want %q", got, OrgTPPA)
	}
	if len(seal.ExtKeyUsage) != 0 {
		t.Errorf("extended key usages %v: a QSealC is not for TLS", seal.ExtKeyUsage)
	}
	if _, err := seal.Verify(x509.VerifyOptions{Roots: poolOf(pki.CA.Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("the QSealC does not chain to the test QTSP: %v", err)
	}
	if p, err := ParsePSD2(seal); err != nil || len(p.Roles) == 0 {
		t.Errorf("PSD2 statement: %v %v", p, err)
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
