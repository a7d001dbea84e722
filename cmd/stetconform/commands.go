package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/runner"
)

// exitError carries an exit code out of a command whose run went to the end.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	var re *runner.Error
	if errors.As(err, &re) {
		return re.Code
	}
	// Cobra's own errors (unknown flag, missing argument) are bad input.
	return runner.ExitBadInput
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "stetconform",
		Short: "Conformance suite for STET PSD2 OAuth2 endpoints (STET Part I section 3.4)",
		Long: `stetconform checks a bank's STET PSD2 OAuth2 endpoints: GET /authorize with the PSU's
SCA, the callback with a one-time code, POST /token without scope over mutual TLS with
the TPP's eIDAS QWAC, the Bearer token on the accounts resource, 401 invalid_token on an
expired token, and the refresh token. It writes report.json, junit.xml, cucumber.json
and report.html.

Exit codes of run:
  0 COMPLIANT         every MUST and declared bank-option requirement in scope passed
                      (COMPLIANT WITH KNOWN FAILURES: the only failures are in --baseline)
  1 NOT COMPLIANT     one of them failed (or, with --strict-baseline, a baseline entry
                      passed: it is stale)
  2 SETUP ERROR       bad arguments or profile, or the pre-run checks (those of
                      'profile check') found the profile unusable; the bank is not blamed
  3 COULD NOT FINISH  interrupted, the output folder is not writable, or --psu manual
                      without a terminal; partial reports are labelled so
  4 INCOMPLETE        nothing failed, but a required check in scope was skipped or
                      inconclusive; the report says what would complete it`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(runCommand(), fleetCommand(), bankCommand(), certsCommand(), profileCommand(), reportCommand())
	return root
}

