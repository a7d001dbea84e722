package runner

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/aspsp"
)

// BenchmarkEmbeddedRun measures a whole run against the embedded reference bank, the
// bank's start included, with a 1 s access-token lifetime (and 1 s codes) so that the
// expiry checks run. Target: under 3 s a run on a 2-core machine.
func BenchmarkEmbeddedRun(b *testing.B) {
	var exchanges, scenarios int
	var st aspsp.Stats
	for b.Loop() {
		res, err := Run(context.Background(), Options{
			OutDir:  b.TempDir(),
			Console: io.Discard,
			Bank:    EmbeddedBank{AccessTokenLifetime: time.Second, CodeLifetime: time.Second, Counted: func(s aspsp.Stats) { st = s }},
		})
		if err != nil {
			b.Fatal(err)
		}
		if res.ExitCode != ExitCompliant {
			b.Fatalf("exit code %d against the clean reference bank", res.ExitCode)
		}
		exchanges, scenarios = res.Report.Summary.Exchanges, len(res.Report.Scenarios)
	}
	b.ReportMetric(float64(exchanges), "exchanges/run")
	b.ReportMetric(float64(scenarios), "scenarios/run")
	// Measured at the bank: what a run costs the PSUs (issue 9).
	b.ReportMetric(float64(st.SCAJourneys()), "sca-journeys/run")
	b.ReportMetric(float64(st.AuthorizeRequests), "authorize-requests/run")
}
