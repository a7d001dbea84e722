package browser

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

var _ = Describe("a run with the browser PSU driver", Label("browser"), func() {
	It("passes every scenario against the reference bank, the PSU driven in headless Chromium", func() {
		if _, err := psu.FindChromium(""); err != nil {
			if os.Getenv("CI") != "" {
				Fail("CI must have Chromium (.ci/run installs it): " + err.Error())
			}
			Skip("the browser PSU driver needs Chromium: " + err.Error())
		}
		if _, err := exec.LookPath("certutil"); err != nil {
			if os.Getenv("CI") != "" {
				Fail("CI must have certutil (.ci/run installs it): " + err.Error())
			}
			Skip("the browser PSU driver needs certutil to trust the reference bank's CA: " + err.Error())
		}
		res, err := runner.Run(context.Background(), runner.Options{
			OutDir: GinkgoT().TempDir(), Console: GinkgoWriter, PSUDriver: "browser",
			// Chromium closes between the callback and the exchange: room for a busy machine.
			// A Chromium journey takes seconds: the expiry check watches a token only once the
			// consents under way are done, so the token must outlive them.
			Bank: runner.EmbeddedBank{CodeLifetime: 10 * time.Second, AccessTokenLifetime: 15 * time.Second,
				RefreshTokenLifetime: 20 * time.Second},
			Concurrency: 4, // a Chromium per journey: two cores
		})
		Expect(err).NotTo(HaveOccurred())
		journeys := 0
		for _, s := range res.Report.Scenarios {
			Expect(s.Verdict).To(Equal(report.Passed), "%s %q: %s", s.ID, s.Name, s.Reason)
			for _, st := range s.Steps {
				if st.Status == "passed" && (containsAny(st.Text, "the PSU approves", "the PSU refuses", "has approved", "goes through")) {
					journeys++
				}
			}
		}
		Expect(journeys).To(BeNumerically(">", 10))
		Expect(res.ExitCode).To(Equal(runner.ExitCompliant))
		// The browser trusts the embedded bank's test CA as any bank's tls.ca: it ignores no
		// certificate error, and the report has nothing to say about it.
		Expect(res.Report.Notices).NotTo(ContainElement(MatchRegexp(`(?i)certificate`)))
	})
})

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
