package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
	"github.com/stetconform/stetconform/internal/seal"
)

// reportCommand is "stetconform report": commands about written reports.
func reportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Compare two reports, verify a report's seal, or merge the shards of a fleet",
		Args:  cobra.NoArgs,
		// As under the root command: exit codes and messages are main's to give.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(reportDiffCommand(), reportVerifyCommand(), reportMergeCommand())
	return cmd
}

func reportDiffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Regressions, fixes and changed reasons between two report.json files",
		Long: `diff compares two report.json files requirement by requirement: regressions (failed in
NEW, not in OLD), fixes (failed in OLD, passed in NEW), other verdict changes, and
requirements that kept their verdict with another reason.
Exit codes: 0 no regression, 1 a regression, 2 a file that is not a report.json.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, err := readReport(args[0])
			if err != nil {
				return err
			}
			cur, err := readReport(args[1])
			if err != nil {
				return err
			}
			d := report.Compare(old, cur)
			d.Write(cmd.OutOrStdout(), args[0], args[1])
			if len(d.Regressions) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
}

// readReport reads a report.json, refusing what is not one.
func readReport(path string) (*report.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &runner.Error{Code: runner.ExitSetupError, Err: err}
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, badFlag("%s is not a stetconform report.json: %v", path, err)
	}
	if len(rep.Requirements) == 0 {
		return nil, badFlag("%s is not a stetconform report.json: it lists no requirement", path)
	}
	return &rep, nil
}

func reportVerifyCommand() *cobra.Command {
	var caFile, jwsFile string
	cmd := &cobra.Command{
		Use:   "verify REPORT",
		Short: "Verify the seal of a report.json (report.json.jws): who sealed it, when, and that no byte changed",
		Long: `verify checks REPORT against its detached JWS (REPORT.jws, written by run --sign-key):
the signature with the certificate the JWS carries (x5c), then that certificate's chain
against --ca (the QTSP's CA certificates, PEM) at the signing time; without --ca, the
system's roots. It says who sealed the report (subject and organizationIdentifier) and
when.
Exit codes: 0 the seal holds, 1 it does not (a changed byte, another key, a chain the CA
did not issue), 2 a file is missing or unreadable.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if jwsFile == "" {
				jwsFile = path + seal.Suffix
			}
			payload, err := os.ReadFile(path)
			if err != nil {
				return &runner.Error{Code: runner.ExitSetupError, Err: err}
			}
			jws, err := os.ReadFile(jwsFile)
			if err != nil {
				return &runner.Error{Code: runner.ExitSetupError, Err: fmt.Errorf("%w (the seal run --sign-key writes beside the report)", err)}
			}
			var roots *x509.CertPool
			if caFile != "" {
				data, err := os.ReadFile(caFile)
				if err != nil {
					return &runner.Error{Code: runner.ExitSetupError, Err: err}
				}
				certs, err := profile.ParseCertificates(data)
				if err != nil {
					return badFlag("--ca %s: %v", caFile, err)
				}
				roots = x509.NewCertPool()
				for _, c := range certs {
					roots.AddCert(c)
				}
			}
			out := cmd.OutOrStdout()
			s, err := seal.Verify(payload, string(jws), roots)
			if errors.Is(err, seal.ErrInvalid) {
				fmt.Fprintf(out, "INVALID %s: %v\n", path, err)
				return exitError{1}
			}
			if err != nil {
				return &runner.Error{Code: runner.ExitSetupError, Err: err}
			}
			ca := "the system's roots"
			if caFile != "" {
				ca = caFile
			}
			fmt.Fprintf(out, "VALID %s: sealed by %s\n", path, s.Subject)
			if s.OrganizationIdentifier != "" {
				fmt.Fprintf(out, "  organizationIdentifier: %s\n", s.OrganizationIdentifier)
			}
			fmt.Fprintf(out, "  signed at: %s (%s)\n", s.SignedAt.Format(time.RFC3339), s.Algorithm)
			fmt.Fprintf(out, "  certificate chain: verified against %s; issuer %s\n", ca, s.Signer.Issuer.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&caFile, "ca", "", "the CA certificates (PEM) the sealing certificate must chain to, e.g. your QTSP's")
	cmd.Flags().StringVar(&jwsFile, "jws", "", "the detached JWS (default: REPORT.jws)")
	return cmd
}
