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
// keeps its token, and a later run started within max_expiry_wait of that token's expiry
// watches it expire: working shortly before, refused after. A refusal alone, seen by a run
// after the expiry, proves nothing (the token may have been superseded), so no run judges
// a kept token it could not watch.
var _ = Describe("access tokens that outlive a run", func() {
	for _, c := range []struct {
		fault   string
		verdict report.Verdict
	}{{"", report.Passed}, {aspsp.FaultExpiredTokenAccepted, report.Failed}} {
		It("are watched expiring by a later run: bank fault "+orNone(c.fault), func() {
			var faults []string
			if c.fault != "" {
				faults = []string{c.fault}
			}
			// 6 s tokens, a 4 s wait: a run started 3.75 s to 1.25 s before the kept token's
			// expiry (the skew and expires_in's rounding taken off) watches it.
			_, profile, dir := referenceBank(aspsp.Config{AccessTokenLifetime: 6 * time.Second, Faults: faults}, func(yaml string) string {
				Expect(yaml).To(ContainSubstring("max_expiry_wait: 30s"))
				return strings.Replace(yaml, "max_expiry_wait: 30s", "max_expiry_wait: 4s", 1)
			})
			stateFile := filepath.Join(dir, "state", "state.json")
			var last *runner.Result
			// BEARER-04 is checked for each role the bank offers: the aisp token at the
			// accounts resource, the cbpii one at funds-confirmations; each role's kept
			// token is watched by its own check.
			run := func() []report.ScenarioResult {
				res, err := runner.Run(context.Background(), runner.Options{Profile: profile, Tags: "@BEARER-04",
					OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter, StateFile: stateFile})
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Report.Scenarios).To(HaveLen(2))
				last = res
				return res.Report.Scenarios
			}

			start := time.Now()
			for _, first := range run() {
				Expect(first.Verdict).To(Equal(report.Skipped), first.Name)
				Expect(first.Reason).To(ContainSubstring("it is kept for a later run"))
				Expect(first.Reason).To(ContainSubstring(stateFile))
			}
			// A run whose expiry check waits for a later run proves nothing about it yet:
			// INCOMPLETE, saying what would complete it, never COMPLIANT.
			Expect(last.ExitCode).To(Equal(runner.ExitIncomplete))
			Expect(last.Report.Summary.Blocking).NotTo(BeEmpty())
			for _, b := range last.Report.Summary.Blocking {
				Expect(b.ID).To(Equal("BEARER-04"))
				Expect(b.Reason).To(ContainSubstring("completes this check"))
			}
			info, err := os.Stat(stateFile)
			Expect(err).NotTo(HaveOccurred())
			Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))

			for _, second := range run() { // long before the kept tokens expire
				Expect(second.Verdict).To(Equal(report.Skipped), second.Name)
				Expect(second.Reason).To(ContainSubstring("a token kept by run"))
				Expect(second.Reason).To(ContainSubstring("completes this check"))
			}

			// Into the first tokens' window: 6 or 7 s (expires_in rounded up) after the first
			// run's exchange, less 3.75 s at most.
			time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
			for _, third := range run() {
				Expect(third.Verdict).To(Equal(c.verdict), third.Name+": "+third.Reason)
				Expect(third.Notes).To(ContainElement(ContainSubstring("issued by run")))
				if c.verdict == report.Passed {
					Expect(third.Notes).To(ContainElement(ContainSubstring("before its expiry, and was refused")))
				}
			}
			Expect(last.ExitCode).To(Equal(map[report.Verdict]int{report.Passed: runner.ExitCompliant, report.Failed: runner.ExitNotCompliant}[c.verdict]))
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
		run := func() (reused, journeys int) {
			seen = nil
			// The refresh checks but those that spend their grant (REFRESH-04 replays its
			// refresh token, REFRESH-05 hands it to another TPP): the run ends with its
			// grant in good order.
			res, err := runner.Run(context.Background(), runner.Options{Profile: profile, Tags: "@refresh && ~@REFRESH-04 && ~@REFRESH-05",
				OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter, StateFile: stateFile})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.ExitCode).To(Equal(runner.ExitCompliant))
			for _, s := range res.Report.Scenarios {
				Expect(s.Verdict).To(Equal(report.Passed), "%s: %s", s.Name, s.Reason)
				for _, n := range s.Notes {
					seen = append(seen, s.Name+": "+n)
					if strings.Contains(n, "by refreshing a refresh token kept by run") {
						reused++
					}
				}
			}
			return reused, res.Report.Journeys.Made
		}
		reused, first := run()
		Expect(reused).To(Equal(0))
		Expect(first).To(BeNumerically(">", 0))
		// The grants a run leaves in good order are kept, once each, for the next run: its
		// refresh checks start from them and share them as the run's own (the consent
		// plan): no consent is asked for while the bank honours them.
		for range 2 {
			reused, again := run()
			Expect(reused).To(BeNumerically(">=", 1), "%q", seen)
			Expect(again).To(Equal(0), "%q", seen)
		}
	})
})

