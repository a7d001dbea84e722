package fleet

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/fleet/fleettest"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

// BenchmarkFleet runs whole runs (every scenario) of 1 and of 20 reference banks in one
// fleet, all at once, side by side: the target is 20 banks within 1.5 times the
// wall time of one. ratio-to-1-bank is reported on the 20-bank line, and how many banks
// were COMPLIANT: on a loaded machine, checks that time a token's expiry may end
// inconclusive (INCOMPLETE). ratio-to-1-bank is the ratio of the mean wall times, wall-s
// the last fleet's wall time, peak-rss-MiB the process's peak memory (20 separate
// processes took 1.07 GiB).
func BenchmarkFleet(b *testing.B) {
	runner.TuneGC() // as the command runs
	var one time.Duration
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("%d-banks", n), func(b *testing.B) {
			dir := b.TempDir()
			var profiles []string
			for i := range n {
				profiles = append(profiles, fleettest.Bank(b, dir, fmt.Sprintf("bank%02d", i)))
			}
			var took, total time.Duration
			var runs int
			for b.Loop() {
				start := time.Now()
				x, err := Run(context.Background(), Options{Profiles: profiles, OutDir: b.TempDir(), Concurrency: n,
					StateDir: "none", Progress: Lines(io.Discard)})
				if err != nil {
					b.Fatal(err)
				}
				took = time.Since(start)
				total += took
				runs++
				// Not a failure here: under load, timing checks may end inconclusive.
				b.ReportMetric(float64(x.Outcomes[report.Compliant]), "compliant-banks")
			}
			// The ratio of the mean wall times: one fleet's time varies by a second with
			// whether its expiry checks overlap, more than the last fleet alone tells.
			mean := total / time.Duration(max(runs, 1))
			if n == 1 {
				one = mean
			} else if one > 0 {
				b.ReportMetric(float64(mean)/float64(one), "ratio-to-1-bank")
			}
			b.ReportMetric(took.Seconds(), "wall-s")
			// The process's peak resident memory so far, the banks included (they run in
			// it): the 20-bank line's is the fleet's (its banks need more than one).
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
				b.ReportMetric(float64(ru.Maxrss)/1024, "peak-rss-MiB")
			}
		})
	}
}
