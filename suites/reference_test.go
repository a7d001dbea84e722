package suites

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

var _ = Describe("a run against the embedded reference bank", Ordered, func() {
	var (
		res *runner.Result
		out string
	)

	BeforeAll(func() {
		out = GinkgoT().TempDir()
		var err error
		res, err = runner.Run(context.Background(), runner.Options{OutDir: out, Console: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
	})

	It("passes every scenario", func() {
		for _, s := range res.Report.Scenarios {
			Expect(s.Verdict).To(Or(Equal(report.Passed)), "%s %q: %s", s.ID, s.Name, s.Reason)
		}
		Expect(res.ExitCode).To(Equal(runner.ExitCompliant))
	})

	It("checks the expiry of the access token instead of skipping it", func() {
		var found bool
		for _, s := range res.Report.Scenarios {
			for _, id := range s.Requirements {
				if id == "BEARER-04" {
					found = true
					Expect(s.Verdict).To(Equal(report.Passed), s.Reason)
				}
			}
		}
		Expect(found).To(BeTrue())
	})

	It("gives every requirement with a scenario a passing verdict, and the others a reason", func() {
		for _, r := range res.Report.Requirements {
			if r.NotCovered != "" {
				Expect(r.Verdict).To(Equal(report.NotTested), r.ID)
				Expect(r.Reason).NotTo(BeEmpty(), r.ID)
				continue
			}
			Expect(r.Verdict).To(Equal(report.Passed), "%s: %s", r.ID, r.Reason)
		}
	})

	It("writes the four reports, which parse", func() {
		for _, name := range []string{"report.json", "junit.xml", "cucumber.json", "report.html"} {
			Expect(filepath.Join(out, name)).To(BeAnExistingFile())
		}
		var rep report.Report
		data, err := os.ReadFile(filepath.Join(out, "report.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(data, &rep)).To(Succeed())
		Expect(rep.Scenarios).To(HaveLen(len(res.Report.Scenarios)))
		Expect(rep.Summary.Exchanges).To(BeNumerically(">", 0))
		Expect(rep.Summary.Outcome).To(Equal(report.Compliant))
		Expect(rep.Summary.ExitCode).To(Equal(runner.ExitCompliant))
		Expect(rep.Summary.Scope).To(MatchRegexp(`^all \d+ requirements in scope checked and passed$`))

		var junit struct {
			XMLName xml.Name `xml:"testsuites"`
		}
		data, err = os.ReadFile(filepath.Join(out, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(xml.Unmarshal(data, &junit)).To(Succeed())

		var cucumber []map[string]any
		data, err = os.ReadFile(filepath.Join(out, "cucumber.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(data, &cucumber)).To(Succeed())
		Expect(cucumber).NotTo(BeEmpty())
	})
})

var _ = Describe("waivers in the bank profile", func() {
	// waive appends a waivers section to the reference bank's profile.
	waive := func(id, reason string) func(string) string {
		return func(yaml string) string {
			return yaml + "waivers:\n  - requirement: " + id + "\n    reason: " + reason + "\n"
		}
	}

	It("let a requirement that could not be checked not block COMPLIANT, and show it", func() {
		// Tokens live an hour; the profile lets the suite wait 30 s: BEARER-04 is skipped.
		_, path, dir := referenceBank(aspsp.Config{AccessTokenLifetime: time.Hour}, waive("BEARER-04", "sandbox tokens live one hour"))
		var console bytes.Buffer
		res, err := runner.Run(context.Background(), runner.Options{Profile: path, Tags: "@BEARER-01,@BEARER-04", StateFile: "none",
			OutDir: filepath.Join(dir, "reports"), Console: io.MultiWriter(&console, GinkgoWriter)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.ExitCode).To(Equal(runner.ExitCompliant), console.String())
		sum := res.Report.Summary
		Expect(sum.Scope).To(Equal("for the 2 selected requirements (1 waived by the bank profile and not checked: BEARER-04)"))
		Expect(sum.Waived).To(ConsistOf(report.Blocker{ID: "BEARER-04", Level: report.LevelMust, Verdict: report.Skipped, Reason: "sandbox tokens live one hour"}))
		for _, r := range res.Report.Requirements {
			if r.ID == "BEARER-04" {
				Expect(r.Verdict).To(Equal(report.Skipped))
				Expect(r.Waived).To(Equal("sandbox tokens live one hour"))
			}
		}
		Expect(console.String()).To(ContainSubstring("not checked, waived by the bank profile: sandbox tokens live one hour"))
		page, err := os.ReadFile(filepath.Join(dir, "reports", "report.html"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(page)).To(ContainSubstring("Waived by the bank profile: sandbox tokens live one hour"))
	})

	It("do not cover a requirement that fails", func() {
		_, path, dir := referenceBank(aspsp.Config{Faults: []string{aspsp.FaultTokenTypeMAC}}, waive("TOKEN-03", "known issue"))
		res, err := runner.Run(context.Background(), runner.Options{Profile: path, Tags: "@TOKEN-03", StateFile: "none",
			OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.ExitCode).To(Equal(runner.ExitNotCompliant))
		Expect(res.Report.Summary.Blocking).To(HaveLen(1))
		Expect(res.Report.Summary.Blocking[0].ID).To(Equal("TOKEN-03"))
	})

	It("naming an unknown requirement are a profile error with the line", func() {
		_, path, _ := referenceBank(aspsp.Config{}, waive("TOKEN-99", "typo"))
		_, err := runner.Run(context.Background(), runner.Options{Profile: path, OutDir: GinkgoT().TempDir(), Console: GinkgoWriter})
		Expect(runner.ExitCode(err)).To(Equal(runner.ExitSetupError))
		Expect(err.Error()).To(MatchRegexp(`bank\.yaml:\d+: waivers\[0\]\.requirement: "TOKEN-99" is not a requirement ID`))
	})
})
