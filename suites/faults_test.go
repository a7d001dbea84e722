package suites

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/report"
)

// faultRun is one run of the suite against the reference bank with one named fault.
type faultRun struct {
	fault    aspsp.Fault
	exit     int
	failed   []string // requirement IDs of the scenarios that failed
	reasons  map[string]string
	took     time.Duration
	runError string
}

// runWithFault runs the built binary, as a user would, against the embedded bank broken by
// fault (none: the clean bank), and reads which requirements its report failed.
func runWithFault(fault aspsp.Fault, dir string) faultRun {
	out := filepath.Join(dir, "clean")
	args := []string{"run", "--out", out, "--access-token-lifetime", "1s", "--concurrency", "16"}
	if fault.Name != "" {
		out = filepath.Join(dir, fault.Name)
		args = []string{"run", "--out", out, "--access-token-lifetime", "1s", "--concurrency", "16", "--fault", fault.Name}
	}
	start := time.Now()
	cmd := exec.Command(cliPath, args...)
	output, err := cmd.CombinedOutput()
	r := faultRun{fault: fault, exit: cmd.ProcessState.ExitCode(), took: time.Since(start), reasons: map[string]string{}}
	if err != nil && r.exit != 1 {
		r.runError = fmt.Sprintf("exit %d: %s", r.exit, output)
		return r
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		r.runError = err.Error()
		return r
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		r.runError = err.Error()
		return r
	}
	set := map[string]bool{}
	for _, s := range rep.Scenarios {
		if s.Verdict == report.Failed {
			for _, id := range s.Requirements {
				set[id] = true
				r.reasons[id] = s.Reason
			}
		}
	}
	for id := range set {
		r.failed = append(r.failed, id)
	}
	slices.Sort(r.failed)
	return r
}

var _ = Describe("the fault matrix: every check can fail", Ordered, func() {
	var (
		runs  []faultRun
		clean faultRun
		wall  time.Duration
	)

	BeforeAll(func() {
		dir := GinkgoT().TempDir()
		faults := aspsp.Faults()
		Expect(len(faults)).To(BeNumerically(">=", 25))
		start := time.Now()
		runs = make([]faultRun, len(faults))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4) // two cores: runs mostly wait on the bank and on expiry
		wg.Add(1)
		go func() {
			defer wg.Done()
			clean = runWithFault(aspsp.Fault{}, dir)
		}()
		for i, f := range faults {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				runs[i] = runWithFault(f, dir)
			}()
		}
		wg.Wait()
		wall = time.Since(start)
		printMatrix(runs, wall)
	})

	It("has, for every requirement a scenario checks, a fault that must make it fail", func() {
		scenarios, err := features.Scenarios()
		Expect(err).NotTo(HaveOccurred())
		broken := map[string]bool{}
		for _, f := range aspsp.Faults() {
			for _, id := range f.Breaks {
				broken[id] = true
			}
		}
		var unproven []string
		for _, s := range scenarios {
			for _, id := range s.Requirements() {
				if !broken[id] && !slices.Contains(unproven, id) {
					unproven = append(unproven, id)
				}
			}
		}
		Expect(unproven).To(BeEmpty(), "checks no named fault of the reference bank is declared to break: a check never seen to fail")
	})

	It("passes everything against the clean bank in the same matrix", func() {
		Expect(clean.runError).To(BeEmpty())
		Expect(clean.failed).To(BeEmpty(), "%v", clean.reasons)
		Expect(clean.exit).To(Equal(0))
	})

	It("catches each fault with exactly the checks it breaks", func() {
		var wrong []string
		for _, r := range runs {
			want := slices.Clone(r.fault.Breaks)
			slices.Sort(want)
			if r.runError != "" {
				wrong = append(wrong, fmt.Sprintf("%s: the run did not complete: %s", r.fault.Name, r.runError))
				continue
			}
			if !slices.Equal(want, r.failed) {
				wrong = append(wrong, fmt.Sprintf("%s: declared %v, the suite failed %v %v", r.fault.Name, want, r.failed, r.reasons))
			}
		}
		Expect(wrong).To(BeEmpty(), strings.Join(wrong, "\n"))
	})
})

// printMatrix writes the detection score and the table of fault to failed requirements,
// to the Ginkgo output and to $STETCONFORM_MATRIX_OUT (make test prints that file).
func printMatrix(runs []faultRun, wall time.Duration) {
	var b strings.Builder
	caught := 0
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tDECLARED\tFAILED BY THE SUITE\tRESULT\tTIME")
	for _, r := range runs {
		want := slices.Clone(r.fault.Breaks)
		slices.Sort(want)
		result := "caught exactly"
		switch {
		case r.runError != "":
			result = "RUN ERROR"
		case len(r.failed) == 0:
			result = "MISSED"
		case !slices.Equal(want, r.failed):
			result = "WRONG CHECKS"
		default:
			caught++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.fault.Name, strings.Join(want, " "), strings.Join(r.failed, " "), result, r.took.Round(100*time.Millisecond))
	}
	tw.Flush()
	fmt.Fprintf(&b, "Detection score: %d/%d faults caught exactly (%.0f%%); matrix wall time %s\n",
		caught, len(runs), 100*float64(caught)/float64(len(runs)), wall.Round(100*time.Millisecond))
	fmt.Fprint(GinkgoWriter, b.String())
	if path := os.Getenv("STETCONFORM_MATRIX_OUT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}
