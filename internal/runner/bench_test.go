package runner

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cucumber/godog/colors"
	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/report"
)

// BenchmarkEmbeddedRun measures whole runs against the embedded reference bank, the
// bank's start included, with 2 s lifetimes (access tokens, codes, refresh tokens) so that
// every expiry check runs, side by side with the run's floor, each iteration taking both:
//
//   - run-s: the whole run; cpu-s/run: the CPU time it took (user and system, the
//     bank's included: it lives in the same process);
//   - floor-s: the longest deliberate wait a run needs (REFRESH-10: the refresh token's
//     lifetime and its margin, 2.45 s) plus the exchanges at loopback speed: the same run
//     without the scenarios that wait (~@expiry && ~@lifetime), start and reports
//     included; longest-sleep-s is what the scenario that slept longest did sleep;
//   - run/floor: the target is at most 1.10.
//
// It also reports, measured at the bank, the strong customer authentications and
// /authorize requests a run costs (the consent plan).
func BenchmarkEmbeddedRun(b *testing.B) {
	TuneGC() // as the command runs
	var exchanges, scenarios, n int
	var st aspsp.Stats
	var runs, noWaits, waits, cpu time.Duration
	run := func(tags string, counted func(aspsp.Stats)) (*Result, time.Duration, time.Duration) {
		cpu0 := cpuTime()
		start := time.Now()
		res, err := Run(context.Background(), Options{
			OutDir:  b.TempDir(),
			Console: io.Discard,
			Tags:    tags,
			Bank: EmbeddedBank{AccessTokenLifetime: 2 * time.Second, CodeLifetime: 2 * time.Second,
				RefreshTokenLifetime: 2 * time.Second, Counted: counted},
		})
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if res.ExitCode != ExitCompliant {
			var why []string
			for _, s := range res.Report.Scenarios {
				if s.Verdict != report.Passed && s.Verdict != report.Warning && s.Verdict != report.NotApplicable {
					why = append(why, fmt.Sprintf("%s %s: %s", s.ID, s.Verdict, s.Reason))
				}
			}
			b.Fatalf("exit code %d against the clean reference bank (tags %q):\n%s", res.ExitCode, tags, strings.Join(why, "\n"))
		}
		return res, took, cpuTime() - cpu0
	}
	for b.Loop() {
		_, took0, _ := run("~@expiry && ~@lifetime", nil)
		res, took, c := run("", func(s aspsp.Stats) { st = s })
		noWaits += took0
		runs += took
		waits += res.LongestWait
		cpu += c
		n++
		exchanges, scenarios = res.Report.Summary.Exchanges, len(res.Report.Scenarios)
	}
	// The longest wait a run needs by design: the refresh token's lifetime and the margin
	// REFRESH-10 waits past it (a tenth of the lifetime and the reference profile's 250 ms
	// expiry skew), longer than an access token's or a code's lifetime and the skew.
	const skew = 250 * time.Millisecond
	need := max(2*time.Second+skew, 2*time.Second+2*time.Second/10+skew)
	floor := noWaits + time.Duration(n)*need
	b.ReportMetric(runs.Seconds()/float64(n), "run-s")
	b.ReportMetric(floor.Seconds()/float64(n), "floor-s")
	b.ReportMetric(waits.Seconds()/float64(n), "longest-sleep-s")
	b.ReportMetric(float64(runs)/float64(floor), "run/floor")
	b.ReportMetric(cpu.Seconds()/float64(n), "cpu-s/run")
	b.ReportMetric(float64(exchanges), "exchanges/run")
	b.ReportMetric(float64(scenarios), "scenarios/run")
	// Measured at the bank: what a run costs the PSUs (issue 9).
	b.ReportMetric(float64(st.SCAJourneys()), "sca-journeys/run")
	b.ReportMetric(float64(st.AuthorizeRequests), "authorize-requests/run")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingFile counts the writes that reach the file: each is a system call.
type countingFile struct {
	f      *os.File
	writes int
}

func (c *countingFile) Write(p []byte) (int, error) { c.writes++; return c.f.Write(p) }

// BenchmarkCucumberOutput writes a whole run's cucumber.json (about 144 KB) into a file
// the way godog does given "cucumber:PATH" (through colors.Uncolored: one write per
// rune) and the way the runner does (cucumberFormat: a bufio.Writer over the file),
// side by side. writes/op is the system calls; strace of a whole `stetconform run`
// against the embedded bank shows the same: 145,403 writes before, 1,349 after.
func BenchmarkCucumberOutput(b *testing.B) {
	payload := []byte(strings.Repeat(`{"uri":"features/token_exchange.feature","id":"the-token-endpoint","keyword":"Feature","name":"Le jeton d'accès","elements":[]},`+"\n", 1200))
	for _, tc := range []struct {
		name string
		wrap func(io.Writer) (io.Writer, func() error)
	}{
		{"godog-cucumber-path", func(w io.Writer) (io.Writer, func() error) { return colors.Uncolored(w), func() error { return nil } }},
		{"runner-buffered", func(w io.Writer) (io.Writer, func() error) {
			bw := bufio.NewWriterSize(w, 64<<10)
			return bw, bw.Flush
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "cucumber.json"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			c := &countingFile{f: f}
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				c.writes = 0
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					b.Fatal(err)
				}
				w, flush := tc.wrap(c)
				if _, err := fmt.Fprintf(w, "%s\n", payload); err != nil { // as godog's cucumber formatter
					b.Fatal(err)
				}
				if err := flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.writes), "writes/op")
		})
	}
}
