package suites

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("the stetconform command", func() {
	run := func(args ...string) *gexec.Session {
		s, err := gexec.Start(exec.Command(cliPath, args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		return s.Wait("60s")
	}

	It("exits 2 and names the line and the field of a typo in the bank profile", func() {
		dir := GinkgoT().TempDir()
		template, err := os.ReadFile(filepath.Join("..", "fixtures", "banks", "template.yaml"))
		Expect(err).NotTo(HaveOccurred())
		broken := strings.Replace(string(template), "timeouts:", "timout:", 1)
		Expect(broken).NotTo(Equal(string(template)))
		path := filepath.Join(dir, "bank.yaml")
		Expect(os.WriteFile(path, []byte(broken), 0o600)).To(Succeed())
		line := strings.Count(broken[:strings.Index(broken, "timout:")], "\n") + 1

		s := run("run", "--bank", path, "--out", filepath.Join(dir, "reports"))
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(And(
			ContainSubstring("bank.yaml:%d", line),
			ContainSubstring("timout"),
			ContainSubstring("timeouts"),
		))
	})

	It("exits 2 when the bank profile does not exist", func() {
		s := run("run", "--bank", filepath.Join(GinkgoT().TempDir(), "missing.yaml"))
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(ContainSubstring("missing.yaml"))
	})

	It("exits 2 when the tag filter selects no scenario", func() {
		s := run("run", "--tags", "not @token", "--out", GinkgoT().TempDir())
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(ContainSubstring("selects no scenario"))
	})

	It("exits 2 on an unknown fault name, listing the valid ones", func() {
		s := run("run", "--fault", "no-such-fault", "--out", GinkgoT().TempDir())
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(And(ContainSubstring("no-such-fault"), ContainSubstring("code-reusable")))
	})

	It("runs a tag-selected part of the features and exits 0", func() {
		out := GinkgoT().TempDir()
		s := run("run", "--tags", "@token", "--out", out)
		Expect(s.ExitCode()).To(Equal(0), string(s.Out.Contents()))
		Expect(filepath.Join(out, "report.html")).To(BeAnExistingFile())
	})

	It("writes a test PKI that openssl reads", func() {
		out := GinkgoT().TempDir()
		s := run("certs", "--out", out)
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("PSDFR-ACPR-12345"))
		Expect(filepath.Join(out, "tpp-a.pem")).To(BeAnExistingFile())
	})
})
