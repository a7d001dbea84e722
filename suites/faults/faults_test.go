package faults

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
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

// Exit codes of a run that completed: its report says what the bank did.
const (
	exitCompliant    = 0
	exitNotCompliant = 1
	exitIncomplete   = 4 // nothing failed, but a required check was skipped or inconclusive
)

// smallFault is the most requirements a fault may break and still show one of them
// failing on its own.
const smallFault = 3

// entangled are the MUSTs no single-behaviour fault can show failing alone, and why. None
// today: a journey stopped by a 401/403 at the first hop is inconclusive for the checks
// that need it, so authorize-needs-client-cert fails AUTHZ-01/12 alone.
var entangled = map[string]string{}

// scenarioRun is one scenario of a run, as its report says.
type scenarioRun struct {
	name         string
	requirements []string
	verdict      report.Verdict
	reason       string
	lastStatus   int // HTTP status of the scenario's last exchange (0: none, or no answer)
}

// faultRun is one run of the suite against the reference bank with one named fault.
type faultRun struct {
	fault     aspsp.Fault
	exit      int
	scenarios []scenarioRun
	took      time.Duration
	runError  string
}

// runsPerCPU is how many runs of the matrix go at once per CPU: a run mostly waits (for a
// token or a code to expire) and takes about a quarter of a CPU second, so that 5 runs a
// CPU keep the machine busy without starving the runs' timed checks.
const runsPerCPU = 5

// matrixConcurrency is how many runs of the matrix go at once: $STETCONFORM_MATRIX_CONCURRENCY,
// or runsPerCPU for each CPU the process may use (GOMAXPROCS): 10 on 2 cores.
func matrixConcurrency() int {
	if v := os.Getenv("STETCONFORM_MATRIX_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		Expect(err).NotTo(HaveOccurred(), "STETCONFORM_MATRIX_CONCURRENCY=%q: give a number of runs, 1 or more", v)
		Expect(n).To(BeNumerically(">=", 1), "STETCONFORM_MATRIX_CONCURRENCY=%q: give a number of runs, 1 or more", v)
		return n
	}
	return runsPerCPU * runtime.GOMAXPROCS(0)
}

