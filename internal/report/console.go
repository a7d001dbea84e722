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
// failed, warning or skipped requirement with its reason, the totals, and COMPLIANT or NOT
// COMPLIANT. Bank-supplied text is cut to one line and stripped of control characters, so
// a bank's error message cannot move the cursor or recolour the terminal.
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
			label, code = "FAILED ", ansiRed
		case Warning:
			label, code = "WARNING", ansiAmber
		case Skipped:
			label, code = "SKIPPED", ansiGrey
		default:
			continue
		}
		fmt.Fprintf(w, "%s %-12s %s\n", paint(code, label), r.ID, consoleText(r.Reason, 240))
	}
	sum := summaryOf(rep)
	fmt.Fprintf(w, "requirements: %s\n", countLine(sum.Requirements))
	fmt.Fprintf(w, "scenarios:    %s; %d HTTP exchanges\n", countLine(sum.Scenarios), sum.Exchanges)
	if sum.Passed {
		fmt.Fprintln(w, paint(ansiBold+ansiGreen, "COMPLIANT"), "-", Scope(sum))
	} else {
		fmt.Fprintln(w, paint(ansiBold+ansiRed, "NOT COMPLIANT"), "-", Scope(sum))
	}
}

// Scope says what a verdict covers: a COMPLIANT run vouches only for the requirements it
// checked, and a reader must see how many those were.
func Scope(sum Summary) string {
	total, open := 0, sum.Requirements[NotTested]+sum.Requirements[Skipped]+sum.Requirements[NotApplicable]
	for _, n := range sum.Requirements {
		total += n
	}
	return fmt.Sprintf("%d of the %d requirements of the catalogue checked; %d not checked in this run (not tested, skipped or not applicable, each with its reason)",
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
