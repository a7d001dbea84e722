package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stetconform/stetconform/internal/fleet"
	"github.com/stetconform/stetconform/internal/report"
)

// fleetExitCodes is the order of a fleet's exit code, shared by fleet and report merge.
const fleetExitCodes = `The exit code is the worst outcome of the banks, in this order (worst first):
  3 COULD NOT FINISH  a bank's run was cut short (or, for merge, a shard is missing):
                      the fleet's result is not whole, rerun first
  2 SETUP ERROR       a bank was not judged (broken profile, pre-run checks failed):
                      a NOT COMPLIANT elsewhere must not hide an unchecked bank
  1 NOT COMPLIANT     a bank failed a required check: a proven breach
  4 INCOMPLETE        nothing failed, but a check was not proved
  0 COMPLIANT         every bank COMPLIANT (or with known failures only)
Each bank's own outcome is its row in fleet.json and index.html.`

func fleetCommand() *cobra.Command {
	var (
		opts       fleet.Options
		shard      string
		scenarios  int
		progressTo string
	)
	cmd := &cobra.Command{
		Use:   "fleet [--out DIR] [--concurrency N] [--shard i/n] PROFILE...",
		Short: "Run many banks' profiles in one process, and write a fleet index over their reports",
		Long: `fleet runs the bank profiles given (files, or folders whose *.yaml and *.yml are
profiles), --concurrency banks at a time, each bank with its own profile's limits, into
one report folder per bank under --out (named after the profile file, with as many
parent folders as make it unique). It then writes the fleet's index in --out:
index.html (a bank × requirement matrix, each bank's outcome and a link to its
report.html), fleet.json and junit.xml (one testsuite per bank). A profile that does not
load is that bank's SETUP ERROR row, not the fleet's failure.

--shard i/n runs part i of n (i from 0 to n-1, as Kubernetes' JOB_COMPLETION_INDEX): the
profiles sorted by their folder name, every n-th from the i-th. The shards of a split are
disjoint, cover every profile, differ in size by one at most, and do not depend on the
order of the arguments. 'stetconform report merge' builds the whole fleet's index from the
shards' folders (see examples/k8s and examples/ci/github-actions-fleet.yml).

On a terminal each running bank has a progress bar; otherwise one line is printed as
each bank starts and ends. Each bank's console output is in its folder, console.log.

` + fleetExitCodes,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profiles = args
			if len(args) == 0 {
				return badFlag("no bank profile given: name one or more profile files (or folders of them)")
			}
			if opts.Concurrency < 1 {
				return badFlag("--concurrency %d: give the number of banks run at once, 1 or more", opts.Concurrency)
			}
			if cmd.Flags().Changed("scenario-concurrency") && scenarios < 1 {
				return badFlag("--scenario-concurrency %d: give the number of scenarios run at once in each bank, 1 or more", scenarios)
			}
			opts.Run.Concurrency = scenarios
			if opts.Run.PSUDriver == "manual" {
				return badFlag("--psu manual needs a person at a terminal for each journey, and a fleet runs its banks unattended: use form or browser")
			}
			if shard != "" {
				s, err := fleet.ParseShard(shard)
				if err != nil {
					return badFlag("%v", err)
				}
				opts.Shard = s
			}
			out := cmd.OutOrStdout()
			switch progressTo {
			case "auto":
				opts.Progress = fleet.Lines(out)
				if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					opts.Progress = fleet.Bars(f)
				}
			case "bars":
				opts.Progress = fleet.Bars(out)
			case "lines":
				opts.Progress = fleet.Lines(out)
			default:
				return badFlag("--progress %q: use auto, bars or lines", progressTo)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			x, err := fleet.Run(ctx, opts)
			if x != nil {
				writeFleetSummary(out, x, opts.OutDir)
			}
			if err != nil {
				return err
			}
			if x.ExitCode != 0 {
				return exitError{x.ExitCode}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.OutDir, "out", "reports/fleet", "directory for the fleet's index and one report folder per bank")
	f.IntVar(&opts.Concurrency, "concurrency", 4, "banks run at once (1 or more)")
	f.StringVar(&shard, "shard", "", "run only shard i of n (i/n, i from 0 to n-1) of the profiles")
	f.IntVar(&scenarios, "scenario-concurrency", 0, "scenarios run at once in each bank (1 or more; by default as a single run: 12, 8 with --psu browser)")
	f.StringVar(&opts.Run.Tags, "tags", "", `scenarios to run in every bank, godog tag syntax: "@token", "@mtls && ~@expiry"`)
	f.StringVar(&opts.Run.PSUDriver, "psu", "", "PSU driver for every bank, replacing the profiles' psu.driver: form or browser")
	f.StringVar(&opts.StateDir, "state", "", "directory keeping one state file per bank (tokens that outlive a run); none: keep nothing (default: $XDG_STATE_HOME/stetconform/fleet)")
	f.StringVar(&progressTo, "progress", "auto", "progress display: auto (bars on a terminal, else lines), bars or lines")
	return cmd
}

func reportMergeCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "merge --out DIR SHARD_DIR...",
		Short: "Build a fleet's index from the output folders of its shards (fleet --shard i/n)",
		Long: `merge reads the fleet.json of each SHARD_DIR (the --out of a 'stetconform fleet --shard
i/n'), copies each bank's report folder into --out and writes there the index the whole
fleet run in one process would have written: index.html, fleet.json, junit.xml. A shard
of the split that is missing is named in the index, and makes the outcome COULD NOT
FINISH. A bank in two folders, or shards of different splits, are refused (exit 2).

` + fleetExitCodes,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return badFlag("--out DIR is required: the folder to write the merged index into")
			}
			x, err := fleet.Merge(out, args)
			if err != nil {
				return err
			}
			writeFleetSummary(cmd.OutOrStdout(), x, out)
			if x.ExitCode != 0 {
				return exitError{x.ExitCode}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for the merged index and the banks' report folders (required)")
	return cmd
}

// writeFleetSummary prints the fleet's outcome, its banks by outcome, and where its index is.
func writeFleetSummary(w io.Writer, x *fleet.Index, dir string) {
	fmt.Fprintf(w, "\nFleet: %s (exit %d), %d bank(s)", x.Outcome, x.ExitCode, len(x.Banks))
	if x.Shard != nil {
		fmt.Fprintf(w, " of shard %s", x.Shard)
	}
	fmt.Fprintln(w)
	outcomes := make([]report.Outcome, 0, len(x.Outcomes))
	for o := range x.Outcomes {
		outcomes = append(outcomes, o)
	}
	sort.Slice(outcomes, func(i, j int) bool { return fleet.Worse(outcomes[i], outcomes[j]) })
	for _, o := range outcomes {
		fmt.Fprintf(w, "  %-30s %d\n", o, x.Outcomes[o])
	}
	for _, b := range x.Banks {
		if b.Outcome != report.Compliant && b.Outcome != report.CompliantWithKnownFailures {
			what := b.Headline // the outcome and what it covers
			if b.Error != "" || what == "" {
				what = string(b.Outcome) + ": " + b.Error
			}
			fmt.Fprintf(w, "  %s: %s\n", b.ID, firstLine(what))
		}
	}
	for _, n := range x.Notices {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintf(w, "Index: %s\n", filepath.Join(dir, fleet.IndexHTML))
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
