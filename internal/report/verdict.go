package report

import (
	"slices"
	"strings"
)

// AllVerdicts lists the verdicts in the order reports show them.
var AllVerdicts = []Verdict{Passed, Failed, Warning, Skipped, NotApplicable, NotTested}

// Aggregate gives each requirement of the catalogue, in catalogue order, its verdict from
// the scenarios tagged with its ID (the runner fills the scenario verdicts):
//
//   - a scenario failed: Failed for MUST and BANK-OPTION, Warning for SHOULD;
//   - else a scenario has a warning: Warning;
//   - else a scenario passed: Passed, the reason naming the scenarios that were skipped;
//   - else all are not applicable: NotApplicable;
//   - else (skipped, or skipped and not applicable): Skipped. A skip is never a pass;
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
		case Passed, Failed, Warning, NotApplicable:
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
	if w := byVerdict[Warning]; len(w) > 0 {
		why := w[0].Reason
		if why == "" {
			why = strings.Join(w[0].Warnings, "; ")
		}
		return Warning, labelled(w[0], why)
	}
	if len(byVerdict[Passed]) > 0 {
		if s := byVerdict[Skipped]; len(s) > 0 {
			return Passed, "skipped: " + reasons(s)
		}
		return Passed, ""
	}
	if len(byVerdict[Skipped]) == 0 {
		return NotApplicable, distinctReasons(byVerdict[NotApplicable])
	}
	return Skipped, reasons(append(byVerdict[Skipped], byVerdict[NotApplicable]...))
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

// Summarize fills rep.Summary from rep.Requirements and rep.Scenarios. Every verdict has an
// entry in both maps, zero included. Summary.Passed is true when no requirement failed and
// at least one passed (or passed with a warning): a run that checked nothing is not a pass.
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
	s.Passed = s.Requirements[Failed] == 0 && s.Requirements[Passed]+s.Requirements[Warning] > 0
	rep.Summary = s
}
