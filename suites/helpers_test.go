package suites

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/eidas"
)

// referenceBank starts the reference bank alone, as `stetconform bank` does, for suites
// that need to reach it across runs or to see what it issued: a fresh test PKI in dir/pki,
// the bank on a free loopback port, and the profile that reaches it in dir/bank.yaml
// (edit makes changes to its text first). The bank stops when the spec ends.
func referenceBank(cfg aspsp.Config, edit func(profile string) string) (bank *aspsp.Bank, profilePath, dir string) {
	dir = GinkgoT().TempDir()
	pki, err := eidas.NewTestPKI(time.Now())
	Expect(err).NotTo(HaveOccurred())
	Expect(pki.WriteDir(filepath.Join(dir, "pki"))).To(Succeed())
	cfg.PKI = pki
	bank, err = aspsp.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	Expect(bank.Start()).To(Succeed())
	DeferCleanup(bank.Close)
	yaml := string(bank.ProfileYAML(filepath.Join(dir, "pki")))
	if edit != nil {
		yaml = edit(yaml)
	}
	profilePath = filepath.Join(dir, "bank.yaml")
	Expect(os.WriteFile(profilePath, []byte(yaml), 0o600)).To(Succeed())
	return bank, profilePath, dir
}
