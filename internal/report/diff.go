package report

import (
	"fmt"
	"io"
)

// Change is one requirement whose verdict or reason differs between two reports.
type Change struct {
	ID        string  `json:"id"`
	Level     string  `json:"level"`
	Title     string  `json:"title"`
	Old       Verdict `json:"old"`
	New       Verdict `json:"new"`
	OldReason string  `json:"old_reason,omitempty"`
	NewReason string  `json:"new_reason,omitempty"`
}

// Diff is what changed from one run's report to a later one's, by requirement ID.
type Diff struct {
	OldOutcome, NewOutcome Outcome
	// Regressions failed in the new report and did not in the old one.
	Regressions []Change
	// Fixes failed in the old report and passed (with or without a warning) in the new.
	Fixes []Change
	// Changed are the other verdict changes: checked then, not checked now, and back.
	Changed []Change
	// Reasons kept their verdict (failed, inconclusive, skipped, warning...) with another
	// reason: the bank fails differently.
	Reasons []Change
}

// Compare lists the changes from old to new. A requirement missing from one report
// counts as not tested there.
func Compare(old, new *Report) Diff {
	d := Diff{OldOutcome: old.Summary.Outcome, NewOutcome: new.Summary.Outcome}
	before := map[string]RequirementResult{}
	for _, r := range old.Requirements {
		before[r.ID] = r
	}
	for _, n := range new.Requirements {
		o, ok := before[n.ID]
		if !ok {
			o = RequirementResult{Requirement: n.Requirement, Verdict: NotTested, Reason: "not in the old report"}
		}
		c := Change{ID: n.ID, Level: n.Level, Title: n.Title, Old: o.Verdict, New: n.Verdict, OldReason: o.Reason, NewReason: n.Reason}
		switch {
		case n.Verdict == Failed && o.Verdict != Failed:
			d.Regressions = append(d.Regressions, c)
		case o.Verdict == Failed && (n.Verdict == Passed || n.Verdict == Warning):
			d.Fixes = append(d.Fixes, c)
		case o.Verdict != n.Verdict:
			d.Changed = append(d.Changed, c)
		case n.Verdict != Passed && o.Reason != n.Reason:
			d.Reasons = append(d.Reasons, c)
		}
	}
	return d
}

// Write prints the diff for a person: the outcomes, then each list.
func (d Diff) Write(w io.Writer, oldName, newName string) {
	fmt.Fprintf(w, "outcome: %s (%s) -> %s (%s)\n", orNone(d.OldOutcome), oldName, orNone(d.NewOutcome), newName)
	section := func(title string, cs []Change, reasons bool) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s (%d):\n", title, len(cs))
		for _, c := range cs {
			fmt.Fprintf(w, "  %-12s %s -> %s  %s\n", c.ID, verdictWords(c.Old), verdictWords(c.New), c.Title)
			if reasons || c.New == Failed {
				if c.OldReason != "" {
					fmt.Fprintf(w, "      was: %s\n", consoleText(c.OldReason, 240))
				}
				if c.NewReason != "" {
					fmt.Fprintf(w, "      now: %s\n", consoleText(c.NewReason, 240))
				}
			}
		}
	}
	section("REGRESSIONS", d.Regressions, false)
	section("FIXES", d.Fixes, false)
	section("OTHER VERDICT CHANGES", d.Changed, true)
	section("CHANGED REASONS", d.Reasons, true)
	fmt.Fprintf(w, "%d regression(s), %d fix(es), %d other verdict change(s), %d changed reason(s)\n",
		len(d.Regressions), len(d.Fixes), len(d.Changed), len(d.Reasons))
}

func orNone(o Outcome) Outcome {
	if o == "" {
		return "no outcome"
	}
	return o
}
