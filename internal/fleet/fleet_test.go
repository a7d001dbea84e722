package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/fleet/fleettest"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

// testTags keeps the fleet tests fast: two requirements a reference bank passes.
const testTags = "@TOKEN-01,@TOKEN-04"

func TestParseShard(t *testing.T) {
	for in, want := range map[string]Shard{"0/1": {0, 1}, "0/4": {0, 4}, "3/4": {3, 4}, " 2 / 8 ": {2, 8}} {
		if got, err := ParseShard(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"4/4": "shards are numbered from 0: give 0/4 to 3/4", "-1/4": "numbered from 0", "1/0": "1 or more",
		"1": "expected i/n", "a/b": "expected i/n", "": "expected i/n",
	} {
		if _, err := ParseShard(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestUniqueIDs(t *testing.T) {
	got := uniqueIDs([]string{"banks/bpce/bp-alsace/bank.yaml", "banks/bpce/ce-idf/bank.yaml", "ca/CA Nord.yml", "x/hsbc.yaml", "y/hsbc.yaml", "x/hsbc.yaml", "../lcl.yaml"})
	want := []string{"bp-alsace-bank", "ce-idf-bank", "CA_Nord", "x-hsbc", "y-hsbc", "x-hsbc-2", "lcl"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("uniqueIDs: %q, want %q", got, want)
	}
}

// TestSelectPartitions: the shards of a split are disjoint, cover every profile, are
// balanced, and do not depend on the order the profiles were given in.
func TestSelectPartitions(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, n := range []string{"e", "a", "d", "b", "c", "g", "f"} {
		paths = append(paths, filepath.Join(dir, n+".yaml"))
	}
	all, err := Expand(paths)
	if err != nil {
		t.Fatal(err)
	}
	reversed := make([]string, len(paths))
	for i, p := range paths {
		reversed[len(paths)-1-i] = p
	}
	again, _ := Expand(reversed)
	seen := map[string]int{}
	for i := range 3 {
		part := Select(all, Shard{i, 3})
		if n := len(part); n < 2 || n > 3 {
			t.Errorf("shard %d/3 has %d profiles of 7", i, n)
		}
		if !reflect.DeepEqual(part, Select(again, Shard{i, 3})) {
			t.Errorf("shard %d/3 depends on the order of the arguments", i)
		}
		for _, p := range part {
			seen[p.ID]++
		}
	}
	if len(seen) != 7 {
		t.Errorf("the shards cover %d profiles of 7", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s is in %d shards", id, n)
		}
	}
}

func TestMatches(t *testing.T) {
	tags := []string{"@token", "@TOKEN-01"}
	for expr, want := range map[string]bool{"": true, "@token": true, "~@token": false, "@TOKEN-01,@TOKEN-04": true,
		"@token && ~@TOKEN-01": false, "@x,@token && @TOKEN-01": true, "@x": false} {
		if got := matches(expr, tags); got != want {
			t.Errorf("%q: %v", expr, got)
		}
	}
	if n, err := selected(testTags); err != nil || n != 3 {
		t.Errorf("selected(%q) = %d, %v; want 3 (TOKEN-04 is checked in two features)", testTags, n, err)
	}
}

func TestWorstOutcomeOrder(t *testing.T) {
	order := []report.Outcome{report.Compliant, report.CompliantWithKnownFailures, report.Incomplete, report.NotCompliant, report.SetupError, report.CouldNotFinish}
	for i := 1; i < len(order); i++ {
		if !Worse(order[i], order[i-1]) || Worse(order[i-1], order[i]) {
			t.Errorf("%s should rank above %s", order[i], order[i-1])
		}
	}
	x := &Index{Banks: []Bank{{ID: "b", Outcome: report.Incomplete}, {ID: "a", Outcome: report.NotCompliant}, {ID: "c", Outcome: report.Compliant}}}
	x.Summarize()
	if x.Outcome != report.NotCompliant || x.ExitCode != 1 || x.Banks[0].ID != "a" || x.Outcomes[report.Compliant] != 1 {
		t.Errorf("summary %+v", x)
	}
	empty := &Index{}
	empty.Summarize()
	if empty.ExitCode != 0 {
		t.Errorf("an empty shard exits %d", empty.ExitCode)
	}
}

// fleetOf starts two reference banks and writes a broken profile.
func fleetOf(t *testing.T) []string {
	dir := t.TempDir()
	return []string{fleettest.Bank(t, dir, "alpha"), fleettest.Bank(t, dir, "beta"), fleettest.Broken(t, dir, "broken")}
}

func runFleet(t *testing.T, profiles []string, out string, shard Shard) *Index {
	t.Helper()
	var log bytes.Buffer
	x, err := Run(context.Background(), Options{Profiles: profiles, OutDir: out, Concurrency: 3, Shard: shard,
		Run: runner.Options{Tags: testTags}, StateDir: "none", Progress: Lines(&log)})
	if err != nil {
		t.Fatalf("fleet: %v\n%s", err, log.String())
	}
	return x
}

// TestFleetAgainstReferenceBanks: two banks that pass and a broken profile, in one
// process; the broken one is its bank's SETUP ERROR row and the fleet's exit code, the
// others have their verdicts and reports.
func TestFleetAgainstReferenceBanks(t *testing.T) {
	profiles := fleetOf(t)
	out := t.TempDir()
	var log bytes.Buffer
	x, err := Run(context.Background(), Options{Profiles: profiles, OutDir: out, Concurrency: 2,
		Run: runner.Options{Tags: testTags}, StateDir: "none", Progress: Lines(&log)})
	if err != nil {
		t.Fatal(err)
	}
	if x.Outcome != report.SetupError || x.ExitCode != 2 || len(x.Banks) != 3 {
		t.Fatalf("fleet %s (exit %d), %d banks, want SETUP ERROR of 3", x.Outcome, x.ExitCode, len(x.Banks))
	}
	for _, b := range x.Banks {
		switch b.ID {
		case "alpha", "beta":
			if b.Outcome != report.Compliant || b.Verdicts["TOKEN-01"] != report.Passed || b.Report != b.ID+"/report.html" {
				t.Errorf("%s: %+v", b.ID, b)
			}
			if _, err := os.Stat(filepath.Join(out, b.ID, "report.json")); err != nil {
				t.Error(err)
			}
			// Runs at once each write their own cucumber.json, whole.
			var cucumber []map[string]any
			if data, err := os.ReadFile(filepath.Join(out, b.ID, "cucumber.json")); err != nil || json.Unmarshal(data, &cucumber) != nil || len(cucumber) == 0 {
				t.Errorf("%s/cucumber.json: %v, %d features", b.ID, err, len(cucumber))
			}
		case "broken":
			if b.Outcome != report.SetupError || b.ExitCode != 2 || !strings.Contains(b.Error, `unknown key "endpoint"`) || b.Report != "" {
				t.Errorf("broken: %+v", b)
			}
			if data, _ := os.ReadFile(filepath.Join(out, "broken", "console.log")); !strings.Contains(string(data), "endpoint") {
				t.Errorf("broken's console.log: %q", data)
			}
		default:
			t.Errorf("bank %q", b.ID)
		}
	}
	for _, want := range []string{"start alpha (3 scenarios)", "end   alpha: COMPLIANT in ", "end   broken: SETUP ERROR in "} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("progress lack %q:\n%s", want, log.String())
		}
	}
	html, err := os.ReadFile(filepath.Join(out, IndexHTML))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<a href="alpha/report.html">alpha</a>`, "SETUP ERROR", `title="TOKEN-01: passed"`, ">TOKEN-04</th>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	var junit struct {
		Suites []struct {
			Name   string `xml:"name,attr"`
			Errors int    `xml:"errors,attr"`
			Cases  []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	data, err := os.ReadFile(filepath.Join(out, IndexJUnit))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, &junit); err != nil {
		t.Fatal(err)
	}
	if len(junit.Suites) != 3 || junit.Suites[2].Name != "broken" || junit.Suites[2].Errors != 1 || len(junit.Suites[0].Cases) < 3 {
		t.Errorf("junit.xml:\n%s", data)
	}
	back, err := ReadIndex(out)
	if err != nil || back.Outcome != report.SetupError {
		t.Errorf("fleet.json read back: %v %v", back, err)
	}
}

// TestMergedShardsEqualTheFleet: the index merged from the shards of a fleet is the
// index of the fleet run whole, timestamps and durations aside.
func TestMergedShardsEqualTheFleet(t *testing.T) {
	profiles := fleetOf(t)
	whole := runFleet(t, profiles, t.TempDir(), Shard{})
	var dirs []string
	for i := range 2 {
		dir := t.TempDir()
		part := runFleet(t, profiles, dir, Shard{i, 2})
		if part.Shard == nil || *part.Shard != (Shard{i, 2}) {
			t.Errorf("shard %d: %+v", i, part.Shard)
		}
		dirs = append(dirs, dir)
	}
	out := t.TempDir()
	merged, err := Merge(out, dirs)
	if err != nil {
		t.Fatal(err)
	}
	read := func(x *Index) string {
		t.Helper()
		c := *x
		c.Started, c.Finished = time.Time{}, time.Time{}
		c.Banks = append([]Bank(nil), x.Banks...)
		for i := range c.Banks {
			c.Banks[i].Started, c.Banks[i].Duration = time.Time{}, 0
		}
		data, err := json.MarshalIndent(&c, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	written, err := ReadIndex(out)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := read(whole), read(written); a != b {
		t.Errorf("merged fleet.json differs from the whole fleet's:\nwhole:\n%s\nmerged:\n%s", a, b)
	}
	if read(merged) != read(written) {
		t.Error("Merge's index is not the fleet.json it wrote")
	}
	if _, err := os.Stat(filepath.Join(out, "alpha", "report.html")); err != nil {
		t.Errorf("the banks' folders are not copied: %v", err)
	}

	// A shard missing: said, and COULD NOT FINISH.
	partial, err := Merge(t.TempDir(), dirs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if partial.ExitCode != report.ExitCouldNotFinish || len(partial.Notices) != 1 || !strings.Contains(partial.Notices[0], "Shard(s) 1/2 missing") {
		t.Errorf("merge of 1 shard of 2: %s %q", partial.Outcome, partial.Notices)
	}
	// The same shard twice, or the output among the inputs: refused.
	if _, err := Merge(t.TempDir(), []string{dirs[0], dirs[0]}); err == nil || !strings.Contains(err.Error(), "are both shard 0/2") {
		t.Errorf("a shard twice: %v", err)
	}
	if _, err := Merge(dirs[0], dirs); err == nil || !strings.Contains(err.Error(), "is also a shard folder") {
		t.Errorf("out among the shards: %v", err)
	}
	if _, err := Merge(t.TempDir(), []string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "is not a fleet's output folder") {
		t.Errorf("not a fleet folder: %v", err)
	}
}
