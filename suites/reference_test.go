package suites

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

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
