package suites

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/runner"
)

var _ = Describe("secrets", func() {
	It("never reach a report or the console: codes, tokens, PSU credentials, private keys", func() {
		// Codes live 5 s, not 2: under make test's parallel binaries a 2 s code handed along
		// a chain of negative checks died before its last exchange (correctly
		// inconclusive, which is not what this test is about).
		bank, profilePath, dir := referenceBank(aspsp.Config{AccessTokenLifetime: 2 * time.Second, CodeLifetime: 5 * time.Second, RefreshTokenLifetime: 3 * time.Second}, nil)
		pkiDir := filepath.Join(dir, "pki")

		out := filepath.Join(dir, "reports")
		var console bytes.Buffer
		res, err := runner.Run(context.Background(), runner.Options{Profile: profilePath, OutDir: out, Console: &console,
			StateFile: filepath.Join(dir, "state.json")})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.ExitCode).To(Equal(runner.ExitCompliant), console.String())

		secrets := bank.IssuedSecrets()
		Expect(len(secrets)).To(BeNumerically(">", 20), "the run should have made the bank issue codes and tokens")
		secrets = append(secrets, bank.PSUPassword("psu1"))
		secrets = append(secrets, keyMaterial(pkiDir)...)

		written := map[string][]byte{"console": console.Bytes()}
		Expect(filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			written[path] = data
			return err
		})).To(Succeed())
		Expect(written).To(HaveLen(5)) // console and the four reports

		for name, data := range written {
			for _, s := range secrets {
				Expect(bytes.Contains(data, []byte(s))).To(BeFalse(), "%s contains a secret (%d characters, starting %q)", name, len(s), s[:4])
			}
		}
		// The redaction keeps the report readable: the same secret has the same fingerprint.
		Expect(string(written[filepath.Join(out, "report.json")])).To(ContainSubstring("[redacted:"))
	})
})

// keyMaterial returns the base64 lines of every private key in dir, long enough to be
// unambiguous.
func keyMaterial(dir string) []string {
	var out []string
	entries, err := os.ReadDir(dir)
	Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		Expect(err).NotTo(HaveOccurred())
		block, _ := pem.Decode(data)
		Expect(block).NotTo(BeNil())
		out = append(out, base64.StdEncoding.EncodeToString(block.Bytes)[:40])
	}
	return out
}
