// Package runner performs one conformance run: bank profile -> bank (embedded reference
// bank or a remote one) -> godog over the embedded features -> report files and an exit
// code. The CLI and the suites call it the same way.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/consent"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/seal"
	"github.com/stetconform/stetconform/internal/state"
	"github.com/stetconform/stetconform/steps"
)

// Exit codes of a run, as ARCHITECTURE.md states them; report.Decide gives those of a run
// that went to its end.
const (
	ExitCompliant      = report.ExitCompliant      // every required check in scope passed
	ExitNotCompliant   = report.ExitNotCompliant   // a required check in scope failed
	ExitSetupError     = report.ExitSetupError     // bad arguments or profile, or the pre-run checks failed
	ExitCouldNotFinish = report.ExitCouldNotFinish // interrupted, unwritable output, no terminal for --psu manual
	ExitIncomplete     = report.ExitIncomplete     // nothing failed, but a required check in scope was not proved

	ExitBadInput  = ExitSetupError     // the former name of ExitSetupError
	ExitCannotRun = ExitCouldNotFinish // the former name of ExitCouldNotFinish
)

// Version is the suite's version, stamped into reports (set by the CLI at build time).
var Version = "dev"

// Options say what one run does.
type Options struct {
	// Profile is the bank profile file; "" runs against the embedded reference bank.
	Profile string
	// Bank configures the embedded reference bank (ignored with Profile).
	Bank EmbeddedBank
	// Tags is a godog tag filter (behat syntax: "@token && ~@expiry", "@AUTHZ-01,@AUTHZ-02").
	Tags string
	// OutDir receives the reports (default "reports").
	OutDir string
	// Concurrency is how many scenarios run at once (default 12). With the manual driver
	// the journeys still come one at a time (the person does them in turn).
	Concurrency int
	// Console receives godog's progress and the summary (default os.Stdout). Secrets are
	// redacted on the way.
	Console io.Writer
	// Format is godog's console format: progress (default) or pretty.
	Format string
	// Color turns on colours on the console.
	Color bool
	// Stdin is where the manual PSU driver reads a pasted callback (default os.Stdin).
	Stdin io.Reader
	// PSUDriver, when set, replaces the profile's psu.driver (form, browser or manual).
	PSUDriver string
	// StateFile keeps access tokens that outlive the run, for a later run's expiry check.
	// "" is state.DefaultPath() with a bank profile and no state with the embedded bank
	// (whose tokens die with it); "none" keeps no state.
	StateFile string
	// Baseline is a file of known failures (report.LoadBaseline): failures it lists do not
	// keep the run from exit 0. StrictBaseline makes a stale entry exit 1.
	Baseline       string
	StrictBaseline bool
	// RerunFailed is an earlier report.json: only the requirements that failed or were
	// inconclusive there are run (and with Tags, those of them Tags selects).
	RerunFailed string
	// Seal, when set, signs report.json into report.json.jws.
	Seal *seal.Signer
	// OnScenarioEnd, when set, is called as each scenario ends, from godog's goroutines
	// (it must be safe for concurrent use): a fleet shows each bank's progress with it.
	OnScenarioEnd func()
}

// Result is what a run produced.
type Result struct {
	Report   *report.Report
	ExitCode int
	OutDir   string
	// LongestWait is the most a scenario waited on purpose (a token's or a code's
	// expiry): with the exchanges, what a run cannot take less than.
	LongestWait time.Duration
}

// Error is a run that could not produce a verdict; Code is its exit code.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func badInput(err error) error  { return &Error{Code: ExitBadInput, Err: err} }
func cannotRun(err error) error { return &Error{Code: ExitCannotRun, Err: err} }

// ExitCode returns the exit code for err (nil: 0; a run's own error: its code; else 3).
func ExitCode(err error) int {
	var e *Error
	switch {
	case err == nil:
		return ExitCompliant
	case errors.As(err, &e):
		return e.Code
	default:
		return ExitCannotRun
	}
}

