// Package fleet runs many banks' profiles in one process, a bounded number at a time,
// each into its own report folder, and writes the fleet's index (fleet.json, junit.xml,
// index.html). A fleet can be split into shards (--shard i/n) run on other machines by an
// existing engine (a Kubernetes Indexed Job, a CI matrix); Merge builds the same index
// from the shards' folders.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
	"github.com/stetconform/stetconform/internal/state"
)

// Shard is part Index (0-based) of Count parts of a fleet's profiles.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ParseShard reads --shard "i/n": i is 0-based, 0 <= i < n, as Kubernetes'
// JOB_COMPLETION_INDEX and a matrix's list of indexes give it.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, errI := strconv.Atoi(strings.TrimSpace(is))
	n, errN := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || errI != nil || errN != nil:
		return Shard{}, fmt.Errorf("--shard %q: expected i/n, such as 0/4 (shard i of n, i from 0 to n-1)", s)
	case n < 1:
		return Shard{}, fmt.Errorf("--shard %q: n is the number of shards, 1 or more", s)
	case i < 0 || i >= n:
		return Shard{}, fmt.Errorf("--shard %q: shards are numbered from 0: give 0/%d to %d/%d", s, n, n-1, n)
	}
	return Shard{Index: i, Count: n}, nil
}

// Options say what a fleet run does.
type Options struct {
	// Profiles are the banks' profile files; a folder stands for its *.yaml and *.yml.
	Profiles []string
	// OutDir receives one folder per bank and the index (default "reports").
	OutDir string
	// Concurrency is how many banks run at once (default 4).
	Concurrency int
	// Shard, when Count > 0, keeps only that part of the profiles.
	Shard Shard
	// Run is what every bank's run shares: Tags, Concurrency (scenarios at once in each
	// bank), PSUDriver. Profile, OutDir, Console, StateFile and OnScenarioEnd are the
	// fleet's to set.
	Run runner.Options
	// StateDir keeps each bank's state file (tokens that outlive a run), one file per
	// bank so that concurrent runs do not race on one; "none" keeps nothing. Default: a
	// "fleet" folder beside state.DefaultPath().
	StateDir string
	// Progress shows each bank's progress (default: none).
	Progress Progress
}

// Profile is one bank of the fleet: its profile file and its unique ID.
type Profile struct {
	ID   string
	Path string
}

