package runner

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cucumber/godog/colors"
	"github.com/stetconform/stetconform/internal/aspsp"
)

// BenchmarkEmbeddedRun measures a whole run against the embedded reference bank, the
// bank's start included, with its default lifetimes (2 s access tokens, 4 s codes, 3 s
// refresh tokens) so that every expiry check runs. It reports, measured at the bank, the
// strong customer authentications and /authorize requests a run costs (the consent plan).
func BenchmarkEmbeddedRun(b *testing.B) {
	var exchanges, scenarios int
	var st aspsp.Stats
	for b.Loop() {
		res, err := Run(context.Background(), Options{
			OutDir:  b.TempDir(),
			Console: io.Discard,
			Bank:    EmbeddedBank{Counted: func(s aspsp.Stats) { st = s }},
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
