package suites

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/report"
)

var _ = Describe("the stetconform command as a CI gate", func() {
	run := func(args ...string) *gexec.Session {
		s, err := gexec.Start(exec.Command(cliPath, args...), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		return s.Wait("120s")
	}
	file := func(dir, name, text string) string {
		path := filepath.Join(dir, name)
		Expect(os.WriteFile(path, []byte(text), 0o600)).To(Succeed())
		return path
	}

	It("passes known failures with a baseline, flags stale entries, reruns what failed, and diffs reports", func() {
		dir := GinkgoT().TempDir()
		// TOKEN-07 fails under the fault; TOKEN-03 passes, so its entry is stale.
		baseline := file(dir, "baseline.yaml", "- requirement: TOKEN-07\n  reason: JIRA-123, fixed in 2.4\n- requirement: TOKEN-03\n  reason: JIRA-99\n")
		tags := "@TOKEN-07,@TOKEN-03"

		known := filepath.Join(dir, "known")
		s := run("run", "--fault", aspsp.FaultCodeReusable, "--tags", tags, "--baseline", baseline, "--out", known)
		Expect(s.ExitCode()).To(Equal(0), string(s.Out.Contents()))
		console := string(s.Out.Contents())
		Expect(console).To(And(ContainSubstring("\nCOMPLIANT WITH KNOWN FAILURES: "), ContainSubstring("known failure, in the baseline: JIRA-123"),
			MatchRegexp(`TOKEN-03 +stale baseline entry`)))
		rep := readReport(known)
		Expect(rep.Summary.Outcome).To(Equal(report.CompliantWithKnownFailures))
		Expect(rep.Summary.Known).To(HaveLen(1))
		Expect(rep.Summary.Stale).To(HaveLen(1))
		junit, err := os.ReadFile(filepath.Join(known, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(junit)).To(And(ContainSubstring("known failure (baseline: JIRA-123, fixed in 2.4)"), ContainSubstring(`failures="0"`)))
		page, err := os.ReadFile(filepath.Join(known, "report.html"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(page)).To(And(ContainSubstring("Known failures, expected by the baseline"), ContainSubstring("Stale baseline entries")))

		strict := run("run", "--fault", aspsp.FaultCodeReusable, "--tags", tags, "--baseline", baseline, "--strict-baseline", "--out", filepath.Join(dir, "strict"))
		Expect(strict.ExitCode()).To(Equal(1), string(strict.Out.Contents()))
		Expect(string(strict.Out.Contents())).To(ContainSubstring("(--strict-baseline: exit 1)"))

		// Without the baseline the same run fails; --rerun-failed runs TOKEN-07 only.
		failed := filepath.Join(dir, "failed")
		Expect(run("run", "--fault", aspsp.FaultCodeReusable, "--tags", tags, "--out", failed).ExitCode()).To(Equal(1))
		rerun := filepath.Join(dir, "rerun")
		r := run("run", "--rerun-failed", filepath.Join(failed, "report.json"), "--out", rerun)
		Expect(r.ExitCode()).To(Equal(0), string(r.Out.Contents()))
		again := readReport(rerun)
		Expect(again.TagFilter).To(Equal("@TOKEN-07"))
		Expect(again.Scenarios).NotTo(BeEmpty())
		for _, sc := range again.Scenarios {
			Expect(sc.Requirements).To(ContainElement("TOKEN-07"), sc.ID)
		}

		d := run("report", "diff", filepath.Join(rerun, "report.json"), filepath.Join(failed, "report.json"))
		Expect(d.ExitCode()).To(Equal(1))
		Expect(string(d.Out.Contents())).To(MatchRegexp(`REGRESSIONS \(1\):\n  TOKEN-07 +passed -> failed`))
		fixed := run("report", "diff", filepath.Join(failed, "report.json"), filepath.Join(rerun, "report.json"))
		Expect(fixed.ExitCode()).To(Equal(0))
		Expect(string(fixed.Out.Contents())).To(ContainSubstring("FIXES (1):"))
	})

	It("seals report.json with a QSealC, and report verify says who sealed it", func() {
		dir := GinkgoT().TempDir()
		pki, err := eidas.NewTestPKI(time.Now())
		Expect(err).NotTo(HaveOccurred())
		Expect(pki.WriteDir(dir)).To(Succeed())
		out := filepath.Join(dir, "reports")
		s := run("run", "--tags", "@TOKEN-03", "--out", out,
			"--sign-key", filepath.Join(dir, eidas.FileTPPASealKey), "--sign-cert", filepath.Join(dir, eidas.FileTPPASealCert))
		Expect(s.ExitCode()).To(Equal(0), string(s.Out.Contents()))
		Expect(filepath.Join(out, "report.json.jws")).To(BeAnExistingFile())
		v := run("report", "verify", filepath.Join(out, "report.json"), "--ca", filepath.Join(dir, eidas.FileCA))
		Expect(v.ExitCode()).To(Equal(0), string(v.Out.Contents()))
		Expect(string(v.Out.Contents())).To(ContainSubstring("organizationIdentifier: " + eidas.OrgTPPA))
		w := run("report", "verify", filepath.Join(out, "report.json"), "--ca", filepath.Join(dir, eidas.FileUntrustedCA))
		Expect(w.ExitCode()).To(Equal(1))
	})

	It("follows the README's fault walk-through: bank --fault in one terminal, the reference profile in another", func() {
		// The layout of a checkout, with .pki/ written by the bank command.
		root := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(root, "fixtures", "banks"), 0o755)).To(Succeed())
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr := l.Addr().String()
		l.Close()

		// The first terminal has no REFERENCE_PSU_PASSWORD: only make exports it.
		bankCmd := exec.Command(cliPath, "bank", "--fault", aspsp.FaultCodeReusable, "--addr", addr, "--pki", filepath.Join(root, ".pki"))
		bankCmd.Env = withoutEnv("REFERENCE_PSU_PASSWORD")
		bank, err := gexec.Start(bankCmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { bank.Interrupt().Wait("10s") })
		Eventually(bank.Err).WithTimeout(30 * time.Second).Should(gbytes.Say("Reference bank serving"))

		fixture, err := os.ReadFile(filepath.Join("..", "fixtures", "banks", "reference.yaml"))
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(root, "fixtures", "banks", "reference.yaml")
		Expect(os.WriteFile(path, []byte(strings.ReplaceAll(string(fixture), "127.0.0.1:8443", addr)), 0o600)).To(Succeed())

		// The second terminal: make conformance exports its default password. No --state:
		// the run keeps its tokens under the suites' temporary XDG_STATE_HOME.
		runCmd := exec.Command(cliPath, "run", "--bank", path, "--tags", "@TOKEN-07,@TOKEN-03", "--out", filepath.Join(root, "reports"))
		runCmd.Env = append(withoutEnv("REFERENCE_PSU_PASSWORD"), "REFERENCE_PSU_PASSWORD="+makefileDefault())
		s, err := gexec.Start(runCmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		s.Wait("120s")
		Expect(s.ExitCode()).To(Equal(1), string(s.Out.Contents()))
		rep := readReport(filepath.Join(root, "reports"))
		verdicts := map[string]report.Verdict{}
		for _, r := range rep.Requirements {
			verdicts[r.ID] = r.Verdict
		}
		Expect(verdicts).To(HaveKeyWithValue("TOKEN-07", report.Failed))
		Expect(verdicts).To(HaveKeyWithValue("TOKEN-03", report.Passed))

		stateHome := os.Getenv("XDG_STATE_HOME")
		Expect(stateHome).To(HavePrefix(os.TempDir()))
		Expect(filepath.Join(stateHome, "stetconform", "state.json")).To(BeAnExistingFile())
	})
})

// withoutEnv is the environment without the variable name.
func withoutEnv(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// makefileDefault is the REFERENCE_PSU_PASSWORD the Makefile exports.
func makefileDefault() string {
	data, err := os.ReadFile(filepath.Join("..", "Makefile"))
	Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "export REFERENCE_PSU_PASSWORD ?= "); ok {
			return strings.TrimSpace(v)
		}
	}
	Fail("the Makefile sets no REFERENCE_PSU_PASSWORD")
	return ""
}
