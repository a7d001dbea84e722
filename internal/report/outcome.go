package report

import (
	"fmt"
	"regexp"
	"strings"
)

// Outcome is what one run says about the bank, as a whole.
type Outcome string

// The outcomes of a run, as ARCHITECTURE.md states them.
const (
	Compliant      Outcome = "COMPLIANT"
	NotCompliant   Outcome = "NOT COMPLIANT"
	SetupError     Outcome = "SETUP ERROR"
	CouldNotFinish Outcome = "COULD NOT FINISH"
	Incomplete     Outcome = "INCOMPLETE"
	// CompliantWithKnownFailures: every failure in scope is a known one, listed in the
	// --baseline file; a CI gate passes (exit 0) and the report still shows each.
	CompliantWithKnownFailures Outcome = "COMPLIANT WITH KNOWN FAILURES"
)

// The exit code of each outcome.
const (
	ExitCompliant      = 0
	ExitNotCompliant   = 1
	ExitSetupError     = 2
	ExitCouldNotFinish = 3
	ExitIncomplete     = 4
)

// ExitCode is the process exit code that stands for o.
func (o Outcome) ExitCode() int {
	switch o {
	case Compliant, CompliantWithKnownFailures:
		return ExitCompliant
	case NotCompliant:
		return ExitNotCompliant
	case SetupError:
		return ExitSetupError
	case Incomplete:
		return ExitIncomplete
	}
	return ExitCouldNotFinish
}

// Decision is the run's outcome with what it covers and what keeps it from COMPLIANT.
type Decision struct {
	Outcome  Outcome `json:"outcome"`
	ExitCode int     `json:"exit_code"`
	// Scope says what the outcome covers, with the real numbers: "all 46 requirements in
	// scope checked and passed", "for the 6 selected requirements".
	Scope string `json:"scope"`
	// Headline is the outcome and its scope in one line, as the console and the HTML
	// banner show it.
	Headline string `json:"headline"`
	// Blocking lists the requirements in scope that keep the run from COMPLIANT: those
	// that failed (NOT COMPLIANT), or else those that could not be checked (INCOMPLETE),
	// each with what would complete it.
	Blocking []Blocker `json:"blocking,omitempty"`
	// Waived lists the requirements that could not be checked but did not block COMPLIANT
	// because the bank profile waives them, with the waiver's reason.
	Waived []Blocker `json:"waived,omitempty"`
	// Known lists the failures in scope that the --baseline file expects, with the
	// failure's reason and the baseline's (Blocker.Baseline): they do not block.
	Known []Blocker `json:"known_failures,omitempty"`
	// Stale lists the baseline's requirements that passed in this run, with the
	// baseline's reason: the entry is out of date. With --strict-baseline they make the
	// exit code 1 (StaleFails).
	Stale      []Blocker `json:"stale_baseline,omitempty"`
	StaleFails bool      `json:"stale_fails,omitempty"`
	// Hint is advice on the setup when the blockers share a cause the user can fix.
	Hint string `json:"hint,omitempty"`
	// Partial: the run was interrupted; its verdicts cover only what ran before.
	Partial bool `json:"partial,omitempty"`
}

// Blocker is one requirement that stands between a run and COMPLIANT.
type Blocker struct {
	ID      string  `json:"id"`
	Level   string  `json:"level"`
	Verdict Verdict `json:"verdict"`
	// Reason is the requirement's reason (what would complete it), or the waiver's.
	Reason string `json:"reason"`
	// Baseline is the --baseline file's reason for a known failure or a stale entry.
	Baseline string `json:"baseline,omitempty"`
}

