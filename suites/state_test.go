package suites

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

// A bank whose access tokens live longer than the profile lets the suite wait: the run
// keeps its token, and the first run after the token's expiry checks it.
var _ = Describe("access tokens that outlive a run", func() {
	for _, c := range []struct {
		fault   string
		verdict report.Verdict
	}{{"", report.Passed}, {aspsp.FaultExpiredTokenAccepted, report.Failed}} {
		It("are checked for expiry by the next run: bank fault "+orNone(c.fault), func() {
			var faults []string
			if c.fault != "" {
				faults = []string{c.fault}
			}
			_, profile, dir := referenceBank(aspsp.Config{AccessTokenLifetime: 3 * time.Second, Faults: faults}, func(yaml string) string {
				Expect(yaml).To(ContainSubstring("max_expiry_wait: 30s"))
				return strings.Replace(yaml, "max_expiry_wait: 30s", "max_expiry_wait: 1s", 1)
			})
			stateFile := filepath.Join(dir, "state", "state.json")
			var last *runner.Result
			run := func() report.ScenarioResult {
				res, err := runner.Run(context.Background(), runner.Options{Profile: profile, Tags: "@BEARER-04",
					OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter, StateFile: stateFile})
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Report.Scenarios).To(HaveLen(1))
				last = res
				return res.Report.Scenarios[0]
			}

			first := run()
			Expect(first.Verdict).To(Equal(report.Skipped))
			Expect(first.Reason).To(ContainSubstring("kept in " + stateFile))
			// A run whose expiry check waits for the next run proves nothing about it yet:
			// INCOMPLETE, saying what would complete it, never COMPLIANT.
			Expect(last.ExitCode).To(Equal(runner.ExitIncomplete))
			Expect(last.Report.Summary.Blocking).To(HaveLen(1))
			Expect(last.Report.Summary.Blocking[0].ID).To(Equal("BEARER-04"))
			Expect(last.Report.Summary.Blocking[0].Reason).To(ContainSubstring("kept in " + stateFile))
			info, err := os.Stat(stateFile)
			Expect(err).NotTo(HaveOccurred())
			Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))

			second := run() // before the kept token expires
			Expect(second.Verdict).To(Equal(report.Skipped))
			Expect(second.Reason).To(ContainSubstring("the first run after that checks it"))

			// expires_in is 3 or 4 (rounded up), plus the 250 ms skew of the profile.
			time.Sleep(4*time.Second + 500*time.Millisecond)
			third := run()
			Expect(third.Verdict).To(Equal(c.verdict), third.Reason)
			Expect(last.ExitCode).To(Equal(map[report.Verdict]int{report.Passed: runner.ExitCompliant, report.Failed: runner.ExitNotCompliant}[c.verdict]))
			Expect(third.Notes).To(ContainElement(ContainSubstring("issued by run")))
		})
	}
})

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

var _ = Describe("refresh tokens kept by a run", func() {
	It("let the next run's refresh checks skip the PSU journey while the bank honours them", func() {
		_, profile, dir := referenceBank(aspsp.Config{}, nil)
		stateFile := filepath.Join(dir, "state.json")
		var seen []string
		run := func() (reused int) {
			seen = nil
			res, err := runner.Run(context.Background(), runner.Options{Profile: profile, Tags: "@refresh",
				OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter, StateFile: stateFile})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.ExitCode).To(Equal(runner.ExitCompliant))
			for _, s := range res.Report.Scenarios {
				Expect(s.Verdict).To(Equal(report.Passed), "%s: %s", s.Name, s.Reason)
				for _, n := range s.Notes {
					seen = append(seen, s.Name+": "+n)
					if strings.Contains(n, "without a PSU journey") {
						reused++
					}
				}
			}
			return reused
		}
		Expect(run()).To(Equal(0))
		// REFRESH-01 and REFRESH-02 end with a usable refresh token; REFRESH-04 replays
		// its token and REFRESH-05 hands it to another TPP, so theirs are not kept. What a
		// run keeps is for the next run only.
		Expect(run()).To(Equal(2), "%q", seen)
		Expect(run()).To(Equal(2), "%q", seen)
	})
})
