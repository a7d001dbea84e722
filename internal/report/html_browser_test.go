package report

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/report/pagecheck"
)

// TestReportPageInChromium opens report.html of a failing and of a passing run in
// headless Chromium, as a bank's engineer would, and checks that the outcome and the
// first failure are drawn in the first 1000 pixels, that the "failed only" filter works
// without script, and that the page requests nothing from the network. With
// STETCONFORM_SCREENSHOTS=dir it leaves screenshots there, to be looked at.
func TestReportPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium twice: not in -short")
	}
	if _, err := pagecheck.Chromium(); err != nil {
		t.Skip("opening the report in a browser needs Chromium: " + err.Error())
	}
	for _, c := range []struct {
		name    string
		failing bool
	}{{"failing", true}, {"passing", false}} {
		t.Run(c.name, func(t *testing.T) {
			rep := layoutReport(c.failing)
			// With STETCONFORM_SCREENSHOTS, the page is left next to its screenshots.
			dir := os.Getenv("STETCONFORM_SCREENSHOTS")
			if dir == "" {
				dir = t.TempDir()
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.name+".html")
			writeHTMLFile(t, path, rep)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			p, err := pagecheck.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pagecheck.CheckFirstScreen(t, p, string(rep.Summary.Outcome), rep.Summary.Scenarios[Failed]+rep.Summary.Scenarios[Inconclusive] > 0)
			pagecheck.SaveScreenshots(t, p, c.name)
			if c.failing {
				// The filter: tick the box, and only the unmet requirements' rows remain.
				if err := p.Click(`label[for="unmet-only"]`); err != nil {
					t.Fatal(err)
				}
				rows, err := pagecheck.Eval[int](p, `[...document.querySelectorAll("table.requirements tbody tr")].filter(r => r.getBoundingClientRect().height > 0).length`)
				if err != nil {
					t.Fatal(err)
				}
				if want := rep.Summary.Requirements[Failed] + rep.Summary.Requirements[Warning] + rep.Summary.Requirements[Inconclusive]; rows != want {
					t.Errorf("with the filter on, %d requirement rows are shown, want %d", rows, want)
				}
			}
		})
	}
}

func writeHTMLFile(t *testing.T, path string, rep *Report) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteHTML(f, rep); err != nil {
		t.Fatal(err)
	}
}
