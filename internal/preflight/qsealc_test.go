package preflight

import (
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

// profile check judges each QSealC as a bank does: a seal (not a QWAC), valid, of the
// same TPP as the QWAC it goes with.
func TestQSealC(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	expired, err := f.pki.CA.IssueQSealC(eidas.QWACRequest{CommonName: "tpp-a.localhost", OrganizationIdentifier: eidas.OrgTPPA,
		PSD2:      &eidas.PSD2{Roles: []eidas.Role{eidas.RolePSPAI}, NCAName: eidas.TestNCAName, NCAID: eidas.TestNCAID},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		seal *eidas.KeyPair
		want expect
	}{
		{"the TPP's own seal", f.pki.TPPASeal, expect{OK, []string{"clients.primary.qsealc.certificate: QSealC PSDFR-ACPR-12345", "published at https://tpp.example/qsealc.pem"}}},
		{"another TPP's seal", f.pki.TPPBSeal, expect{Fail, []string{`organizationIdentifier "PSDFR-ACPR-67890" is not the QWAC's "PSDFR-ACPR-12345"`}}},
		{"a QWAC for a seal", f.pki.TPPA, expect{Fail, []string{"is not a QSealC: it lacks the QcCompliance and QcType eseal statements"}}},
		{"an expired seal", expired, expect{Fail, []string{"the QSealC expired on"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := f.load(t, "https://bank.example", "", defaultClients())
			p.Clients.Primary.QSealC = &profile.QSealC{KeyID: "https://tpp.example/qsealc.pem", Leaf: tc.seal.Cert, Cert: tc.seal.TLSCertificate()}
			p.Signing = &profile.Signing{Required: true, Algorithm: "ecdsa-sha256", Headers: []string{"(request-target)", "date", "digest", "x-request-id"}}
			got := Static(p, now)
			if !has(got, tc.want) {
				t.Errorf("missing %s in:%s", tc.want, dump(got))
			}
			if !has(got, expect{OK, []string{"signing: resource calls signed with ecdsa-sha256", "SIG-01 is checked"}}) {
				t.Errorf("missing the signing line in:%s", dump(got))
			}
		})
	}
}