// Run performs one conformance run.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Console == nil {
		opts.Console = os.Stdout
	}
	if opts.OutDir == "" {
		opts.OutDir = "reports"
	}
	if opts.Format == "" {
		opts.Format = "progress"
	}
	if opts.Format != "progress" && opts.Format != "pretty" {
		return nil, badInput(fmt.Errorf("--format %q: use progress or pretty", opts.Format))
	}
	if err := checkTags(opts.Tags); err != nil {
		return nil, err
	}
	if opts.Concurrency < 0 {
		return nil, badInput(fmt.Errorf("--concurrency %d: give the number of scenarios run at once, 1 or more", opts.Concurrency))
	}
	// godog's pretty format prints each scenario as it ends: with scenarios in parallel,
	// the features' lines interleave. It reads as the features only one at a time.
	prettyNote := ""
	if opts.Format == "pretty" {
		switch {
		case opts.Concurrency > 1:
			return nil, badInput(fmt.Errorf("--format pretty prints the features in order, one scenario at a time: it cannot be combined with --concurrency %d (use --format progress for parallel runs)", opts.Concurrency))
		case opts.Concurrency == 0:
			opts.Concurrency = 1
			prettyNote = "--format pretty: one scenario at a time, so that each feature reads in order (--format progress runs 12 at once).\n"
		}
	}
	catalogue, err := features.Catalogue()
	if err != nil {
		return nil, cannotRun(err)
	}
	index, err := newIndex()
	if err != nil {
		return nil, cannotRun(err)
	}
	tags := opts.Tags
	var rerun []string
	if opts.RerunFailed != "" {
		var filter string
		if filter, rerun, err = rerunFilter(opts.RerunFailed); err != nil {
			return nil, badInput(err)
		}
		tags = andTags(filter, opts.Tags)
	}
	var baseline report.Baseline
	if opts.Baseline != "" {
		known := map[string]bool{}
		for _, r := range catalogue {
			known[r.ID] = true
		}
		if baseline, err = report.LoadBaseline(opts.Baseline, known); err != nil {
			return nil, badInput(err)
		}
	}

	rep := &report.Report{Tool: report.Tool{Name: "stetconform", Version: Version}, TagFilter: tags}
	if opts.Baseline != "" {
		rep.Baseline = &report.BaselineUse{File: opts.Baseline, Entries: len(baseline), Strict: opts.StrictBaseline}
	}
	if len(rerun) > 0 {
		rep.Notices = append(rep.Notices, fmt.Sprintf("This run reruns only what failed or was inconclusive in %s: the scenarios of %s.", opts.RerunFailed, strings.Join(rerun, ", ")))
	}
	var prof *profile.Profile
	if opts.Profile == "" {
		person := opts.PSUDriver == profile.DriverManual
		bankOpts := opts.Bank
		if person {
			bankOpts = bankOpts.forPerson()
		}
		bank, err := startEmbedded(bankOpts)
		if ExitCode(err) == ExitBadInput {
			return nil, err
		}
		if err != nil {
			return nil, cannotRun(fmt.Errorf("starting the embedded reference bank: %w", err))
		}
		defer bank.Close()
		prof = bank.Profile
		rep.Bank.Embedded, rep.Bank.Faults = true, opts.Bank.Faults
		fmt.Fprintf(opts.Console, "No bank profile given: running against the embedded reference bank at %s%s.\n", bank.URL, faultNote(opts.Bank.Faults))
		if person {
			bank.forPerson()
			// Straight to opts.Console, not through the redacting console: the password is
			// one of the profile's secrets, which the redactor would fingerprint, and the
			// person must type it at the bank. It is a random password of a test bank that
			// lives on loopback for this run only; the reports are written from rep and
			// godog's output, both redacted, so it reaches the console alone.
			bank.printCredentials(opts.Console, bankOpts)
		}
	} else {
		prof, err = profile.Load(opts.Profile)
		if err != nil {
			return nil, badInput(err)
		}
		rep.Bank.Profile = opts.Profile
	}
	if opts.PSUDriver != "" {
		prof.PSU.Driver = opts.PSUDriver
	}
	describeBank(rep, prof)
	// What would make the run end without a verdict is found before the first request:
	// a whole run against a bank must not be lost to a folder or a terminal.
	if err := checkOutDir(opts.OutDir); err != nil {
		return nil, cannotRun(err)
	}
	if err := checkTerminal(prof, opts); err != nil {
		return nil, cannotRun(err)
	}

	redactor := report.NewRedactor()
	redactor.Add(prof.Secrets...)
	console := redactor.Writer(opts.Console)
	fmt.Fprint(console, prettyNote)

	newDriver, notices, err := psuDrivers(prof, opts, console)
	if err != nil {
		return nil, badInput(err)
	}
	rep.Notices = append(rep.Notices, notices...)
	if err := preRun(ctx, prof, opts.Profile, console); err != nil {
		return nil, err
	}
	concurrency := opts.Concurrency
	if concurrency <= 0 {
		// Many scenarios wait (a code's or a token's expiry, a consent of the pool, the
		// expiry gate): 12 at once keeps the expiry checks from waiting for a free slot
		// behind them (BenchmarkEmbeddedRun: run/floor 1.7-1.9 at 8, 0.99 at 12 and 16).
		concurrency = 12
		switch prof.PSU.Driver {
		case "browser":
			// Each journey is a Chromium: on a small machine more at once only queue for
			// the CPU (the browser suite: 77 s at 8, 100 s at 12).
			concurrency = 8
		case "manual":
			// A person's journeys are the dearest: at 12, the checks that share grants
			// overlapped more and, on a loaded machine, cost a 14th authentication (1 run
			// in 6 beside two busy loops); at 8, 13 in 8 runs of 8.
			concurrency = 8
		}
	}

	work, err := os.MkdirTemp("", "stetconform-run-")
	if err != nil {
		return nil, cannotRun(err)
	}
	defer os.RemoveAll(work)
	cucumberPath := filepath.Join(work, "cucumber.json")

	rep.Started = time.Now()
	store, err := openState(opts, rep.Bank.Embedded)
	if err != nil {
		return nil, badInput(err)
	}
	var env *steps.Env
	broker, planned, err := planConsents(prof, tags, console, func(c *consent.Code) { env.FlushCode(c) })
	if err != nil {
		return nil, cannotRun(err)
	}
	order, err := features.RunOrder()
	if err != nil {
		return nil, cannotRun(err)
	}
	env = &steps.Env{Profile: prof, Redactor: redactor, NewPSUDriver: newDriver, Locate: index.locate, ResumeTLS: rep.Bank.Embedded,
		State: store, RunID: rep.Started.UTC().Format(time.RFC3339), Consents: broker}
	ended := newEndings(ctx, index)
	godogOut := console
	switch {
	case opts.Format == "pretty":
		godogOut = hideStepDefinitions(console)
	case prof.PSU.Driver == "manual" && concurrency > 1:
		// The person reads the journeys' instructions on the console: the checks running
		// between journeys must not cut them with progress marks. The summary still comes.
		godogOut = io.Discard
	}
	suiteName, cucumberDone, err := cucumberFile(cucumberPath)
	if err != nil {
		return nil, cannotRun(err)
	}
	defer cucumberDone()
	suite := godog.TestSuite{
		Name: suiteName,
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			env.Initialize(sc)
			ended.watch(sc)
			if opts.OnScenarioEnd != nil {
				sc.After(func(ctx context.Context, _ *godog.Scenario, _ error) (context.Context, error) {
					opts.OnScenarioEnd()
					return ctx, nil
				})
			}
		},
		Options: &godog.Options{
			FS:             features.FS,
			Paths:          order,
			Tags:           tags,
			Format:         opts.Format + "," + cucumberFormat,
			Output:         godogOut,
			NoColors:       !opts.Color,
			Strict:         true,
			Concurrency:    concurrency,
			DefaultContext: ctx,
		},
	}
	status := suite.Run()
	env.Finish(ctx)
	rep.Finished = time.Now()
	if err := cucumberDone(); err != nil {
		return nil, cannotRun(fmt.Errorf("writing godog's cucumber output: %w", err))
	}
	made, _ := env.Journeys()
	rep.Journeys = &report.Journeys{Planned: planned.Total(), Plan: planned.String(), Made: made}
	journeys := fmt.Sprintf("PSU journeys: %d made, against about %d planned (%s).", made, planned.Total(), planned)
	if life := prof.Options.RefreshTokenLifetime; made > planned.Total() && life > 0 && life < 10*time.Minute {
		// The plan counts grants as if they outlived the run, as at real banks.
		journeys += fmt.Sprintf(" The bank's refresh tokens live %s, shorter than the run: a grant past half that life is not lent for a refresh, and the plan does not count the consents that replace it.", life)
	}
	rep.Notices = append(rep.Notices, journeys)
	rep.Notices = append(rep.Notices, env.OutOfService()...)
	if f, ok := godogOut.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}

	rep.Scenarios = env.Results()
	interrupted := ctx.Err() != nil
	if interrupted {
		cancelled(rep.Scenarios, ended.afterStop())
		rep.Interrupted = true
		rep.Notices = append(rep.Notices, "The run was interrupted before its end: this report is partial. The scenarios cut short are skipped (cancelled), neither passed nor failed; the outcome is COULD NOT FINISH.")
	}
	if store != nil {
		if err := store.Save(); err != nil {
			rep.Notices = append(rep.Notices, "The tokens kept for a later run could not be saved: "+err.Error())
		}
	}
	if len(rep.Scenarios) == 0 {
		switch {
		case interrupted:
			return nil, cannotRun(fmt.Errorf("the run was interrupted before its first scenario: %w", context.Cause(ctx)))
		case status != 0:
			return nil, cannotRun(fmt.Errorf("godog could not run the features (status %d)", status))
		}
		return nil, badInput(fmt.Errorf("the tag filter %q selects no scenario: no scenario carries that combination of tags (%s)", tags, tagSyntax))
	}
	rep.Requirements = report.Aggregate(catalogue, rep.Scenarios)
	notSelected(rep.Requirements, tags != "", interrupted)
	report.ApplyWaivers(rep.Requirements, prof.WaiverReasons())
	report.ApplyBaseline(rep.Requirements, baseline)
	report.Summarize(rep)
	redactor.Report(rep)

	cucumber, err := os.ReadFile(cucumberPath)
	if err != nil {
		return nil, cannotRun(fmt.Errorf("reading godog's cucumber output: %w", err))
	}
	if err := report.WriteAll(opts.OutDir, rep, []byte(redactor.String(string(cucumber)))); err != nil {
		return nil, cannotRun(err)
	}
	if opts.Seal != nil {
		jws, err := opts.Seal.SignFile(filepath.Join(opts.OutDir, "report.json"))
		if err != nil {
			return nil, cannotRun(err)
		}
		fmt.Fprintf(console, "Signed: %s (by %s)\n", jws, opts.Seal.Who())
	}
	report.WriteConsoleSummary(console, rep, opts.Color)
	label := ""
	if rep.Interrupted {
		label = " (partial: the run was interrupted)"
	}
	fmt.Fprintf(console, "Reports: %s%s\n", filepath.Join(opts.OutDir, "report.html"), label)
	if f, ok := console.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
	return &Result{Report: rep, OutDir: opts.OutDir, ExitCode: rep.Summary.ExitCode, LongestWait: env.LongestWait()}, nil
}

