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

	"github.com/stetconform/stetconform/internal/preflight"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

// profileCommand is "stetconform profile": commands about bank profiles.
func profileCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Check a bank profile",
		Args:  cobra.NoArgs,
		// As under the root command: exit codes and messages are main's to give.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(profileCheckCommand())
	return cmd
}

func profileCheckCommand() *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a bank profile, its certificates and the bank's TLS, before a run",
		Long: `check loads a bank profile and reports, one line each (OK, WARN or FAIL, what, where):
the profile's own errors; each client's certificate against its client_id and its role
(organizationIdentifier, PSD2 roles, validity, clientAuth usage); then, unless --offline,
for each host of the endpoints: DNS, TCP, the server's certificate chain against tls.ca,
the TLS version, whether the bank asks for a client certificate and which CAs it accepts,
a handshake with each client's certificate, and the PSU's first page (the primary TPP's
authorization request, opened as a browser). Run it first when mutual TLS fails.

Exit codes: 0 no FAIL, 2 the profile cannot be used (a FAIL, or the file does not load).
'run' makes the same checks before its first scenario, and stops with exit 2 on a FAIL.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return checkProfile(ctx, cmd, args[0], offline)
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "skip the network probes: check the file and its certificates only")
	return cmd
}

func checkProfile(ctx context.Context, cmd *cobra.Command, file string, offline bool) error {
	out := cmd.OutOrStdout()
	var all []preflight.Finding
	emit := func(f preflight.Finding) {
		all = append(all, f)
		fmt.Fprintln(out, f)
	}
	// summary prints the counts and turns any FAIL into exit code 2.
	summary := func(note string) error {
		ok, warn, fail := preflight.Count(all)
		fmt.Fprintf(out, "%d OK, %d WARN, %d FAIL%s\n", ok, warn, fail, note)
		if fail > 0 {
			return &runner.Error{Code: runner.ExitBadInput, Err: fmt.Errorf("%s cannot be used as it is: %d FAIL", file, fail)}
		}
		return nil
	}

	p, err := profile.Load(file)
	if err != nil {
		var es profile.Errors
		if !errors.As(err, &es) {
			es = profile.Errors{{File: file, Msg: err.Error()}}
		}
		for _, e := range es {
			// The error already says file:line: field: what.
			emit(preflight.Finding{Level: preflight.Fail, What: e.Error()})
		}
		return summary("")
	}
	// The name may hold a value from the environment, which is a secret.
	redact := report.NewRedactor()
	redact.Add(p.Secrets...)
	emit(preflight.Finding{Level: preflight.OK, Where: file, What: redact.String(fmt.Sprintf("the profile loads (%s)", p.Name))})
	for _, f := range preflight.Static(p, time.Now()) {
		emit(f)
	}
	if offline {
		return summary(" (--offline: the network was not probed)")
	}
	preflight.Probe(ctx, p, emit)
	// The PSU's first page, as `run` checks it before its first scenario.
	emit(preflight.FirstPage(ctx, p))
	return summary("")
}
