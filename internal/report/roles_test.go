package report

import (
	"slices"
	"testing"
)

// A requirement checked for both roles has a verdict for each: a pass for aisp does not
// hide that the cbpii check did not apply, or failed; the CBPII requirements are listed
// under the cbpii role.
func TestRequirementsByRole(t *testing.T) {
	cat := []Requirement{{ID: "REFRESH-07", Level: LevelMust}, {ID: "CBPII-01", Level: LevelMust}, {ID: "TOKEN-01", Level: LevelMust}}
	scenarios := []ScenarioResult{
		{ID: "refresh.feature:40", Tags: []string{"@refresh", "@REFRESH-07"}, Requirements: []string{"REFRESH-07"}, Verdict: Passed},
		{ID: "cbpii.feature:41", Tags: []string{"@cbpii", "@option:cbpii", "@REFRESH-07"}, Requirements: []string{"REFRESH-07"}, Verdict: NotApplicable, Reason: "no cbpii role"},
		{ID: "cbpii.feature:13", Name: "funds", Tags: []string{"@cbpii", "@option:cbpii", "@CBPII-01"}, Requirements: []string{"CBPII-01"}, Verdict: Failed, Reason: "a string"},
		{ID: "token.feature:9", Tags: []string{"@TOKEN-01"}, Requirements: []string{"TOKEN-01"}, Verdict: Passed},
	}
	reqs := Aggregate(cat, scenarios)
	want := map[string][]RoleResult{
		"REFRESH-07": {{Role: RoleAISP, Verdict: Passed}, {Role: RoleCBPII, Verdict: NotApplicable, Reason: "no cbpii role"}},
		"CBPII-01":   {{Role: RoleCBPII, Verdict: Failed, Reason: "funds: a string"}},
		"TOKEN-01":   {{Role: RoleAISP, Verdict: Passed}},
	}
	for _, r := range reqs {
		if !slices.Equal(r.Roles, want[r.ID]) {
			t.Errorf("%s: roles %+v, want %+v", r.ID, r.Roles, want[r.ID])
		}
	}
	if reqs[0].Verdict != Passed {
		t.Errorf("REFRESH-07: %s, want passed (not applicable for cbpii only)", reqs[0].Verdict)
	}
	roles := ByRole(reqs)
	if len(roles) != 2 || roles[1].Role != RoleCBPII || roles[1].IDs() != "REFRESH-07 CBPII-01" || roles[1].Counts[Failed] != 1 {
		t.Fatalf("by role: %+v", roles)
	}
	if roles[0].IDs() != "REFRESH-07 TOKEN-01" {
		t.Errorf("aisp role lists %s", roles[0].IDs())
	}
}
