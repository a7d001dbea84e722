package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stetconform/stetconform/internal/fleet"
	"github.com/stetconform/stetconform/internal/fleet/fleettest"
	"github.com/stetconform/stetconform/internal/runner"
)

// TestFleetRefusesBadFlags: what would not do what it says is exit 2 before any bank.
func TestFleetRefusesBadFlags(t *testing.T) {
	profile := fleettest.Broken(t, t.TempDir(), "never-run")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "3/3", profile}, `--shard "3/3": shards are numbered from 0: give 0/3 to 2/3`},
		{[]string{"--shard", "1", profile}, `--shard "1": expected i/n`},
		{[]string{"--shard", "0/0", profile}, "n is the number of shards, 1 or more"},
		{[]string{"--concurrency", "0", profile}, "--concurrency 0: give the number of banks run at once"},
		{[]string{"--scenario-concurrency", "0", profile}, "--scenario-concurrency 0"},
		{[]string{"--psu", "manual", profile}, "--psu manual needs a person"},
		{[]string{"--progress", "fancy", profile}, `--progress "fancy"`},
		{[]string{}, "no bank profile given"},
		{[]string{t.TempDir()}, "a folder with no profile"},
	} {
		out := t.TempDir()
		code, text := execute(t, append([]string{"fleet", "--out", out, "--state", "none"}, tc.args...)...)
		if code != runner.ExitSetupError || !strings.Contains(text, tc.want) {
			t.Errorf("%v: exit %d, output:\n%s\nwant exit 2 with %q", tc.args, code, text, tc.want)
		}
		if _, err := os.Stat(filepath.Join(out, "never-run")); err == nil {
			t.Errorf("%v: a bank was run", tc.args)
		}
	}
	if code, text := execute(t, "report", "merge", t.TempDir()); code != 2 || !strings.Contains(text, "--out DIR is required") {
		t.Errorf("merge without --out: exit %d\n%s", code, text)
	}
	if code, text := execute(t, "report", "merge", "--out", t.TempDir(), t.TempDir()); code != 2 || !strings.Contains(text, "is not a fleet's output folder") {
		t.Errorf("merge of a folder that is not a fleet's: exit %d\n%s", code, text)
	}
}

// TestFleetCommand: a fleet of two reference banks and a broken profile exits 2 (the
// broken bank's SETUP ERROR), as does the merge of its two shards; a folder of profiles
// stands for its files.
func TestFleetCommand(t *testing.T) {
	dir := t.TempDir()
	fleettest.Bank(t, dir, "alpha")
	fleettest.Bank(t, dir, "beta")
	fleettest.Broken(t, dir, "broken")
	common := []string{"--tags", "@TOKEN-01", "--state", "none", "--concurrency", "3"}

	out := t.TempDir()
	code, text := execute(t, append(append([]string{"fleet", "--out", out, "--progress", "bars"}, common...), dir)...)
	for _, want := range []string{"Fleet: SETUP ERROR (exit 2), 3 bank(s)", "SETUP ERROR                    1", "COMPLIANT                      2",
		"broken: SETUP ERROR: ", "alpha: COMPLIANT in ", "Index: " + filepath.Join(out, "index.html")} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if code != runner.ExitSetupError {
		t.Errorf("fleet: exit %d, want 2", code)
	}

	var shards []string
	for _, s := range []string{"0/2", "1/2"} {
		d := t.TempDir()
		code, text := execute(t, append(append([]string{"fleet", "--out", d, "--shard", s, "--progress", "lines"}, common...), dir)...)
		if !strings.Contains(text, "of shard "+s) || (code != 0 && code != 2) {
			t.Errorf("shard %s: exit %d\n%s", s, code, text)
		}
		shards = append(shards, d)
	}
	merged := t.TempDir()
	code, text = execute(t, append([]string{"report", "merge", "--out", merged}, shards...)...)
	if code != runner.ExitSetupError || !strings.Contains(text, "Fleet: SETUP ERROR (exit 2), 3 bank(s)") {
		t.Errorf("merge: exit %d\n%s", code, text)
	}
	for _, f := range []string{fleet.IndexHTML, fleet.IndexJSON, fleet.IndexJUnit, "alpha/report.html", "beta/report.json"} {
		if _, err := os.Stat(filepath.Join(merged, f)); err != nil {
			t.Error(err)
		}
	}
	code, text = execute(t, "report", "merge", "--out", t.TempDir(), shards[1])
	if code != runner.ExitCouldNotFinish || !strings.Contains(text, "Shard(s) 0/2 missing") {
		t.Errorf("merge of one shard of two: exit %d\n%s", code, text)
	}
}
