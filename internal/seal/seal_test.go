package seal

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

func testPKI(t *testing.T) (*eidas.TestPKI, string) {
	t.Helper()
	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return pki, dir
}

func pool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := profile.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// TestSealAndVerify: a report sealed with the TPP's QSealC (PEM files, loaded as the
// profile loads them) verifies against the QTSP's CA and names its signer and time; a
// changed byte, or another CA, fails.
func TestSealAndVerify(t *testing.T) {
	_, dir := testPKI(t)
	cert, err := profile.LoadKeyPair(filepath.Join(dir, eidas.FileTPPASealCert), filepath.Join(dir, eidas.FileTPPASealKey), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(cert)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Second).UTC()
	s.clock = func() time.Time { return at }
	report := filepath.Join(t.TempDir(), "report.json")
	payload := []byte(`{"summary":{"outcome":"NOT COMPLIANT"}}` + "\n")
	if err := os.WriteFile(report, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := s.SignFile(report)
	if err != nil || out != report+".jws" {
		t.Fatalf("SignFile: %q, %v", out, err)
	}
	jws, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(strings.TrimSpace(string(jws)), "."); len(parts) != 3 || parts[1] != "" {
		t.Fatalf("not a detached compact JWS: %q", jws)
	}

	got, err := Verify(payload, string(jws), pool(t, filepath.Join(dir, eidas.FileCA)))
	if err != nil {
		t.Fatal(err)
	}
	if got.OrganizationIdentifier != eidas.OrgTPPA || !got.SignedAt.Equal(at) || got.Algorithm != "ES256" || !strings.Contains(got.Who(), "organizationIdentifier "+eidas.OrgTPPA) {
		t.Errorf("sealed: %+v (%s)", got, got.Who())
	}

	changed := []byte(strings.Replace(string(payload), "NOT COMPLIANT", "COMPLIANT    ", 1))
	if _, err := Verify(changed, string(jws), pool(t, filepath.Join(dir, eidas.FileCA))); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "does not match the file") {
		t.Errorf("a changed report verified: %v", err)
	}
	flipped := append([]byte{}, payload...)
	flipped[3] ^= 1
	if _, err := Verify(flipped, string(jws), pool(t, filepath.Join(dir, eidas.FileCA))); !errors.Is(err, ErrInvalid) {
		t.Errorf("a flipped bit verified: %v", err)
	}

	_, err = Verify(payload, string(jws), pool(t, filepath.Join(dir, eidas.FileUntrustedCA)))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "does not chain to the CA given") {
		t.Errorf("verified against the wrong CA: %v", err)
	}
	if _, err := Verify(payload, "not a jws", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("garbage verified: %v", err)
	}
}

// TestSealWithPKCS12: a PKCS#12 file (leaf and CA inside) seals too, its chain in x5c.
func TestSealWithPKCS12(t *testing.T) {
	pki, dir := testPKI(t)
	p12, err := pkcs12.Modern.Encode(pki.TPPASeal.Key, pki.TPPASeal.Cert, []*x509.Certificate{pki.CA.Cert}, "secret")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "seal.p12")
	if err := os.WriteFile(file, p12, 0o600); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"pkcs12_password": "$STETCONFORM_SIGN_PASSWORD"}
	if _, err := profile.LoadKeyPair("", "", file, "wrong", names); err == nil || !strings.Contains(err.Error(), "$STETCONFORM_SIGN_PASSWORD: does not open") {
		t.Errorf("wrong password: %v", err)
	}
	cert, err := profile.LoadKeyPair("", "", file, "secret", names)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(cert)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify([]byte("{}"), jws, pool(t, filepath.Join(dir, eidas.FileCA)))
	if err != nil || len(got.Chain) != 2 {
		t.Fatalf("verify: %v, %+v", err, got)
	}
}
