// Package runner performs one conformance run: bank profile -> bank (embedded reference
// bank or a remote one) -> godog over the embedded features -> report files and an exit
// code. The CLI and the suites call it the same way.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/state"
	"github.com/stetconform/stetconform/steps"
)

// Exit codes of a run, as ARCHITECTURE.md states them.
const (
	ExitCompliant    = 0 // every required check passed
	ExitNotCompliant = 1 // a required check failed
	ExitBadInput     = 2 // bad profile, arguments or tag filter
	ExitCannotRun    = 3 // the run could not start, or its reports could not be written
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
	// Concurrency is how many scenarios run at once (default 8; 1 with the manual driver).
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
}

// Result is what a run produced.
type Result struct {
	Report   *report.Report
	ExitCode int
	OutDir   string
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
	catalogue, err := features.Catalogue()
	if err != nil {
		return nil, cannotRun(err)
	}
	index, err := newIndex()
	if err != nil {
		return nil, cannotRun(err)
	}

	rep := &report.Report{Tool: report.Tool{Name: "stetconform", Version: Version}, TagFilter: opts.Tags}
	var prof *profile.Profile
	if opts.Profile == "" {
		bank, err := startEmbedded(opts.Bank)
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

	redactor := report.NewRedactor()
	redactor.Add(prof.Secrets...)
	console := redactor.Writer(opts.Console)

	newDriver, notices, err := psuDrivers(prof, opts, console)
	if err != nil {
		return nil, badInput(err)
	}
	rep.Notices = append(rep.Notices, notices...)
	concurrency := opts.Concurrency
	if concurrency <= 0 {
		concurrency = 8
	}
	if prof.PSU.Driver == "manual" {
		concurrency = 1 // one person, one journey at a time
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
	env := &steps.Env{Profile: prof, Redactor: redactor, NewPSUDriver: newDriver, Locate: index.locate,
		State: store, RunID: rep.Started.UTC().Format(time.RFC3339)}
	suite := godog.TestSuite{
		Name:                "stetconform",
		ScenarioInitializer: env.Initialize,
		Options: &godog.Options{
			FS:             features.FS,
			Paths:          []string{"."},
			Tags:           opts.Tags,
			Format:         opts.Format + ",cucumber:" + cucumberPath,
			Output:         console,
			NoColors:       !opts.Color,
			Strict:         true,
			Concurrency:    concurrency,
			DefaultContext: ctx,
		},
	}
	status := suite.Run()
	rep.Finished = time.Now()
	if f, ok := console.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}

	rep.Scenarios = env.Results()
	interrupted := ctx.Err() != nil
	if interrupted {
		rep.Notices = append(rep.Notices, "The run was stopped before its end (interrupted or timed out): the verdicts are incomplete.")
	}
	if store != nil {
		if err := store.Save(); err != nil {
			rep.Notices = append(rep.Notices, "The tokens kept for a later run could not be saved: "+err.Error())
		}
	}
	if len(rep.Scenarios) == 0 {
		if status != 0 {
			return nil, cannotRun(fmt.Errorf("godog could not run the features (status %d)", status))
		}
		return nil, badInput(fmt.Errorf("the tag filter %q selects no scenario (tags use godog's syntax: \"@token && ~@expiry\", \"@AUTHZ-01,@AUTHZ-02\")", opts.Tags))
	}
	rep.Requirements = report.Aggregate(catalogue, rep.Scenarios)
	if opts.Tags != "" {
		notSelected(rep.Requirements)
	}
	report.Summarize(rep)
	redactor.Report(rep)

	cucumber, err := os.ReadFile(cucumberPath)
	if err != nil {
		return nil, cannotRun(fmt.Errorf("reading godog's cucumber output: %w", err))
	}
	if err := report.WriteAll(opts.OutDir, rep, []byte(redactor.String(string(cucumber)))); err != nil {
		return nil, cannotRun(err)
	}
	report.WriteConsoleSummary(console, rep, opts.Color)
	fmt.Fprintf(console, "Reports: %s\n", filepath.Join(opts.OutDir, "report.html"))
	if f, ok := console.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}

	res := &Result{Report: rep, OutDir: opts.OutDir, ExitCode: ExitNotCompliant}
	switch {
	case interrupted:
		res.ExitCode = ExitCannotRun
	case rep.Summary.Passed:
		res.ExitCode = ExitCompliant
	case rep.Summary.Requirements[report.Failed] == 0:
		// Nothing failed, and nothing was checked either (all skipped or not applicable):
		// no verdict, and no green light for a pipeline.
		fmt.Fprintln(console, "No requirement could be checked in this run: see the reasons of the skipped and not applicable ones.")
		res.ExitCode = ExitCannotRun
	}
	return res, nil
}

// notSelected says why a requirement is not tested when a tag filter left it out.
func notSelected(reqs []report.RequirementResult) {
	for i := range reqs {
		if reqs[i].Verdict == report.NotTested && reqs[i].NotCovered == "" {
			reqs[i].Reason = "not selected by the tag filter"
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
		d := psu.NewManualDriver(in, console, true)
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
