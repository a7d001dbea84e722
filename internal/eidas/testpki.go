package eidas

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Authorization Numbers of the test TPPs.
const (
	OrgTPPA      = "PSDFR-ACPR-12345"
	OrgTPPB      = "PSDFR-ACPR-67890"
	OrgTPPNoRole = "PSDFR-ACPR-11111"
	OrgTPPNoIC   = "PSDFR-ACPR-22222"
)

// The NCA named in the test TPPs' PSD2 statements.
const (
	TestNCAName = "Autorite de Controle Prudentiel et de Resolution"
	TestNCAID   = "FR-ACPR"
)

// File names WriteDir uses inside its directory.
const (
	FileCA                = "ca.pem"
	FileUntrustedCA       = "untrusted-ca.pem"
	FileServerCert        = "server.pem"
	FileServerKey         = "server.key"
	FileTPPACert          = "tpp-a.pem"
	FileTPPAKey           = "tpp-a.key"
	FileTPPBCert          = "tpp-b.pem"
	FileTPPBKey           = "tpp-b.key"
	FileTPPNoRoleCert     = "tpp-norole.pem"
	FileTPPNoRoleKey      = "tpp-norole.key"
	FileTPPAExpiredCert   = "tpp-a-expired.pem"
	FileTPPAExpiredKey    = "tpp-a-expired.key"
	FileTPPAUntrustedCert = "tpp-a-untrusted.pem"
	FileTPPAUntrustedKey  = "tpp-a-untrusted.key"
	FileTPPASealCert      = "tpp-a-qsealc.pem"
	FileTPPASealKey       = "tpp-a-qsealc.key"
	FileTPPBSealCert      = "tpp-b-qsealc.pem"
	FileTPPBSealKey       = "tpp-b-qsealc.key"
	FileTPPNoRoleSealCert = "tpp-norole-qsealc.pem"
	FileTPPNoRoleSealKey  = "tpp-norole-qsealc.key"
	FileTPPNoICCert       = "tpp-noic.pem"
	FileTPPNoICKey        = "tpp-noic.key"
	FileTPPNoICSealCert   = "tpp-noic-qsealc.pem"
	FileTPPNoICSealKey    = "tpp-noic-qsealc.key"
)

// TestPKI is the whole test PKI used by the reference bank and the suite's own tests.
type TestPKI struct {
	CA            *Authority // trusted test QTSP root
	Untrusted     *Authority // a second root the bank does NOT trust
	Server        *KeyPair   // bank server cert for 127.0.0.1, ::1 and localhost, issued by CA
	TPPA          *KeyPair   // OrgTPPA, roles PSP_AI and PSP_IC
	TPPB          *KeyPair   // OrgTPPB, roles PSP_AI and PSP_IC
	TPPNoRole     *KeyPair   // OrgTPPNoRole, PSP_IC only (registered TPP lacking PSP_AI)
	TPPNoIC       *KeyPair   // OrgTPPNoIC, PSP_AI only (registered TPP lacking PSP_IC: no cbpii)
	TPPAExpired   *KeyPair   // TPP A's identity and roles, validity ended 24 h before now
	TPPAUntrusted *KeyPair   // TPP A's identity and roles, issued by Untrusted
	// The TPPs' QSealCs (same identity as their QWACs), for signed requests.
	TPPASeal, TPPBSeal, TPPNoRoleSeal, TPPNoICSeal *KeyPair
}

