package report

import (
	"slices"
	"strings"
)

// AllVerdicts lists the verdicts in the order reports show them.
var AllVerdicts = []Verdict{Passed, Failed, Warning, Inconclusive, Skipped, NotApplicable, NotTested}

// Aggregate gives each requirement of the catalogue, in catalogue order, its verdict from
// the scenarios tagged with its ID (the steps fill the scenario verdicts). The first rule
// that applies wins:
//
//   - a scenario failed: Failed for MUST and BANK-OPTION, Warning for SHOULD;
//   - a scenario is inconclusive: Inconclusive;
//   - a scenario was skipped (or left without a verdict): Skipped. A requirement is never
//     passed while one of its scenarios did not prove anything;
//   - a scenario has a warning: Warning;
//   - a scenario passed: Passed, the reason naming any not applicable ones;
//   - else all are not applicable: NotApplicable;
//   - no scenario: NotTested, with the catalogue's not_covered reason, or else "no
//     scenario selected by the tag filter".
func Aggregate(catalogue []Requirement, scenarios []ScenarioResult) []RequirementResult {
	out := make([]RequirementResult, 0, len(catalogue))
	for _, req := range catalogue {
		var tagged []*ScenarioResult
		for i := range scenarios {
			if slices.Contains(scenarios[i].Requirements, req.ID) {
				tagged = append(tagged, &scenarios[i])
			}
		}
		res := RequirementResult{Requirement: req}
		for _, s := range tagged {
			res.Scenarios = append(res.Scenarios, s.ID)
		}
		res.Verdict, res.Reason = requirementVerdict(req, tagged)
		res.Roles = roleResults(req, tagged)
		out = append(out, res)
	}
	return out
}

func requirementVerdict(req Requirement, tagged []*ScenarioResult) (Verdict, string) {
	if len(tagged) == 0 {
		if req.NotCovered != "" {
			return NotTested, req.NotCovered
		}
		return NotTested, "no scenario selected by the tag filter"
	}
	byVerdict := map[Verdict][]*ScenarioResult{}
	for _, s := range tagged {
		v := s.Verdict
		switch v {
		case Passed, Failed, Warning, Inconclusive, NotApplicable:
		default: // skipped, not tested, or a verdict the runner left empty: not checked
			v = Skipped
		}
		byVerdict[v] = append(byVerdict[v], s)
	}
	if f := byVerdict[Failed]; len(f) > 0 {
		reason := labelled(f[0], f[0].Reason)
		if req.Level == LevelShould {
			return Warning, reason
		}
		return Failed, reason
	}
	// What would complete the requirement: every scenario that did not prove anything,
	// inconclusive ones first.
	if open := append(slices.Clone(byVerdict[Inconclusive]), byVerdict[Skipped]...); len(open) > 0 {
		v := Skipped
		if len(byVerdict[Inconclusive]) > 0 {
			v = Inconclusive
		}
		return v, reasons(append(open, byVerdict[NotApplicable]...))
	}
	if w := byVerdict[Warning]; len(w) > 0 {
		why := w[0].Reason
		if why == "" {
			why = strings.Join(w[0].Warnings, "; ")
		}
		return Warning, labelled(w[0], why)
	}
	if len(byVerdict[Passed]) > 0 {
		if na := byVerdict[NotApplicable]; len(na) > 0 {
			return Passed, "not applicable: " + reasons(na)
		}
		return Passed, ""
	}
	return NotApplicable, distinctReasons(byVerdict[NotApplicable])
}

// labelled prefixes a scenario's reason with its name.
func labelled(s *ScenarioResult, reason string) string {
	if reason == "" {
		return s.Name
	}
	return s.Name + ": " + reason
}

// reasons lists "name: reason" for each scenario.
func reasons(ss []*ScenarioResult) string {
	parts := make([]string, 0, len(ss))
	for _, s := range ss {
		parts = append(parts, labelled(s, s.Reason))
	}
	return strings.Join(parts, "; ")
}

// distinctReasons lists each different reason once: not applicable scenarios of one
// requirement usually share the profile's reason.
func distinctReasons(ss []*ScenarioResult) string {
	var parts []string
	for _, s := range ss {
		if s.Reason != "" && !slices.Contains(parts, s.Reason) {
			parts = append(parts, s.Reason)
		}
	}
	return strings.Join(parts, "; ")
}

// Summarize fills rep.Summary from rep.Requirements and rep.Scenarios: the counts (every
// verdict has an entry in both maps, zero included) and the run's outcome, by Decide.
// Summary.Passed is true exactly when the outcome is COMPLIANT (not with known failures)
// and the exit code 0.
func Summarize(rep *Report) {
	s := Summary{
		Requirements: map[Verdict]int{},
		Scenarios:    map[Verdict]int{},
	}
	for _, v := range AllVerdicts {
		s.Requirements[v] = 0
		s.Scenarios[v] = 0
	}
	for _, r := range rep.Requirements {
		s.Requirements[r.Verdict]++
	}
	for _, sc := range rep.Scenarios {
		s.Scenarios[sc.Verdict]++
		s.Exchanges += len(sc.Exchanges)
	}
	s.Decision = Decide(rep.Requirements, rep.Scenarios, rep.TagFilter != "", rep.Interrupted)
	if rep.Baseline != nil && rep.Baseline.Strict {
		s.Decision = StrictBaseline(s.Decision)
	}
	s.Passed = s.Outcome == Compliant && s.ExitCode == ExitCompliant
	rep.Summary = s
}
