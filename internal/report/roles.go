package report

import (
	"slices"
	"strings"
)

// The TPP roles a report lists its requirements under. A scenario checks the cbpii role
// when its feature or itself carries the bank option @option:cbpii (a bank declares the
// roles it offers), the aisp role otherwise. A requirement checked for both roles (a
// refresh cannot widen an aisp grant, nor add the other role's scope to either grant) has
// a verdict for each, so that "passed" for one role never hides "not applicable" or
// "failed" for the other.
const (
	RoleAISP  = "aisp"
	RoleCBPII = "cbpii"
)

// Roles lists the roles in the order reports show them.
var Roles = []string{RoleAISP, RoleCBPII}

// ScenarioRole is the role a scenario with these tags checks.
func ScenarioRole(tags []string) string {
	if slices.Contains(tags, "@option:"+RoleCBPII) {
		return RoleCBPII
	}
	return RoleAISP
}

// RoleResult is a requirement's verdict from the scenarios of one role.
type RoleResult struct {
	Role    string  `json:"role"`
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
}

// roleResults gives req a verdict per role among its scenarios, in the order of Roles.
func roleResults(req Requirement, tagged []*ScenarioResult) []RoleResult {
	var out []RoleResult
	for _, role := range Roles {
		var mine []*ScenarioResult
		for _, s := range tagged {
			if ScenarioRole(s.Tags) == role {
				mine = append(mine, s)
			}
		}
		if len(mine) > 0 {
			v, why := requirementVerdict(req, mine)
			out = append(out, RoleResult{Role: role, Verdict: v, Reason: why})
		}
	}
	return out
}

// RoleOverview is what a run found for one role: its requirements, each with the verdict
// of that role's scenarios.
type RoleOverview struct {
	Role         string
	Requirements []RoleRequirement
	Counts       map[Verdict]int
}

// RoleRequirement is one requirement under a role.
type RoleRequirement struct {
	ID      string
	Verdict Verdict
}

// ByRole lists reqs under each role their scenarios check, leaving out roles without a
// requirement.
func ByRole(reqs []RequirementResult) []RoleOverview {
	var out []RoleOverview
	for _, role := range Roles {
		o := RoleOverview{Role: role, Counts: map[Verdict]int{}}
		for _, r := range reqs {
			for _, rr := range r.Roles {
				if rr.Role == role {
					o.Requirements = append(o.Requirements, RoleRequirement{ID: r.ID, Verdict: rr.Verdict})
					o.Counts[rr.Verdict]++
				}
			}
		}
		if len(o.Requirements) > 0 {
			out = append(out, o)
		}
	}
	return out
}

// IDs lists the role's requirement IDs, space-separated.
func (o RoleOverview) IDs() string {
	ids := make([]string, len(o.Requirements))
	for i, r := range o.Requirements {
		ids[i] = r.ID
	}
	return strings.Join(ids, " ")
}
