package suites

import (
	"context"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/report/pagecheck"
	"github.com/stetconform/stetconform/internal/runner"
)

// The hand-built reports of internal/report check the layout; these check the page a
// real run writes, with real step messages and exchanges, as a reader opens it.
var _ = Describe("report.html of a run, opened in a browser", Label("browser"), func() {
	BeforeEach(func() {
		if _, err := pagecheck.Chromium(); err != nil {
			Skip("opening the report in a browser needs Chromium: " + err.Error())
		}
	})

	DescribeTable("shows the outcome, and the first failure, on the first screen, offline",
		func(name string, faults []string, outcome report.Outcome) {
			out := GinkgoT().TempDir()
			// Two requirements keep the run short: the page is what is checked here.
			res, err := runner.Run(context.Background(), runner.Options{
				Bank: runner.EmbeddedBank{Faults: faults}, Tags: "@TOKEN-01,@TOKEN-04",
				OutDir: out, Console: GinkgoWriter, StateFile: "none",
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Report.Summary.Outcome).To(Equal(outcome))

			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			p, err := pagecheck.Open(ctx, filepath.Join(out, "report.html"))
			Expect(err).NotTo(HaveOccurred())
			defer p.Close()
			sum := res.Report.Summary
			pagecheck.CheckFirstScreen(GinkgoT(), p, string(sum.Outcome), sum.Scenarios[report.Failed]+sum.Scenarios[report.Inconclusive] > 0)
			if outcome == report.NotCompliant {
				// The step's own words, cut into expected and actual, head the failure.
				first, err := p.BoxOf("#problems article dl.expect")
				Expect(err).NotTo(HaveOccurred())
				Expect(first.Text).To(And(ContainSubstring("Expected Cache-Control: no-store"), ContainSubstring(`Actual Cache-Control is ""`)))
			}
			pagecheck.SaveScreenshots(GinkgoT(), p, "run-"+name)
		},
		Entry("a failing run", "failing", []string{"no-cache-control"}, report.NotCompliant),
		Entry("a passing run", "passing", []string(nil), report.Compliant),
	)
})
