package suites

import (
	"encoding/json"
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
	"github.com/stetconform/stetconform/internal/report"
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
		s := run("run", "--tags", "@no-such-tag", "--out", GinkgoT().TempDir())
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(ContainSubstring("selects no scenario"))
	})

	It("exits 2 naming the syntax error of a tag filter godog would panic on or misread", func() {
		for tags, want := range map[string]string{
			"@token &&": "is empty (a dangling", "@a,": "is empty", ",": "is empty",
			"((": "no parentheses", "not @a": "write ~@tag for not",
		} {
			s := run("run", "--tags", tags, "--out", GinkgoT().TempDir())
			Expect(s.ExitCode()).To(Equal(2), tags)
			stderr := string(s.Err.Contents())
			Expect(stderr).To(And(ContainSubstring(want), ContainSubstring("godog's syntax")), tags)
			Expect(stderr+string(s.Out.Contents())).NotTo(Or(ContainSubstring("panic"), ContainSubstring("goroutine"), ContainSubstring("selects no scenario")), tags)
		}
	})

	It("prints --format pretty one feature at a time, without Go step locations", func() {
		s := run("run", "--format", "pretty", "--tags", "@TOKEN-01,@TOKEN-03", "--out", GinkgoT().TempDir())
		Expect(s.ExitCode()).To(Equal(0), string(s.Out.Contents()))
		console := string(s.Out.Contents())
		Expect(console).To(ContainSubstring("--format pretty: one scenario at a time"))
		Expect(console).To(ContainSubstring("Scenario: The token response carries"))
		Expect(console).NotTo(MatchRegexp(`\.go:\d+ -> `))
	})

	It("exits 2 on an unknown fault name, listing the valid ones", func() {
		s := run("run", "--fault", "no-such-fault", "--out", GinkgoT().TempDir())
		Expect(s.ExitCode()).To(Equal(2))
		Expect(string(s.Err.Contents())).To(And(ContainSubstring("no-such-fault"), ContainSubstring("code-reusable")))
	})

	It("runs a tag-selected part of the features, exits 0 and states the scope", func() {
		out := GinkgoT().TempDir()
		s := run("run", "--tags", "@token", "--out", out)
		Expect(s.ExitCode()).To(Equal(0), string(s.Out.Contents()))
		Expect(filepath.Join(out, "report.html")).To(BeAnExistingFile())
		Expect(string(s.Out.Contents())).To(MatchRegexp(`\nCOMPLIANT for the \d+ selected requirements\n`))
		rep := readReport(out)
		Expect(rep.Summary.Outcome).To(Equal(report.Compliant))
		Expect(rep.Summary.ExitCode).To(Equal(0))
		Expect(rep.Summary.Scope).To(MatchRegexp(`^for the \d+ selected requirements$`))
	})

	It("exits 4, INCOMPLETE, when a required check could not run, and says what would complete it", func() {
		// Tokens that live an hour: the embedded bank's profile lets the suite wait 30 s.
		out := GinkgoT().TempDir()
		s := run("run", "--tags", "@BEARER-01,@BEARER-04", "--access-token-lifetime", "1h", "--out", out)
		Expect(s.ExitCode()).To(Equal(4), string(s.Out.Contents()))
		console := string(s.Out.Contents())
		Expect(console).To(And(
			MatchRegexp(`\nINCOMPLETE: nothing failed, but 1 of the 2 selected requirements could not be checked \(skipped or inconclusive\): BEARER-04\n`),
			MatchRegexp(`What would complete the run:\n  BEARER-04 +skipped: .+`),
		))
		Expect(console).NotTo(ContainSubstring("COMPLIANT"))
		rep := readReport(out)
		Expect(rep.Summary.Outcome).To(Equal(report.Incomplete))
		Expect(rep.Summary.ExitCode).To(Equal(4))
		Expect(rep.Summary.Blocking).To(HaveLen(1))
		Expect(rep.Summary.Blocking[0].ID).To(Equal("BEARER-04"))
		junit, err := os.ReadFile(filepath.Join(out, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(junit)).To(ContainSubstring(`<property name="outcome" value="INCOMPLETE">`))
	})

	Describe("setup errors: nothing is blamed on the bank", func() {
		// setupError runs against the reference bank with its profile edited, and expects
		// exit 2 with the cause, before any check: no report, no code issued.
		setupError := func(edit func(yaml string, bank *aspsp.Bank) string, cause ...string) {
			var bank *aspsp.Bank
			bank, path, dir := referenceBank(aspsp.Config{}, nil)
			yaml, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred())
			edited := edit(string(yaml), bank)
			Expect(edited).NotTo(Equal(string(yaml)))
			Expect(os.WriteFile(path, []byte(edited), 0o600)).To(Succeed())

			out := filepath.Join(dir, "reports")
			s := run("run", "--bank", path, "--out", out, "--state", "none")
			Expect(s.ExitCode()).To(Equal(2), "stdout:\n%s\nstderr:\n%s", s.Out.Contents(), s.Err.Contents())
			stderr := string(s.Err.Contents())
			Expect(stderr).To(And(ContainSubstring("SETUP ERROR"), ContainSubstring("nothing is blamed on the bank"),
				ContainSubstring("stetconform profile check "+path)))
			for _, c := range cause {
				Expect(stderr).To(MatchRegexp(c))
			}
			Expect(string(s.Out.Contents())).NotTo(ContainSubstring("COMPLIANT"))
			Expect(filepath.Join(out, "report.json")).NotTo(BeAnExistingFile())
			Expect(bank.IssuedSecrets()).To(BeEmpty(), "a check ran against the bank")

			// profile check says the same.
			c := run("profile", "check", path)
			Expect(c.ExitCode()).To(Equal(2), string(c.Out.Contents()))
			for _, cs := range cause {
				Expect(string(c.Out.Contents())).To(MatchRegexp(cs))
			}
		}

		It("an expired primary certificate", func() {
			setupError(func(y string, _ *aspsp.Bank) string {
				y = strings.Replace(y, "/tpp-a.pem", "/tpp-a-expired.pem", 1)
				return strings.Replace(y, "/tpp-a.key", "/tpp-a-expired.key", 1)
			}, `FAIL clients\.primary\.certificate: the certificate expired on \d{4}-\d\d-\d\d \(.*bank\.yaml:\d+\)`)
		})
		It("a client_id that is not the certificate's organizationIdentifier", func() {
			setupError(func(y string, _ *aspsp.Bank) string {
				return strings.Replace(y, "client_id: PSDFR-ACPR-12345", "client_id: PSDFR-ACPR-99999", 1)
			}, `FAIL clients\.primary\.certificate: organizationIdentifier PSDFR-ACPR-12345 differs from client_id PSDFR-ACPR-99999`)
		})
		It("a closed port", func() {
			setupError(func(y string, bank *aspsp.Bank) string {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				Expect(err).NotTo(HaveOccurred())
				closed := l.Addr().String()
				l.Close()
				return strings.ReplaceAll(y, bank.URL(), "https://"+closed)
			}, `FAIL 127\.0\.0\.1:\d+: TCP connection failed .*connection refused`)
		})
		It("a server CA that is not the one in tls.ca", func() {
			setupError(func(y string, _ *aspsp.Bank) string {
				return strings.Replace(y, "/ca.pem", "/untrusted-ca.pem", 1)
			}, `FAIL 127\.0\.0\.1:\d+: server certificate .* does not verify against tls\.ca .*certificate signed by unknown authority`)
		})
	})

	It("exits 3 before any request when the output folder is not writable", func() {
		bank, path, dir := referenceBank(aspsp.Config{}, nil)
		file := filepath.Join(dir, "a-file")
		Expect(os.WriteFile(file, nil, 0o600)).To(Succeed())
		s := run("run", "--bank", path, "--out", filepath.Join(file, "reports"), "--state", "none")
		Expect(s.ExitCode()).To(Equal(3))
		Expect(string(s.Err.Contents())).To(ContainSubstring("the output folder " + filepath.Join(file, "reports") + " is not writable"))
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("Pre-run checks"))
		Expect(bank.IssuedSecrets()).To(BeEmpty())
	})

	It("exits 3 before any request with --psu manual and no terminal", func() {
		bank, path, dir := referenceBank(aspsp.Config{}, nil)
		s := run("run", "--bank", path, "--psu", "manual", "--out", filepath.Join(dir, "reports"), "--state", "none")
		Expect(s.ExitCode()).To(Equal(3))
		Expect(string(s.Err.Contents())).To(ContainSubstring("needs a person at a terminal"))
		Expect(bank.IssuedSecrets()).To(BeEmpty())
	})

	It("exits 3 on Ctrl-C, with partial reports that say neither COMPLIANT nor NOT COMPLIANT", func() {
		// Tokens that live 20 s, within the 30 s the embedded bank's profile lets the suite
		// wait: the expiry checks are waiting when the interrupt comes.
		out := GinkgoT().TempDir()
		s, err := gexec.Start(exec.Command(cliPath, "run", "--access-token-lifetime", "20s", "--out", out), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s.Out).WithTimeout(60 * time.Second).Should(gbytes.Say("Pre-run checks"))
		time.Sleep(time.Second)
		s.Signal(os.Interrupt)
		Eventually(s).WithTimeout(60 * time.Second).Should(gexec.Exit(3))

		console := string(s.Out.Contents())
		Expect(console).To(ContainSubstring("\nCOULD NOT FINISH: the run was interrupted"))
		Expect(console).To(ContainSubstring("(partial: the run was interrupted)"))
		junit, err := os.ReadFile(filepath.Join(out, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		page, err := os.ReadFile(filepath.Join(out, "report.html"))
		Expect(err).NotTo(HaveOccurred())
		data, err := os.ReadFile(filepath.Join(out, "report.json"))
		Expect(err).NotTo(HaveOccurred())
		for name, text := range map[string]string{"console": console, "junit.xml": string(junit), "report.html": string(page), "report.json": string(data)} {
			Expect(text).NotTo(ContainSubstring("COMPLIANT"), name)
			Expect(text).To(ContainSubstring("COULD NOT FINISH"), name)
		}
		Expect(string(page)).To(ContainSubstring("Partial report"))

		rep := readReport(out)
		Expect(rep.Interrupted).To(BeTrue())
		Expect(rep.Summary.Outcome).To(Equal(report.CouldNotFinish))
		Expect(rep.Summary.ExitCode).To(Equal(3))
		Expect(rep.Summary.Partial).To(BeTrue())
		cancelled := 0
		for _, sc := range rep.Scenarios {
			for _, st := range sc.Steps {
				if strings.Contains(st.Error, "context canceled") {
					Expect(sc.Verdict).To(Equal(report.Skipped), "%s %q ended on the cancelled context but is %s", sc.ID, sc.Name, sc.Verdict)
				}
			}
			if sc.Reason == "cancelled: the run was interrupted" {
				Expect(sc.Verdict).To(Equal(report.Skipped))
				cancelled++
			}
		}
		// The expiry checks were waiting: at least they were cut short.
		Expect(cancelled).To(BeNumerically(">", 0))
		Expect(string(junit)).To(ContainSubstring(`<skipped message="cancelled: the run was interrupted">`))
	})

	It("writes a test PKI that openssl reads", func() {
		out := GinkgoT().TempDir()
		s := run("certs", "--out", out)
		Expect(s.ExitCode()).To(Equal(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("PSDFR-ACPR-12345"))
		Expect(filepath.Join(out, "tpp-a.pem")).To(BeAnExistingFile())
	})
})

// readReport reads dir/report.json.
func readReport(dir string) report.Report {
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	Expect(err).NotTo(HaveOccurred())
	var rep report.Report
	Expect(json.Unmarshal(data, &rep)).To(Succeed())
	return rep
}