// cancelledReason is the reason of a scenario an interruption cut short.
const cancelledReason = "cancelled: the run was interrupted"

// cancelled makes skipped, "cancelled", every scenario of an interrupted run that did not
// pass and was cut short by the interruption: it ended after it (stopped[ID]), it never
// ended, or a step failed on the cancelled context. What such a scenario showed proves
// nothing either way; what it said is kept as a note. Scenarios that ended before, and
// not applicable ones, keep their verdict.
func cancelled(scenarios []report.ScenarioResult, stopped map[string]bool) {
	for i := range scenarios {
		s := &scenarios[i]
		if s.Verdict == report.Passed || s.Verdict == report.NotApplicable {
			continue
		}
		afterStop, ended := stopped[s.ID]
		cut := afterStop || !ended
		for _, st := range s.Steps {
			cut = cut || strings.Contains(st.Error, context.Canceled.Error())
		}
		if !cut {
			continue
		}
		if s.Reason != "" {
			s.Notes = append(s.Notes, fmt.Sprintf("when the run was interrupted, this scenario was %s: %s", s.Verdict, s.Reason))
		}
		s.Verdict, s.Reason = report.Skipped, cancelledReason
	}
}

// endings records, for each scenario that ends, whether the run was already interrupted
// then: a scenario that ended after the interruption was cut short by it (its steps may
// have skipped or failed because of it). Asking the context when the scenario ends, rather
// than comparing clocks, has no race with the moment of the interruption.
type endings struct {
	ctx   context.Context
	index index
	mu    sync.Mutex
	after map[string]bool // scenario ID -> ended after the interruption
}