// Decide is the outcome of a run whose requirements got the verdicts reqs, from the
// scenarios that ran; tagged says a tag filter chose them, interrupted that the run was
// stopped before its end. The requirements in scope are the MUST and BANK-OPTION ones
// with at least one selected scenario that are not not_applicable (a bank option the
// profile does not declare is not applicable, so out of scope); SHOULD never blocks. The
// first rule that applies wins:
//
//   - interrupted: COULD NOT FINISH, partial, never COMPLIANT or NOT COMPLIANT;
//   - a requirement in scope failed, waived or not, that the baseline does not expect:
//     NOT COMPLIANT;
//   - none in scope passed (with or without a warning): INCOMPLETE, a run that checked
//     nothing vouches for nothing;
//   - one in scope was skipped or inconclusive, and the profile does not waive it:
//     INCOMPLETE;
//   - else COMPLIANT, or COMPLIANT WITH KNOWN FAILURES when the baseline expected failures.
//
// Baselined requirements (RequirementResult.Baselined) that failed are listed in Known;
// those that passed, in Stale (see baseline.go).
func Decide(reqs []RequirementResult, scenarios []ScenarioResult, tagged, interrupted bool) Decision {
	var inScope, checked, warned int
	var failed, open, waived, known []Blocker
	stale := staleEntries(reqs)
	for _, r := range reqs {
		if r.Level == LevelShould || r.Verdict == NotTested || r.Verdict == NotApplicable {
			continue
		}
		inScope++
		b := Blocker{ID: r.ID, Level: r.Level, Verdict: r.Verdict, Reason: r.Reason}
		switch r.Verdict {
		case Passed:
			checked++
		case Warning:
			checked++
			warned++
		case Failed:
			if r.Baselined != "" {
				b.Baseline = r.Baselined
				known = append(known, b)
			} else {
				failed = append(failed, b)
			}
		default: // skipped, inconclusive, or a verdict left empty: not checked
			if r.Waived != "" {
				b.Reason = r.Waived
				waived = append(waived, b)
			} else {
				open = append(open, b)
			}
		}
	}
	// set names the requirements in scope, n of them: "46 requirements in scope", "the 1
	// selected requirement".
	set := func(n int) string {
		noun := "requirements"
		if n == 1 {
			noun = "requirement"
		}
		if tagged {
			return fmt.Sprintf("%d selected %s", n, noun)
		}
		return fmt.Sprintf("%d %s in scope", n, noun)
	}
	d := Decision{Waived: waived, Known: known, Stale: stale}
	switch {
	case interrupted:
		d.Outcome, d.Partial = CouldNotFinish, true
		d.Scope = fmt.Sprintf("the run was interrupted before its end; partial results: %d of the %s checked and passed, %d failed, before it stopped. Run it again for a verdict",
			checked, set(inScope), len(failed)+len(known))
	case len(failed) > 0:
		d.Outcome, d.Blocking = NotCompliant, failed
		d.Scope = fmt.Sprintf("%d of the %s failed: %s", len(failed), set(inScope), ids(failed)) + knownNote(known)
	case checked == 0:
		d.Outcome, d.Blocking = Incomplete, open
		if inScope == 0 {
			d.Scope = "no MUST or declared bank-option requirement was in scope (each selected one is not applicable or not tested): nothing was checked to vouch for"
		} else {
			d.Scope = fmt.Sprintf("none of the %s could be checked: nothing failed, and nothing was proved", set(inScope))
		}
		if len(known) > 0 {
			d.Scope = fmt.Sprintf("none of the %s passed: %d failed as the baseline expects (%s), and nothing was proved", set(inScope), len(known), ids(known))
		}
	case len(open) > 0:
		d.Outcome, d.Blocking = Incomplete, open
		d.Scope = fmt.Sprintf("nothing failed, but %d of the %s could not be checked (skipped or inconclusive): %s", len(open), set(inScope), ids(open)) + knownNote(known)
	case len(known) > 0:
		d.Outcome = CompliantWithKnownFailures
		d.Scope = fmt.Sprintf("%d of the %s failed as the baseline expects: %s; the other %d checked and passed", len(known), set(inScope), ids(known), checked)
	default:
		d.Outcome = Compliant
		switch {
		case tagged:
			d.Scope = "for the " + set(inScope)
		case inScope == 1:
			d.Scope = "the 1 requirement in scope checked and passed"
		default:
			d.Scope = fmt.Sprintf("all %s checked and passed", set(inScope))
		}
		var notes []string
		if warned > 0 {
			notes = append(notes, fmt.Sprintf("%d with a warning", warned))
		}
		if len(waived) > 0 {
			notes = append(notes, fmt.Sprintf("%d waived by the bank profile and not checked: %s", len(waived), ids(waived)))
		}
		if len(notes) > 0 {
			d.Scope += " (" + strings.Join(notes, "; ") + ")"
		}
	}
	if d.Outcome == Incomplete {
		d.Hint = journeyHint(scenarios)
	}
	d.ExitCode = d.Outcome.ExitCode()
	d.Headline = headline(d.Outcome, d.Scope) + staleNote(stale)
	return d
}

// headline joins an outcome and its scope: "COMPLIANT for the 6 selected requirements",
// "INCOMPLETE: nothing failed, but ...".
func headline(o Outcome, scope string) string {
	if strings.HasPrefix(scope, "for ") {
		return string(o) + " " + scope
	}
	return string(o) + ": " + scope
}

func ids(bs []Blocker) string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return strings.Join(out, ", ")
}

// journeyRe tells an inconclusive scenario whose PSU journey did not get through.
var journeyRe = regexp.MustCompile(`(?i)\bjourney\b|\bPSU script\b|psu\.approve`)

// journeyHint suggests checking the PSU script and credentials when every inconclusive
// scenario (at least two) stopped in the PSU's journey: a wrong password or a script that
// no longer matches the bank's pages stops every journey the same way, which is the
// user's setup, not the bank's behaviour.
func journeyHint(scenarios []ScenarioResult) string {
	n := 0
	for _, s := range scenarios {
		if s.Verdict != Inconclusive {
			continue
		}
		if !journeyRe.MatchString(s.Reason) {
			return ""
		}
		n++
	}
	if n < 2 {
		return ""
	}
	return fmt.Sprintf("all %d inconclusive scenarios stopped in the PSU's journey at the bank: check the PSU script (psu.approve, psu.refuse) and the test PSU's credentials in the bank profile, for example with --psu browser and a look at the screenshots, then run again", n)
}

// ApplyWaivers marks the requirements the bank profile waives (ID -> reason). A waiver
// changes no verdict: it only lets a requirement that could not be checked not block
// COMPLIANT (see Decide), and every writer shows it.
func ApplyWaivers(reqs []RequirementResult, waivers map[string]string) {
	for i := range reqs {
		if why, ok := waivers[reqs[i].ID]; ok {
			reqs[i].Waived = why
		}
	}
}