// Expand lists the profiles of paths (a folder gives its *.yaml and *.yml, sorted) with
// unique IDs, sorted by ID. A path that does not exist is kept: its run will be a SETUP
// ERROR. A folder with no profile is an error.
func Expand(paths []string) ([]Profile, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil || !info.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, err := filepath.Glob(filepath.Join(p, pat))
			if err != nil {
				return nil, err
			}
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: a folder with no profile (*.yaml, *.yml) in it", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	ids := uniqueIDs(files)
	out := make([]Profile, len(files))
	for i, f := range files {
		out[i] = Profile{ID: ids[i], Path: f}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// uniqueIDs names each file's report folder: its name without the extension, with as
// many of its parent folders as make it unique ("bp-alsace-bank" for
// bp-alsace/bank.yaml beside ce-idf/bank.yaml), then "-2", "-3"... for the same file
// given twice. The names depend only on the whole list, never on a shard.
func uniqueIDs(files []string) []string {
	parts := make([][]string, len(files))
	for i, f := range files {
		clean := filepath.ToSlash(filepath.Clean(f))
		clean = strings.TrimSuffix(clean, filepath.Ext(clean))
		for _, p := range strings.Split(clean, "/") {
			if p = unsafeID.ReplaceAllString(p, "_"); p != "" && p != "." && p != ".." && p != "_" {
				parts[i] = append(parts[i], p)
			}
		}
		if len(parts[i]) == 0 {
			parts[i] = []string{"bank"}
		}
	}
	name := func(i, k int) string {
		p := parts[i]
		if k > len(p) {
			k = len(p)
		}
		return strings.Join(p[len(p)-k:], "-")
	}
	ids := make([]string, len(files))
	depth := make([]int, len(files))
	for i := range files {
		depth[i] = 1
	}
	for {
		count := map[string]int{}
		for i := range files {
			ids[i] = name(i, depth[i])
			count[ids[i]]++
		}
		grew := false
		for i := range files {
			if count[ids[i]] > 1 && depth[i] < len(parts[i]) {
				depth[i]++
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	// What is still the same (the same file twice): numbered in the order given.
	seen := map[string]int{}
	taken := map[string]bool{}
	for _, id := range ids {
		taken[id] = true
	}
	for i, id := range ids {
		seen[id]++
		if seen[id] == 1 {
			continue
		}
		for n := seen[id]; ; n++ {
			if c := fmt.Sprintf("%s-%d", id, n); !taken[c] {
				ids[i], taken[c] = c, true
				break
			}
		}
	}
	return ids
}

// Select keeps shard's part of profiles (sorted by ID, as Expand gives them): the
// profiles whose position is Index modulo Count. Shards are balanced (their sizes differ
// by one at most) and depend only on the list of profiles, not on the order given.
func Select(profiles []Profile, shard Shard) []Profile {
	if shard.Count <= 1 {
		return profiles
	}
	var out []Profile
	for i, p := range profiles {
		if i%shard.Count == shard.Index {
			out = append(out, p)
		}
	}
	return out
}

// Run runs the fleet and writes its index. Each bank's outcome is in its row; a bank
// whose run gives no verdict (a broken profile) is a SETUP ERROR row, not an error of
// the fleet. The error, a *runner.Error, is for what stops the fleet itself: no profile
// (exit 2), an output folder that cannot be written (exit 3).
func Run(ctx context.Context, opts Options) (*Index, error) {
	if opts.OutDir == "" {
		opts.OutDir = "reports"
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	if opts.Concurrency < 0 {
		return nil, setupError(fmt.Errorf("--concurrency %d: give the number of banks run at once, 1 or more", opts.Concurrency))
	}
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	if len(opts.Profiles) == 0 {
		return nil, setupError(errors.New("no bank profile given: name one or more profile files (or folders of them)"))
	}
	all, err := Expand(opts.Profiles)
	if err != nil {
		return nil, setupError(err)
	}
	banks := Select(all, opts.Shard)
	catalogue, err := features.Catalogue()
	if err != nil {
		return nil, err
	}
	total, err := selected(opts.Run.Tags)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, couldNotFinish(fmt.Errorf("the output folder %s: %w", opts.OutDir, err))
	}
	x := &Index{Tool: report.Tool{Name: "stetconform", Version: runner.Version}, Started: time.Now(),
		TagFilter: opts.Run.Tags, Requirements: catalogue, Banks: make([]Bank, len(banks))}
	if opts.Shard.Count > 0 {
		s := opts.Shard
		x.Shard = &s
	}
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for i, p := range banks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			x.Banks[i] = runBank(ctx, opts, p, total)
		}()
	}
	wg.Wait()
	opts.Progress.Wait()
	x.Finished = time.Now()
	x.Summarize()
	if err := x.WriteAll(opts.OutDir); err != nil {
		return x, couldNotFinish(err)
	}
	return x, nil
}

// The errors that stop a fleet, with the exit code of the outcome they stand for.
func setupError(err error) error     { return &runner.Error{Code: runner.ExitSetupError, Err: err} }
func couldNotFinish(err error) error { return &runner.Error{Code: runner.ExitCouldNotFinish, Err: err} }

// runBank runs one bank into its folder and makes its row.
func runBank(ctx context.Context, opts Options, p Profile, total int) Bank {
	row := Bank{ID: p.ID, Profile: p.Path, Started: time.Now()}
	defer func() { row.Duration = time.Since(row.Started) }()
	if ctx.Err() != nil {
		row.Outcome, row.ExitCode = report.CouldNotFinish, report.ExitCouldNotFinish
		row.Error = "not started: the fleet was interrupted"
		opts.Progress.Skip(p.ID, row.Outcome, row.Error)
		return row
	}
	dir := filepath.Join(opts.OutDir, p.ID)
	ro := opts.Run
	ro.Profile, ro.OutDir = p.Path, dir
	end := opts.Progress.Start(p.ID, total)
	ro.OnScenarioEnd = end.Scenario
	switch opts.StateDir {
	case "none":
		ro.StateFile = "none"
	case "":
		if d := state.DefaultPath(); d != "" {
			ro.StateFile = filepath.Join(filepath.Dir(d), "fleet", p.ID+".json")
		} else {
			ro.StateFile = "none"
		}
	default:
		ro.StateFile = filepath.Join(opts.StateDir, p.ID+".json")
	}
	res, err := runOne(ctx, ro, dir)
	switch {
	case err != nil:
		code := runner.ExitCode(err)
		row.ExitCode, row.Error = code, err.Error()
		row.Outcome = report.CouldNotFinish
		if code == report.ExitSetupError {
			row.Outcome = report.SetupError
		}
	default:
		rep := res.Report
		row.Name, row.Outcome, row.ExitCode, row.Headline = rep.Bank.Name, rep.Summary.Outcome, rep.Summary.ExitCode, rep.Summary.Headline
		row.Report = filepath.ToSlash(filepath.Join(p.ID, "report.html"))
		row.Verdicts = map[string]report.Verdict{}
		for _, r := range rep.Requirements {
			row.Verdicts[r.ID] = r.Verdict
		}
	}
	end.End(row.Outcome, row.Error)
	return row
}

// runOne runs a bank with its console output in console.log in its folder.
func runOne(ctx context.Context, ro runner.Options, dir string) (*runner.Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &runner.Error{Code: runner.ExitCouldNotFinish, Err: err}
	}
	log, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return nil, &runner.Error{Code: runner.ExitCouldNotFinish, Err: err}
	}
	defer log.Close()
	ro.Console = log
	if err := unattended(ro); err != nil {
		fmt.Fprintln(log, err)
		return nil, err
	}
	res, err := runner.Run(ctx, ro)
	if err != nil {
		fmt.Fprintln(log, err)
	}
	return res, err
}

// unattended refuses the manual PSU driver: a fleet runs its banks at once, and one
// terminal cannot answer several banks' PSU journeys.
func unattended(ro runner.Options) error {
	driver := ro.PSUDriver
	if driver == "" {
		p, err := profile.Load(ro.Profile)
		if err != nil {
			return nil // the run says what is wrong with it
		}
		driver = p.PSU.Driver
	}
	if driver == profile.DriverManual {
		return &runner.Error{Code: runner.ExitSetupError, Err: errors.New("psu.driver manual needs a person at a terminal for each journey, and a fleet runs its banks unattended and at once: run this bank alone (stetconform run --bank), or use --psu form or --psu browser")}
	}
	return nil
}