func runCommand() *cobra.Command {
	var (
		opts              runner.Options
		signKey, signCert string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the features against a bank (the embedded reference bank without --bank)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRunFlags(cmd, &opts); err != nil {
				return err
			}
			if signKey != "" || signCert != "" {
				s, err := loadSigner(signKey, signCert)
				if err != nil {
					return err
				}
				opts.Seal = s
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.Console = cmd.OutOrStdout()
			res, err := runner.Run(ctx, opts)
			if err != nil {
				return err
			}
			if res.ExitCode != 0 {
				return exitError{res.ExitCode}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Profile, "bank", "", "bank profile (YAML); without it the embedded reference bank is started")
	f.StringVar(&opts.Tags, "tags", "", `scenarios to run, godog tag syntax: "@token", "@mtls && ~@expiry", "@AUTHZ-01,@AUTHZ-02"`)
	f.StringVar(&opts.OutDir, "out", "reports", "directory for report.json, junit.xml, cucumber.json, report.html")
	f.IntVar(&opts.Concurrency, "concurrency", 12, "scenarios run at once (1 or more; with --format pretty, 1; by default 8 with --psu browser or manual)")
	f.StringVar(&opts.Format, "format", "progress", "console output: progress, or pretty (the features as they read, one scenario at a time)")
	f.BoolVar(&opts.Color, "color", false, "colour the console output")
	f.StringVar(&opts.StateFile, "state", "", "private file (0600) keeping access tokens that outlive the run, for a later run's expiry check (default: $XDG_STATE_HOME/stetconform/state.json with --bank; none: keep nothing)")
	f.StringVar(&opts.PSUDriver, "psu", "", "PSU driver, replacing the profile's psu.driver: form, browser or manual")
	f.StringSliceVar(&opts.Bank.Faults, "fault", nil, "embedded bank only: named fault(s) to break it with (see 'stetconform bank --list-faults')")
	f.DurationVar(&opts.Bank.AccessTokenLifetime, "access-token-lifetime", 2*time.Second, "embedded bank only: access token lifetime")
	f.DurationVar(&opts.Bank.RefreshTokenLifetime, "refresh-token-lifetime", 3*time.Second, "embedded bank only: refresh token lifetime, from the PSU's consent")
	f.BoolVar(&opts.Bank.Unsigned, "unsigned", false, "embedded bank only: do not require signed requests")
	f.StringVar(&opts.Baseline, "baseline", "", "YAML list of known failures (requirement and reason each): a run whose only failures are listed exits 0, COMPLIANT WITH KNOWN FAILURES")
	f.BoolVar(&opts.StrictBaseline, "strict-baseline", false, "exit 1 when a requirement of the --baseline passed (a stale entry)")
	f.StringVar(&opts.RerunFailed, "rerun-failed", "", "an earlier report.json: run only the requirements that failed or were inconclusive there")
	f.StringVar(&signKey, "sign-key", "", "seal report.json into report.json.jws with this private key (PEM), or PKCS#12 file (password in $"+signPasswordEnv+"); a QSealC fits")
	f.StringVar(&signCert, "sign-cert", "", "the certificate (chain, PEM) of --sign-key; not with a PKCS#12 --sign-key")
	return cmd
}

func bankCommand() *cobra.Command {
	var (
		addr, pkiDir, profileOut string
		faults                   []string
		atLifetime, rtLifetime   time.Duration
		list, requireSignature   bool
		public                   bool
		badCertsInTLS            bool
		psus                     int
		tokenPairs, rateLimit    string
		oneSession               bool
		burnCodes                bool
		register, acceptPIISP    bool
		registerLater            time.Duration
		registerScope            string
	)
	cmd := &cobra.Command{
		Use:   "bank",
		Short: "Serve the reference bank alone on loopback and print the bank profile that reaches it",
		Long: `Serve the reference bank alone on loopback and print the bank profile that reaches it.
The PSU psu1's password is $REFERENCE_PSU_PASSWORD when set (fixtures/banks/reference.yaml
reads it from there), else the Makefile's default (` + aspsp.LoopbackPSUPassword + `) on loopback,
and a random one, written into the printed profile, with --public.
With --psus N the PSUs are psu1..psuN, all with that password. The bank counts what a run
costs its PSUs (authorization requests, logins, consents approved and refused, journeys
abandoned, code exchanges, refreshes; in total and per PSU) and serves the counts as JSON
on GET /stats.
The test PKI is written to --pki only once the bank listens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if list {
				for _, f := range aspsp.Faults() {
					what := fmt.Sprintf("breaks %v", f.Breaks)
					if f.WrongReason {
						what = "wrong reason: the affected checks must not pass"
					}
					if f.Pending != "" {
						what += "; no check catches it yet: " + f.Pending
					}
					fmt.Fprintf(out, "%-40s %s (%s)\n", f.Name, f.Description, what)
				}
				return nil
			}
			if err := checkListenAddr(addr, public); err != nil {
				return err
			}
			if psus < 1 {
				return badFlag("--psus %d: give the number of PSUs, 1 or more", psus)
			}
			if tokenPairs != aspsp.TokenPairsMany && tokenPairs != aspsp.TokenPairsOnePerPSU {
				return badFlag("--token-pairs %q: expected %s or %s", tokenPairs, aspsp.TokenPairsMany, aspsp.TokenPairsOnePerPSU)
			}
			limit, err := aspsp.ParseRateLimit(rateLimit)
			if err != nil {
				return badFlag("--rate-limit: %v", err)
			}
			// Everything that can fail comes before .pki/ is written: a second `make bank`
			// on a busy port must not replace the PKI a running one serves.
			pki, err := eidas.NewTestPKI(time.Now())
			if err != nil {
				return &runner.Error{Code: runner.ExitCannotRun, Err: err}
			}
			cfg := aspsp.Config{Addr: addr, PKI: pki, Faults: faults, AccessTokenLifetime: atLifetime, RefreshTokenLifetime: rtLifetime,
				RequireSignature: requireSignature, RefuseBadCertificatesInTLS: badCertsInTLS,
				PSUCount: psus, TokenPairs: tokenPairs, OneSessionPerPSU: oneSession, BurnCodes: burnCodes, RateLimit: limit, ServeStats: true,

				CBPII: aspsp.CBPIIConfig{AcceptPIISP: acceptPIISP}, Register: aspsp.RegisterConfig{Enabled: register || registerLater > 0 || registerScope != "", EffectiveAfter: registerLater, BootstrapScope: registerScope}}
			switch pw := os.Getenv("REFERENCE_PSU_PASSWORD"); {
			case pw != "":
				cfg.PSUs = map[string]string{aspsp.DefaultPSU: pw}
			case !public:
				// The Makefile's default, so that `bank` in one terminal and `make conformance
				// BANK=fixtures/banks/reference.yaml` in another agree; on loopback only.
				cfg.PSUs = map[string]string{aspsp.DefaultPSU: aspsp.LoopbackPSUPassword}
			}
			bank, err := aspsp.New(cfg)
			if err != nil {
				return &runner.Error{Code: runner.ExitBadInput, Err: err}
			}
			if err := bank.Start(); err != nil {
				return &runner.Error{Code: runner.ExitCannotRun, Err: err}
			}
			defer bank.Close()
			if err := pki.WriteDir(pkiDir); err != nil {
				return &runner.Error{Code: runner.ExitCannotRun, Err: err}
			}
			yaml := loopbackProfile(bank.ProfileYAML(pkiDir))
			if profileOut != "" {
				if err := os.WriteFile(profileOut, yaml, 0o600); err != nil {
					return &runner.Error{Code: runner.ExitCannotRun, Err: err}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Bank profile written to %s\n", profileOut)
			} else {
				fmt.Fprintf(out, "%s", yaml)
			}
			pool := aspsp.DefaultPSU
			if psus > 1 {
				pool = fmt.Sprintf("psu1..psu%d", psus)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Reference bank serving at %s (certificates in %s; PSU %s; counters on %s%s). Ctrl-C stops it.\n",
				bank.URL(), pkiDir, pool, bank.URL(), aspsp.PathStats)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8443", "listen address, on loopback unless --public")
	f.BoolVar(&public, "public", false, "allow a non-loopback --addr (e.g. 0.0.0.0:8443 in a container): the bank and its test PSU are then reachable by others")
	f.StringVar(&pkiDir, "pki", ".pki", "directory for the generated test PKI")
	f.StringVar(&profileOut, "profile-out", "", "write the bank profile to this file instead of standard output")
	f.StringSliceVar(&faults, "fault", nil, "named fault(s) to break the bank with")
	f.DurationVar(&atLifetime, "access-token-lifetime", time.Hour, "access token lifetime")
	f.DurationVar(&rtLifetime, "refresh-token-lifetime", 90*24*time.Hour, "refresh token lifetime, counted from the PSU's consent (STET: 90 days; RTS art. 10a allows 180)")
	f.BoolVar(&requireSignature, "require-signature", false, "refuse resource requests not signed with the calling TPP's QSealC (STET Part I 3.5); the printed profile then carries the seals")
	f.BoolVar(&badCertsInTLS, "refuse-bad-certificates-in-tls", false, "end the TLS handshake on an expired or untrusted client certificate, instead of answering invalid_client")
	f.IntVar(&psus, "psus", 1, "number of PSUs, psu1..psuN, sharing psu1's password")
	f.StringVar(&tokenPairs, "token-pairs", aspsp.TokenPairsMany, "many: every consent keeps its tokens; one-per-psu: a new consent of a PSU to a TPP for a role revokes the earlier access and refresh tokens (as BPCE)")
	f.BoolVar(&oneSession, "one-session-per-psu", false, "refuse (409 page) a PSU's login while another journey of that PSU is under way")
	f.BoolVar(&burnCodes, "burn-codes", false, "end a code at its first refused exchange, whatever was wrong with it (the printed profile says options.code_after_refusal: burned)")
	f.StringVar(&rateLimit, "rate-limit", "off", "N/DURATION, e.g. 10/1s: beyond N requests per client (certificate organizationIdentifier, else IP) in a window, answer 429 with Retry-After")
	f.BoolVar(&register, "register", false, "serve the register API (RFC 7591/7592, BPCE style) at "+aspsp.PathRegister+"; the printed profile then declares it")
	f.DurationVar(&registerLater, "register-effective-after", 0, "apply registrations and their updates this long after they are made (implies --register; 0: at once)")
	f.StringVar(&registerScope, "register-scope", "", "make a registration need an initial access token: a client credentials grant with this scope over the TPP's QWAC (implies --register)")
	f.BoolVar(&acceptPIISP, "accept-piisp", false, "also accept piisp, the CBPII scope's name before STET 1.4.2")
	f.BoolVar(&list, "list-faults", false, "list the named faults and exit")
	return cmd
}

func certsCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Write a test PKI: a test QTSP root, the bank's server certificate, TPP QWACs and QSealCs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pki, err := eidas.NewTestPKI(time.Now())
			if err != nil {
				return &runner.Error{Code: runner.ExitCannotRun, Err: err}
			}
			if err := pki.WriteDir(out); err != nil {
				return &runner.Error{Code: runner.ExitCannotRun, Err: err}
			}
			for _, kp := range []*eidas.KeyPair{pki.TPPA, pki.TPPB, pki.TPPNoRole, pki.TPPNoIC, pki.TPPAExpired, pki.TPPAUntrusted, pki.TPPASeal, pki.TPPBSeal, pki.TPPNoRoleSeal, pki.TPPNoICSeal} {
				fmt.Fprintln(cmd.OutOrStdout(), eidas.Describe(kp.Cert))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Written to %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", ".pki", "directory to write the PEM files into")
	return cmd
}
