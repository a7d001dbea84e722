package report

import (
	"fmt"
	"sort"
	"strings"
)

// Baseline is a CI gate's list of known failures: requirement ID -> why the failure is
// expected (a ticket, a planned fix). Loaded by LoadBaseline (baseline_file.go).
type Baseline map[string]string

// BaselineUse records in the report which baseline judged the run.
type BaselineUse struct {
	File    string `json:"file"`
	Entries int    `json:"entries"`
	// Strict: a stale entry (a baselined requirement that passed) makes the exit code 1.
	Strict bool `json:"strict,omitempty"`
}

// ApplyBaseline marks the requirements the baseline expects to fail. Like a waiver, it
// changes no verdict: Decide lets a baselined failure not block the gate, and every
// writer shows it as a known failure.
func ApplyBaseline(reqs []RequirementResult, b Baseline) {
	for i := range reqs {
		if why, ok := b[reqs[i].ID]; ok {
			reqs[i].Baselined = why
		}
	}
}

// staleEntries are the baselined requirements that passed in this run: the bug the entry
// stands for is fixed (or the entry was wrong), and the entry would hide its return. A
// SHOULD with a warning is a SHOULD not met, so not stale; a MUST with a warning passed.
func staleEntries(reqs []RequirementResult) []Blocker {
	var out []Blocker
	for _, r := range reqs {
		if r.Baselined == "" {
			continue
		}
		if r.Verdict == Passed || (r.Verdict == Warning && r.Level != LevelShould) {
			out = append(out, Blocker{ID: r.ID, Level: r.Level, Verdict: r.Verdict, Reason: "now passes: remove it from the baseline", Baseline: r.Baselined})
		}
	}
	return out
}

// StrictBaseline is d under --strict-baseline: a stale entry makes the exit code 1, so
// that a baseline cannot outlive the failures it names. An interrupted run (3) and a
// failed one (1) keep theirs; a COMPLIANT or INCOMPLETE one becomes 1.
func StrictBaseline(d Decision) Decision {
	if len(d.Stale) == 0 || d.Outcome == CouldNotFinish {
		return d
	}
	d.StaleFails = true
	d.ExitCode = ExitNotCompliant
	d.Headline += " (--strict-baseline: exit 1)"
	return d
}

// knownNote is appended to a scope when failures the baseline expects come along.
func knownNote(known []Blocker) string {
	if len(known) == 0 {
		return ""
	}
	return fmt.Sprintf(" (and %d known failure(s) in the baseline: %s)", len(known), ids(known))
}

// staleNote is appended to the headline when baseline entries are stale.
func staleNote(stale []Blocker) string {
	if len(stale) == 0 {
		return ""
	}
	return fmt.Sprintf("; stale baseline: %s now pass(es), remove from the baseline", ids(stale))
}

// IDs lists the baseline's requirement IDs, sorted.
func (b Baseline) IDs() []string {
	out := make([]string, 0, len(b))
	for id := range b {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// String is "AUTHZ-03, TOKEN-07" for messages.
func (b Baseline) String() string { return strings.Join(b.IDs(), ", ") }