// NewTestPKI builds the test PKI around now. Valid leaves run from now-1h to now+1 year; the
// roots from now-7 days (so that the expired leaf, now-48h .. now-24h, lies inside its
// issuer's validity) to now+10 years.
func NewTestPKI(now time.Time) (*TestPKI, error) {
	caFrom, caTo := now.Add(-7*24*time.Hour), now.AddDate(10, 0, 0)
	from, to := now.Add(-time.Hour), now.AddDate(1, 0, 0)

	var p TestPKI
	var err error
	if p.CA, err = NewAuthority("stetconform Test QTSP Root CA", caFrom, caTo); err != nil {
		return nil, err
	}
	if p.Untrusted, err = NewAuthority("stetconform Untrusted Root CA", caFrom, caTo); err != nil {
		return nil, err
	}
	if p.Server, err = p.CA.IssueServer([]string{"127.0.0.1", "::1", "localhost"}, from, to); err != nil {
		return nil, err
	}

	tpp := func(org, name, cn string, roles ...Role) QWACRequest {
		return QWACRequest{
			CommonName:             cn,
			Organization:           name,
			Country:                "FR",
			OrganizationIdentifier: org,
			PSD2:                   &PSD2{Roles: roles, NCAName: TestNCAName, NCAID: TestNCAID},
			NotBefore:              from,
			NotAfter:               to,
			DNSNames:               []string{cn},
		}
	}
	reqA := tpp(OrgTPPA, "Test TPP A SAS", "tpp-a.localhost", RolePSPAI, RolePSPIC)
	if p.TPPA, err = p.CA.IssueQWAC(reqA); err != nil {
		return nil, err
	}
	// TPP B holds both roles, as many aggregators do: the second TPP of the checks that a
	// token of either role is bound to its certificate (BEARER-06 for aisp and cbpii).
	reqB := tpp(OrgTPPB, "Test TPP B SAS", "tpp-b.localhost", RolePSPAI, RolePSPIC)
	if p.TPPB, err = p.CA.IssueQWAC(reqB); err != nil {
		return nil, err
	}
	if p.TPPNoRole, err = p.CA.IssueQWAC(tpp(OrgTPPNoRole, "Test TPP NoRole SAS", "tpp-norole.localhost", RolePSPIC)); err != nil {
		return nil, err
	}
	reqNoIC := tpp(OrgTPPNoIC, "Test TPP NoIC SAS", "tpp-noic.localhost", RolePSPAI)
	if p.TPPNoIC, err = p.CA.IssueQWAC(reqNoIC); err != nil {
		return nil, err
	}
	expired := reqA
	expired.NotBefore, expired.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	if p.TPPAExpired, err = p.CA.IssueQWAC(expired); err != nil {
		return nil, err
	}
	if p.TPPAUntrusted, err = p.Untrusted.IssueQWAC(reqA); err != nil {
		return nil, err
	}
	if p.TPPASeal, err = p.CA.IssueQSealC(reqA); err != nil {
		return nil, err
	}
	if p.TPPBSeal, err = p.CA.IssueQSealC(reqB); err != nil {
		return nil, err
	}
	if p.TPPNoRoleSeal, err = p.CA.IssueQSealC(tpp(OrgTPPNoRole, "Test TPP NoRole SAS", "tpp-norole.localhost", RolePSPIC)); err != nil {
		return nil, err
	}
	if p.TPPNoICSeal, err = p.CA.IssueQSealC(reqNoIC); err != nil {
		return nil, err
	}
	return &p, nil
}

// WriteDir writes the PKI as PEM files with the File* names into dir, created 0700 if
// missing. Key files are 0600 (also when they already existed), certificates 0644.
func (p *TestPKI) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("eidas: creating PKI directory: %w", err)
	}
	pairs := []struct {
		kp            *KeyPair
		cert, keyFile string
	}{
		{p.Server, FileServerCert, FileServerKey},
		{p.TPPA, FileTPPACert, FileTPPAKey},
		{p.TPPB, FileTPPBCert, FileTPPBKey},
		{p.TPPNoRole, FileTPPNoRoleCert, FileTPPNoRoleKey},
		{p.TPPAExpired, FileTPPAExpiredCert, FileTPPAExpiredKey},
		{p.TPPAUntrusted, FileTPPAUntrustedCert, FileTPPAUntrustedKey},
		{p.TPPASeal, FileTPPASealCert, FileTPPASealKey},
		{p.TPPBSeal, FileTPPBSealCert, FileTPPBSealKey},
		{p.TPPNoRoleSeal, FileTPPNoRoleSealCert, FileTPPNoRoleSealKey},
		{p.TPPNoIC, FileTPPNoICCert, FileTPPNoICKey},
		{p.TPPNoICSeal, FileTPPNoICSealCert, FileTPPNoICSealKey},
	}
	if err := writeFile(dir, FileCA, p.CA.CertPEM(), 0o644); err != nil {
		return err
	}
	if err := writeFile(dir, FileUntrustedCA, p.Untrusted.CertPEM(), 0o644); err != nil {
		return err
	}
	for _, x := range pairs {
		key := x.kp.KeyPEM()
		if key == nil {
			return fmt.Errorf("eidas: private key for %s cannot be encoded as PKCS#8", x.keyFile)
		}
		if err := writeFile(dir, x.cert, x.kp.CertPEM(), 0o644); err != nil {
			return err
		}
		if err := writeFile(dir, x.keyFile, key, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes data with exactly mode perm. os.WriteFile would keep the mode of an
// existing file, so the mode is set before any key bytes are written.
func writeFile(dir, name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("eidas: writing %s: %w", name, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("eidas: setting mode of %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("eidas: writing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("eidas: writing %s: %w", name, err)
	}
	return nil
}
