package report

import (
	"fmt"
	"io"
	"strings"
)

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiAmber = "\x1b[33m"
	ansiGrey  = "\x1b[90m"
)

// WriteConsoleSummary writes a short summary for a terminal: the notices, one line per
// failed, warning, inconclusive or skipped requirement with its reason, the totals, and
// the outcome with its scope; for INCOMPLETE, what would complete each blocking
// requirement. Bank-supplied text is cut to one line and stripped of control characters,
// so a bank's error message cannot move the cursor or recolour the terminal.
func WriteConsoleSummary(w io.Writer, rep *Report, color bool) {
	if rep == nil {
		return
	}
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	for _, n := range rep.Notices {
		fmt.Fprintf(w, "%s %s\n", paint(ansiAmber, "NOTICE"), consoleText(n, 200))
	}
	for _, r := range rep.Requirements {
		var label, code string
		switch r.Verdict {
		case Failed:
			label, code = "FAILED", ansiRed
		case Warning:
			label, code = "WARNING", ansiAmber
		case Inconclusive:
			label, code = "INCONCLUSIVE", ansiAmber
		case Skipped:
			label, code = "SKIPPED", ansiGrey
		default:
			continue
		}
		line := consoleText(r.Reason, 240)
		if r.Waived != "" {
			line += " [waived by the profile: " + consoleText(r.Waived, 120) + "]"
		}
		if r.Baselined != "" && r.Verdict == Failed {
			label = "KNOWN"
			line += " [known failure, baseline: " + consoleText(r.Baselined, 120) + "]"
		}
		fmt.Fprintf(w, "%s %-12s %s\n", paint(code, fmt.Sprintf("%-12s", label)), r.ID, line)
	}
	sum := summaryOf(rep)
	fmt.Fprintf(w, "requirements: %s\n", countLine(sum.Requirements))
	if roles := ByRole(rep.Requirements); len(roles) > 1 {
		for _, o := range roles {
			ids := "" // a role's few requirements are named; the many of the main one are not
			if len(o.Requirements) <= 10 {
				ids = " (" + o.IDs() + ")"
			}
			fmt.Fprintf(w, "  %-11s %s%s\n", o.Role+" role:", countLine(o.Counts), ids)
		}
	}
	fmt.Fprintf(w, "scenarios:    %s; %d HTTP exchanges\n", countLine(sum.Scenarios), sum.Exchanges)
	fmt.Fprintf(w, "coverage:     %s\n", Coverage(sum))
	code := ansiAmber
	switch {
	case sum.ExitCode != ExitCompliant && sum.Outcome == Compliant, sum.Outcome == NotCompliant:
		code = ansiRed
	case sum.Outcome == Compliant, sum.Outcome == CompliantWithKnownFailures:
		code = ansiGreen
	}
	fmt.Fprintln(w, paint(ansiBold+code, string(sum.Outcome))+strings.TrimPrefix(sum.Headline, string(sum.Outcome)))
	if sum.Outcome == Incomplete && len(sum.Blocking) > 0 {
		fmt.Fprintln(w, "What would complete the run:")
		for _, b := range sum.Blocking {
			fmt.Fprintf(w, "  %-12s %s: %s\n", b.ID, verdictWords(b.Verdict), consoleText(b.Reason, 240))
		}
	}
	for _, b := range sum.Known {
		fmt.Fprintf(w, "  %-12s known failure, in the baseline: %s\n", b.ID, consoleText(b.Baseline, 200))
	}
	for _, b := range sum.Stale {
		fmt.Fprintf(w, "  %-12s stale baseline entry: it passed; remove it from the baseline (%s)\n", b.ID, consoleText(b.Baseline, 160))
	}
	for _, b := range sum.Waived {
		fmt.Fprintf(w, "  %-12s not checked, waived by the bank profile: %s\n", b.ID, consoleText(b.Reason, 200))
	}
	if sum.Hint != "" {
		fmt.Fprintf(w, "%s %s\n", paint(ansiAmber, "HINT"), sum.Hint)
	}
}

// Coverage says how much of the catalogue a run checked: a verdict vouches only for the
// requirements that were checked, and a reader must see how many those were.
func Coverage(sum Summary) string {
	total := 0
	for _, n := range sum.Requirements {
		total += n
	}
	open := sum.Requirements[NotTested] + sum.Requirements[Skipped] + sum.Requirements[Inconclusive] + sum.Requirements[NotApplicable]
	return fmt.Sprintf("%d of the %d requirements of the catalogue checked; %d not checked in this run (not tested, skipped, inconclusive or not applicable, each with its reason)",
		total-open, total, open)
}

// summaryOf returns rep's summary, computed on a copy when the caller did not fill it.
func summaryOf(rep *Report) Summary {
	if rep.Summary.Requirements != nil {
		return rep.Summary
	}
	cp := *rep
	Summarize(&cp)
	return cp.Summary
}

// countLine is "3 passed, 1 failed, ..." in the order of AllVerdicts, leaving out zeros.
func countLine(m map[Verdict]int) string {
	var parts []string
	for _, v := range AllVerdicts {
		if n := m[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, verdictWords(v)))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func verdictWords(v Verdict) string { return strings.ReplaceAll(string(v), "_", " ") }

// consoleText makes bank-supplied text safe and short for a terminal line.
func consoleText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return oneLine(s, n)
}
