package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signingYAML turns testdata/valid.yaml into a profile that declares signing, with a
// QSealC for each client that calls the bank's resources (one of them missing when drop
// names it).
func signingYAML(t *testing.T, dir, drop, keyID string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "bank.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, name := range []string{"primary", "second"} {
		if name == drop {
			continue
		}
		anchor := "    key: certs/" + name + ".key\n"
		text = strings.Replace(text, anchor, anchor+"    qsealc:\n      certificate: certs/"+name+"-seal.pem\n      key: certs/"+name+"-seal.key\n      key_id: "+keyID+"\n", 1)
	}
	return text + "\nsigning:\n  required: true\n  headers: [\"(request-target)\", Date, digest, x-request-id, psu-ip-address]\n"
}

func TestSigning(t *testing.T) {
	t.Setenv("STETCONFORM_TEST_PSU_PASSWORD", testPassword)
	dir, pki := validDir(t)
	pki.writeClient(t, dir, "primary-seal", "PSDFR-ACPR-12345", false)
	pki.writeClient(t, dir, "second-seal", "PSDFR-ACPR-67890", false)

	p, err := Parse([]byte(signingYAML(t, dir, "", "https://tpp.example/qsealc.pem")), filepath.Join(dir, "bank.yaml"), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.Signing.Algorithm != "rsa-sha256" || !p.Signing.Required || !p.Signing.SignsResourceCalls() || p.Signing.SignsTokenRequests() {
		t.Errorf("signing = %+v, want rsa-sha256 by default, required, resource calls only", p.Signing)
	}
	if got := strings.Join(p.Signing.Headers, " "); got != "(request-target) date digest x-request-id psu-ip-address" {
		t.Errorf("headers %q, want them lower case", got)
	}
	s := p.Signer(p.Clients.Primary)
	if s == nil || s.KeyID != "https://tpp.example/qsealc.pem" || s.Key == nil {
		t.Fatalf("Signer(primary) = %+v", s)
	}
	if p.Signer(p.Clients.Expired) != nil {
		t.Error("a client without a QSealC has a signer")
	}

	errs := parseErrs(t, signingYAML(t, dir, "second", "not a url"), dir)
	if e := find(t, errs, "clients.second"); !strings.Contains(e.Msg, "needs a qsealc") {
		t.Errorf("missing qsealc: %v", e)
	}
	if e := find(t, errs, "clients.primary.qsealc.key_id"); !strings.Contains(e.Msg, "expected the URL where the QSealC is published") {
		t.Errorf("bad key_id: %v", e)
	}
}