// runWithFault runs the built binary, as a user would, against the embedded bank broken by
// fault (none: the clean bank), and reads its report.
func runWithFault(fault aspsp.Fault, dir string) faultRun {
	out := filepath.Join(dir, "clean")
	if fault.Name != "" {
		out = filepath.Join(dir, fault.Name)
	}
	// 2 s access tokens: expires_in is rounded up to the second, so a 1 s token cannot be
	// proven seen working before its expiry (BEARER-04), and 1 s is short on a loaded machine.
	args := []string{"run", "--out", out, "--access-token-lifetime", "2s", "--concurrency", "16"}
	if fault.Name != "" {
		args = append(args, "--fault", fault.Name)
	}
	start := time.Now()
	cmd := exec.Command(cliPath, args...)
	output, _ := cmd.CombinedOutput()
	r := faultRun{fault: fault, exit: cmd.ProcessState.ExitCode(), took: time.Since(start)}
	switch r.exit {
	case exitCompliant, exitNotCompliant, exitIncomplete:
	default:
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
	for _, s := range rep.Scenarios {
		sr := scenarioRun{name: s.Name, requirements: s.Requirements, verdict: s.Verdict, reason: s.Reason}
		if n := len(s.Exchanges); n > 0 && s.Exchanges[n-1].Response != nil {
			sr.lastStatus = s.Exchanges[n-1].Response.Status
		}
		r.scenarios = append(r.scenarios, sr)
	}
	return r
}

// failed returns the requirement IDs of the failed scenarios, sorted.
func (r faultRun) failed() []string {
	var ids []string
	for _, s := range r.scenarios {
		if s.verdict == report.Failed {
			for _, id := range s.requirements {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// status is a requirement's outcome from its scenarios: failed if one failed, else
// inconclusive if one was, else skipped if one was not checked, else passed (a warning
// included), else not applicable. The matrix computes it itself, so that a pass never
// hides an inconclusive or skipped scenario of the same requirement.
func (r faultRun) status(id string) report.Verdict {
	seen := map[report.Verdict]bool{}
	for _, s := range r.scenarios {
		if slices.Contains(s.requirements, id) {
			seen[s.verdict] = true
		}
	}
	switch {
	case seen[report.Failed]:
		return report.Failed
	case seen[report.Inconclusive]:
		return report.Inconclusive
	case seen[report.Skipped] || seen[report.NotTested] || seen[""]:
		return report.Skipped
	case seen[report.Passed] || seen[report.Warning]:
		return report.Passed
	}
	return report.NotApplicable
}

// inconclusive returns the requirements whose status is inconclusive, sorted.
func (r faultRun) inconclusive() []string {
	var ids []string
	for _, s := range r.scenarios {
		for _, id := range s.requirements {
			if !slices.Contains(ids, id) && r.status(id) == report.Inconclusive {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// problem is one way a run differs from what its fault declares; kind names it in the
// matrix's RESULT column.
type problem struct{ kind, detail string }

// judge compares a run with its fault's declaration:
//   - the run completed (exit 0, 1 or 4);
//   - exactly the declared requirements failed (NotPassed ones may fail too), failed by
//     exactly the declared scenarios, each for a reason matching the declared pattern;
//   - every declared-inconclusive requirement is inconclusive, none passed; no
//     NotPassed requirement passed;
//   - no scenario passed on a 429 or a 5xx (never a refusal);
//   - a wrong-reason fault that declares nothing in particular left some check
//     inconclusive.
func judge(r faultRun) []problem {
	f := r.fault
	if r.runError != "" {
		return []problem{{"RUN ERROR", r.runError}}
	}
	var ps []problem
	add := func(kind, format string, args ...any) { ps = append(ps, problem{kind, fmt.Sprintf(format, args...)}) }
	failed := r.failed()
	if len(f.Breaks) > 0 && len(failed) == 0 {
		add("MISSED", "declared %v, the suite failed nothing", f.Breaks)
	}
	for _, id := range f.Breaks {
		if len(failed) > 0 && !slices.Contains(failed, id) {
			add("WRONG CHECKS", "%s is declared failed; it is %s", id, r.status(id))
		}
	}
	var extra []string
	for _, id := range failed {
		if !slices.Contains(f.Breaks, id) && !slices.Contains(f.NotPassed, id) && !slices.Contains(f.MayFail, id) {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		add("WRONG CHECKS", "failed, not declared failed (the scenarios below say why): %s", strings.Join(extra, " "))
	}
	reason, err := regexp.Compile(f.Reason)
	if err != nil {
		add("BAD DECLARATION", "Reason: %v", err)
		reason = regexp.MustCompile(`$^`)
	}
	for _, s := range r.scenarios {
		declared := slices.Contains(f.Scenarios, s.name)
		switch {
		case s.verdict != report.Failed:
		case declared && !reason.MatchString(s.reason):
			add("WRONG REASON", "%q failed for another reason than /%s/: %s", s.name, f.Reason, s.reason)
		case !declared && !allIn(s.requirements, slices.Concat(f.NotPassed, f.MayFail)):
			add("WRONG SCENARIOS", "%q failed, not declared: %s", s.name, s.reason)
		}
		if (s.verdict == report.Passed || s.verdict == report.Warning) && (s.lastStatus == 429 || s.lastStatus >= 500) {
			add("PASSED WRONGLY", "%q passed on an HTTP %d, which is never a refusal", s.name, s.lastStatus)
		}
	}
	for _, name := range f.Scenarios {
		i := slices.IndexFunc(r.scenarios, func(s scenarioRun) bool { return s.name == name })
		switch {
		case i < 0:
			add("WRONG SCENARIOS", "%q is declared failed; the run has no such scenario", name)
		case r.scenarios[i].verdict != report.Failed:
			add("WRONG SCENARIOS", "%q is declared failed; it is %s %s", name, r.scenarios[i].verdict, r.scenarios[i].reason)
		}
	}
	for _, id := range f.Inconclusive {
		if st := r.status(id); st != report.Inconclusive && st != report.Failed { // failed: reported above
			kind := "NOT INCONCLUSIVE"
			if st == report.Passed {
				kind = "PASSED WRONGLY"
			}
			add(kind, "%s is declared inconclusive; it is %s", id, st)
		}
	}
	for _, id := range f.NotPassed {
		if r.status(id) == report.Passed {
			add("PASSED WRONGLY", "%s must not pass under this fault; it passed", id)
		}
	}
	if f.WrongReason && len(f.Inconclusive)+len(f.NotPassed) == 0 && len(r.inconclusive()) == 0 && f.WorkedAround == "" {
		add("NOT INCONCLUSIVE", "no check ended inconclusive")
	}
	return ps
}

// provable returns the faults of the catalogue the features can catch: a pending fault's
// checks are not written yet (internal/aspsp's tests show its behaviour).
func provable() []aspsp.Fault {
	var out []aspsp.Fault
	for _, f := range aspsp.Faults() {
		if f.Pending == "" {
			out = append(out, f)
		}
	}
	return out
}

func allIn(ids, set []string) bool {
	if len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		if !slices.Contains(set, id) {
			return false
		}
	}
	return true
}

var _ = Describe("the fault catalogue", func() {
	var (
		scenarios []features.Scenario
		musts     map[string]bool
	)
	BeforeEach(func() {
		var err error
		scenarios, err = features.Scenarios()
		Expect(err).NotTo(HaveOccurred())
		cat, err := features.Catalogue()
		Expect(err).NotTo(HaveOccurred())
		musts = map[string]bool{}
		for _, req := range cat {
			if req.Level == report.LevelMust {
				musts[req.ID] = true
			}
		}
	})

	It("has, for every requirement a scenario checks, a fault that must make it fail", func() {
		broken := map[string]bool{}
		for _, f := range provable() {
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

	It(fmt.Sprintf("shows every MUST a scenario checks failing under a fault that breaks at most %d requirements", smallFault), func() {
		small := map[string]bool{}
		for _, f := range provable() {
			if len(f.Breaks) <= smallFault {
				for _, id := range f.Breaks {
					small[id] = true
				}
			}
		}
		var broad []string
		for _, s := range scenarios {
			for _, id := range s.Requirements() {
				if musts[id] && !small[id] && entangled[id] == "" && !slices.Contains(broad, id) {
					broad = append(broad, id)
				}
			}
		}
		Expect(broad).To(BeEmpty(), "MUSTs seen failing only through broad faults: add a fault that breaks one behaviour")
	})

	It("declares, for each fault, scenarios that exist and check exactly the requirements it breaks", func() {
		var wrong []string
		for _, f := range provable() {
			var covered []string
			for _, name := range f.Scenarios {
				i := slices.IndexFunc(scenarios, func(s features.Scenario) bool { return s.Name == name })
				if i < 0 {
					wrong = append(wrong, fmt.Sprintf("%s: no scenario is named %q", f.Name, name))
					continue
				}
				for _, id := range scenarios[i].Requirements() {
					if !slices.Contains(covered, id) {
						covered = append(covered, id)
					}
				}
			}
			want := slices.Sorted(slices.Values(f.Breaks))
			slices.Sort(covered)
			if !slices.Equal(want, covered) {
				wrong = append(wrong, fmt.Sprintf("%s: breaks %v, its scenarios check %v", f.Name, want, covered))
			}
		}
		Expect(wrong).To(BeEmpty(), strings.Join(wrong, "\n"))
	})
})

// matrixText is the fault matrix's container, as Ginkgo's focus and skip see it.
const matrixText = "the fault matrix: every check can fail, and none passes for the wrong reason"

// matrix is the fault matrix's runs. They are child processes that mostly wait (for a
// token or a code to expire, for a bank's Retry-After), so the suite starts them as it
// starts (startMatrix, when the matrix will run) and the other specs run meanwhile; the
// matrix's specs wait for them.
var matrix struct {
	once  sync.Once
	done  chan struct{}
	dir   string
	runs  []faultRun
	clean faultRun
	wall  time.Duration
}

// startMatrix starts the fault matrix's runs in the background, once.
func startMatrix() {
	matrix.once.Do(func() {
		matrix.done = make(chan struct{})
		dir, err := os.MkdirTemp("", "stetconform-matrix-")
		Expect(err).NotTo(HaveOccurred())
		matrix.dir = dir
		faults := provable()
		matrix.runs = make([]faultRun, len(faults))
		sem := make(chan struct{}, matrixConcurrency())
		// The runs start in this order: the wrong-reason faults first, since their runs
		// wait out a bank's Retry-After and PSU journeys that never end, and take from
		// 10 s to 2 minutes (authorize-unavailable), against 5 s for the others. Started
		// last, such a run would add its whole length to the matrix's wall time.
		order := []int{}
		for i, f := range faults {
			if f.WrongReason {
				order = append(order, i)
			}
		}
		order = append(order, -1) // the clean run
		for i, f := range faults {
			if !f.WrongReason {
				order = append(order, i)
			}
		}
		go func() {
			defer close(matrix.done)
			start := time.Now()
			var wg sync.WaitGroup
			for _, i := range order {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if i < 0 {
						matrix.clean = runWithFault(aspsp.Fault{}, dir)
						return
					}
					matrix.runs[i] = runWithFault(faults[i], dir)
				}()
			}
			wg.Wait()
			matrix.wall = time.Since(start)
		}()
	})
}

// endMatrix waits for the matrix's runs, if they started, and removes their folders: at
// the end of the suite.
func endMatrix() {
	if matrix.done != nil {
		<-matrix.done
		_ = os.RemoveAll(matrix.dir)
	}
}

// matrixWillRun says whether the suite's focus, skip and label filters leave the matrix's
// specs in, as far as the container's text tells: a wrong guess only makes the matrix
// start late (its BeforeAll starts it) or run for nothing.
func matrixWillRun() bool {
	conf, _ := GinkgoConfiguration()
	if conf.DryRun || conf.ParallelTotal > 1 || conf.LabelFilter != "" {
		return false
	}
	for _, s := range conf.SkipStrings {
		if regexp.MustCompile(s).MatchString(matrixText) {
			return false
		}
	}
	if len(conf.FocusStrings) == 0 {
		return true
	}
	for _, f := range conf.FocusStrings {
		if regexp.MustCompile(f).MatchString(matrixText) {
			return true
		}
	}
	return false
}

var _ = Describe(matrixText, Ordered, func() {
	var (
		runs  []faultRun
		clean faultRun
	)

	BeforeAll(func() {
		Expect(len(provable())).To(BeNumerically(">=", 25))
		startMatrix() // if the suite did not
		<-matrix.done
		runs, clean = matrix.runs, matrix.clean
		printMatrix(runs, matrix.wall)
	})

	It("passes everything against the clean bank in the same matrix", func() {
		Expect(clean.runError).To(BeEmpty())
		var notPassed []string
		for _, s := range clean.scenarios {
			if s.verdict != report.Passed && s.verdict != report.Warning {
				notPassed = append(notPassed, fmt.Sprintf("%q: %s %s", s.name, s.verdict, s.reason))
			}
		}
		Expect(notPassed).To(BeEmpty(), strings.Join(notPassed, "\n"))
		Expect(clean.exit).To(Equal(exitCompliant))
	})

	It("catches each detection fault exactly: the declared checks fail, in the declared scenarios, for the declared reason", func() {
		Expect(problems(runs, false)).To(BeEmpty())
	})

	It("ends each wrong-reason fault with its checks inconclusive, none passed", func() {
		Expect(problems(runs, true)).To(BeEmpty())
	})
})

// problems lists, one a line, how the runs of one kind of fault differ from their
// declaration.
func problems(runs []faultRun, wrongReason bool) []string {
	var out []string
	for _, r := range runs {
		if r.fault.WrongReason != wrongReason {
			continue
		}
		for _, p := range judge(r) {
			out = append(out, fmt.Sprintf("%s: %s: %s", r.fault.Name, p.kind, p.detail))
		}
	}
	return out
}

// printMatrix writes the scores and the table of fault to failed and inconclusive
// requirements, with what differs from each declaration, to the Ginkgo output and to
// $STETCONFORM_MATRIX_OUT (make test prints that file).
func printMatrix(runs []faultRun, wall time.Duration) {
	var b strings.Builder
	var caught, detection, held, wrongReason int
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tKIND\tDECLARED FAILED\tFAILED BY THE SUITE\tINCONCLUSIVE\tEXIT\tRESULT\tTIME")
	var details []string
	for _, r := range runs {
		ps := judge(r)
		kind, result := "detection", "caught exactly"
		if r.fault.WrongReason {
			kind, result = "wrong-reason", "inconclusive, none passed"
			wrongReason++
			if len(ps) == 0 {
				held++
			}
		} else {
			detection++
			if len(ps) == 0 {
				caught++
			}
		}
		if len(ps) > 0 {
			result = ps[0].kind
		}
		for _, p := range ps {
			details = append(details, fmt.Sprintf("  %s: %s: %s", r.fault.Name, p.kind, oneLine(p.detail, 400)))
		}
		want := slices.Sorted(slices.Values(r.fault.Breaks))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.fault.Name, kind, idList(want), idList(r.failed()),
			idList(r.inconclusive()), r.exit, result, r.took.Round(100*time.Millisecond))
	}
	tw.Flush()
	if len(details) > 0 {
		b.WriteString("\nWhat differs from the declarations:\n" + strings.Join(details, "\n") + "\n\n")
	}
	fmt.Fprintf(&b, "Detection: %d/%d faults caught exactly (failed by the declared scenarios, for the declared reason); "+
		"wrong-reason: %d/%d faults left their checks inconclusive, none passed\n", caught, detection, held, wrongReason)
	fmt.Fprintf(&b, "Matrix wall time %s, %d runs at once\n", wall.Round(100*time.Millisecond), matrixConcurrency())
	fmt.Fprint(GinkgoWriter, b.String())
	if path := os.Getenv("STETCONFORM_MATRIX_OUT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

func idList(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, " ")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