func newEndings(ctx context.Context, idx index) *endings {
	return &endings{ctx: ctx, index: idx, after: map[string]bool{}}
}

// watch adds the hook that records when sc ends.
func (e *endings) watch(sc *godog.ScenarioContext) {
	sc.After(func(ctx context.Context, s *godog.Scenario, _ error) (context.Context, error) {
		stopped := e.ctx.Err() != nil
		_, line := e.index.locate(s)
		e.mu.Lock()
		e.after[scenarioID(s.Uri, line)] = stopped
		e.mu.Unlock()
		return ctx, nil
	})
}

func (e *endings) afterStop() map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.after)
}

// scenarioID is the ID the steps give a scenario in the report (steps/register.go).
func scenarioID(uri string, line int) string {
	return fmt.Sprintf("%s:%d", strings.TrimPrefix(uri, "features/"), line)
}

// notSelected says why a requirement without a scenario in this run is not tested, when
// the catalogue does not: a tag filter left it out, or an interruption came first.
func notSelected(reqs []report.RequirementResult, tagged, interrupted bool) {
	why := ""
	switch {
	case tagged && interrupted:
		why = "not selected by the tag filter, or not started before the run was interrupted"
	case tagged:
		why = "not selected by the tag filter"
	case interrupted:
		why = "not started: the run was interrupted"
	default:
		return
	}
	for i := range reqs {
		if reqs[i].Verdict == report.NotTested && reqs[i].NotCovered == "" {
			reqs[i].Reason = why
		}
	}
}

