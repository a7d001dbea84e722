package runner

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkEmbeddedRun measures a whole run against the embedded reference bank, the
// bank's start included, with a 1 s access-token lifetime (and 1 s codes) so that the
// expiry checks run. Target: under 3 s a run on a 2-core machine.
func BenchmarkEmbeddedRun(b *testing.B) {
	var exchanges, scenarios int
	for b.Loop() {
		res, err := Run(context.Background(), Options{
			OutDir:  b.TempDir(),
			Console: io.Discard,
			Bank:    EmbeddedBank{AccessTokenLifetime: time.Second, CodeLifetime: time.Second},
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
}