// A whole run, run again with its state file against a bank whose refresh tokens live 90
// days: what the first run kept (a refresh token watched for its lifetime, the grants in
// good order) still works in the second, because no check of the first run refreshed,
// revoked or replayed the code of a grant whose tokens it kept.
var _ = Describe("a whole run again with its state file", func() {
	It("fails nothing: the tokens one run keeps are not spent by its other checks", func() {
		_, profile, dir := referenceBank(aspsp.Config{RefreshTokenLifetime: 90 * 24 * time.Hour}, nil)
		stateFile := filepath.Join(dir, "state.json")
		for run := 1; run <= 2; run++ {
			res, err := runner.Run(context.Background(), runner.Options{Profile: profile,
				OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter, StateFile: stateFile})
			Expect(err).NotTo(HaveOccurred())
			for _, s := range res.Report.Scenarios {
				Expect(s.Verdict).NotTo(Equal(report.Failed), "run %d, %s (%s): %s", run, s.Name, s.ID, s.Reason)
			}
		}
	})
})

// A bank that puts registrations in force later (BPCE: the next working day): a run
// registers the clients its REG-01/REG-02 checks need and keeps them in the state file;
// the first run after the bank puts them in force checks with them; a run before that
// finds them not in force, says so, and keeps them again.
var _ = Describe("registrations that take effect later", func() {
	for _, c := range []struct {
		fault   string
		verdict report.Verdict
	}{{"", report.Passed}, {aspsp.FaultRegisteredRedirectIgnored, report.Failed}} {
		It("are checked by a later run from the state file: bank fault "+orNone(c.fault), func() {
			var faults []string
			if c.fault != "" {
				faults = []string{c.fault}
			}
			_, profile, dir := referenceBank(aspsp.Config{Faults: faults, Register: aspsp.RegisterConfig{Enabled: true, EffectiveAfter: 3 * time.Second}}, func(yaml string) string {
				Expect(yaml).To(ContainSubstring("effective: later"))
				return yaml
			})
			stateFile := filepath.Join(dir, "state.json")
			run := func() map[string]report.ScenarioResult {
				res, err := runner.Run(context.Background(), runner.Options{Profile: profile, Tags: "@REG-01,@REG-02",
					OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter, StateFile: stateFile})
				Expect(err).NotTo(HaveOccurred())
				by := map[string]report.ScenarioResult{}
				for _, s := range res.Report.Scenarios {
					by[s.Requirements[0]] = s
				}
				return by
			}
			start := time.Now()
			for _, s := range run() {
				Expect(s.Verdict).To(Equal(report.Skipped), "%s: %s", s.Name, s.Reason)
				Expect(s.Reason).To(ContainSubstring("kept in the state file"))
			}
			for id, s := range run() { // at once: not in force yet
				Expect(s.Verdict).To(Equal(report.Inconclusive), "%s: %s", id, s.Reason)
			}
			time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
			later := run()
			Expect(later["REG-02"].Verdict).To(Equal(report.Passed), later["REG-02"].Reason)
			Expect(later["REG-01"].Verdict).To(Equal(c.verdict), later["REG-01"].Reason)
			Expect(later["REG-01"].Notes).To(ContainElement(ContainSubstring("registered by run")))
		})
	}
})
