package runner

import (
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's target for a run: a run makes much short-lived
// garbage (TLS handshakes, JSON, evidence) and keeps little, so collecting at 200 % heap
// growth rather than Go's 100 % spends about a tenth less CPU (BenchmarkEmbeddedRun:
// 0.23 -> 0.20 s a run) for a larger heap (BenchmarkFleet, 20 banks in one process: peak
// 232 -> 304 MiB).
const gcPercent = 200

// TuneGC sets the garbage collector for runs, unless the GOGC environment variable says
// otherwise. The command calls it, and so do the benchmarks, which measure what it runs.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