func faultNote(faults []string) string {
	if len(faults) == 0 {
		return ""
	}
	return " with the fault(s) " + strings.Join(faults, ", ")
}

// describeBank copies what a reader of the report needs to know about the bank.
func describeBank(rep *report.Report, p *profile.Profile) {
	rep.Bank.Name = p.Name
	rep.Bank.Endpoints = map[string]string{"authorize": p.Endpoints.Authorize, "token": p.Endpoints.Token, "accounts": p.Endpoints.Accounts}
	if p.Endpoints.Revoke != "" {
		rep.Bank.Endpoints["revoke"] = p.Endpoints.Revoke
	}
	o := p.Options
	rep.Bank.Options = map[string]string{
		"refresh_rotation": o.RefreshRotation, "client_mismatch": o.ClientMismatch, "pkce": o.PKCE,
		"scope_at_token": o.ScopeAtToken, "max_expiry_wait": o.MaxExpiryWait.String(), "psu_driver": p.PSU.Driver,
		"expiry_skew": o.ExpirySkew.String(), "code_lifetime": "not declared",
	}
	if o.CodeLifetime > 0 {
		rep.Bank.Options["code_lifetime"] = o.CodeLifetime.String()
	}
	if p.TLS.InsecureSkipVerify {
		rep.Notices = append(rep.Notices, "tls.insecure_skip_verify is set: the bank's server certificate was NOT verified. This run cannot prove the bank's identity.")
	}
}

// psuDrivers chooses the PSU driver the profile asks for.
func psuDrivers(p *profile.Profile, opts Options, console io.Writer) (func(*http.Client) psu.Driver, []string, error) {
	switch p.PSU.Driver {
	case "form", "":
		return func(browser *http.Client) psu.Driver { return psu.NewFormDriver(browser) }, nil, nil
	case "browser":
		exe, err := psu.FindChromium(p.PSU.Browser.Executable)
		if err != nil {
			return nil, nil, fmt.Errorf("psu.driver browser: %w", err)
		}
		var ca []byte // tls.ca, the embedded bank's test CA included
		if p.TLS.CA != "" {
			if ca, err = os.ReadFile(p.TLS.CA); err != nil {
				return nil, nil, fmt.Errorf("tls.ca: %w", err)
			}
		}
		d := psu.NewBrowserDriver(psu.BrowserOptions{Executable: exe, TrustCAsPEM: ca, IgnoreCertErrors: p.TLS.InsecureSkipVerify})
		if err := d.CheckTrust(); err != nil {
			return nil, nil, fmt.Errorf("psu.driver browser: %w", err)
		}
		return func(*http.Client) psu.Driver { return d }, nil, nil
	case "manual":
		in := opts.Stdin
		if in == nil {
			in = os.Stdin
		}
		// The console is wrapped (redacted), so it is never a terminal itself: the QR code
		// is decided by the file under it.
		screen, _ := opts.Console.(*os.File)
		d := psu.NewManual(psu.ManualOptions{In: in, Out: console, Screen: screen, ListenLoopback: true})
		return func(*http.Client) psu.Driver { return d }, nil, nil
	}
	return nil, nil, fmt.Errorf("psu.driver %q: use form, browser or manual", p.PSU.Driver)
}

// openState opens the state file the run keeps tokens in (nil: none).
func openState(opts Options, embedded bool) (*state.Store, error) {
	path := opts.StateFile
	switch {
	case path == "none", path == "" && embedded:
		return nil, nil
	case path == "":
		if path = state.DefaultPath(); path == "" {
			return nil, nil
		}
	}
	return state.Open(path)
}
