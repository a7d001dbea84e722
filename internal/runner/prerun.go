package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/stetconform/stetconform/internal/preflight"
	"github.com/stetconform/stetconform/internal/profile"
)

// checkOutDir makes sure the reports can be written, by writing a file where they go.
func checkOutDir(dir string) error {
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".stetconform-write-check-*"); err == nil {
			f.Close()
			err = os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("the output folder %s is not writable (%v): choose another with --out (make conformance OUT=...); nothing was sent to the bank", dir, pathErrText(err))
	}
	return nil
}

// pathErrText is an *os.PathError's cause, without the path the message already says.
func pathErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// isTerminal says whether standard input is a terminal; tests replace it.
var isTerminal = func() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// checkTerminal refuses the manual PSU driver when no person can answer it: it reads the
// callback URL from standard input, and without a terminal there every journey would
// wait out timeouts.psu_journey and the run would end in nothing.
func checkTerminal(p *profile.Profile, opts Options) error {
	if p.PSU.Driver != profile.DriverManual || opts.Stdin != nil || isTerminal() {
		return nil
	}
	return errors.New("the manual PSU driver needs a person at a terminal, and standard input is not one (a pipeline, a redirect, or no TTY): run it from a terminal, or use --psu form or --psu browser; nothing was sent to the bank")
}

// preRun makes the checks of `stetconform profile check` before the first scenario: the
// profile's certificates, then the bank's hosts, its server chain, the primary TPP's
// mutual TLS, and the PSU's first page. A FAIL makes the run a SETUP ERROR: what the
// user's setup breaks is not blamed on the bank. The WARN findings are shown and the
// run goes on.
func preRun(ctx context.Context, p *profile.Profile, file string, console io.Writer) error {
	start := time.Now()
	findings := preflight.BeforeRun(ctx, p, start)
	if ctx.Err() != nil {
		return cannotRun(fmt.Errorf("the run was interrupted during the pre-run checks: %w", context.Cause(ctx)))
	}
	ok, warn, fail := preflight.Count(findings)
	for _, f := range findings {
		if f.Level == preflight.Warn {
			fmt.Fprintf(console, "%s\n", f)
		}
	}
	if fail == 0 {
		fmt.Fprintf(console, "Pre-run checks: %d OK, %d WARN (%s).\n", ok, warn, time.Since(start).Round(time.Millisecond))
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SETUP ERROR: the pre-run checks found the bank profile unusable as it is (%d FAIL); no check was run, and nothing is blamed on the bank. Fix:", fail)
	for _, f := range preflight.Failures(findings) {
		b.WriteString("\n  " + f.String())
	}
	if file != "" {
		fmt.Fprintf(&b, "\n'stetconform profile check %s' shows every check.", file)
	}
	return &Error{Code: ExitSetupError, Err: errors.New(b.String())}
}
