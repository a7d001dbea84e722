package features

import (
	"strings"
	"testing"

	"github.com/stetconform/stetconform/internal/report"
)

// TestCatalogueConsistency keeps the features and requirements.yaml in step: a scenario
// may only tag known requirements, every scenario checks at least one, and a requirement
// either has a scenario or says why not (never both).
func TestCatalogueConsistency(t *testing.T) {
	cat, err := Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	scenarios, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) < 30 {
		t.Fatalf("expected the whole flow to be covered by at least 30 scenarios; found %d", len(scenarios))
	}
	known := map[string]report.Requirement{}
	for _, r := range cat {
		known[r.ID] = r
	}
	covered := map[string]int{}
	for _, s := range scenarios {
		ids := s.Requirements()
		if len(ids) == 0 {
			t.Errorf("%s:%d %q checks no requirement: tag it with the requirement IDs it checks", s.File, s.Line, s.Name)
		}
		for _, id := range ids {
			if _, ok := known[id]; !ok {
				t.Errorf("%s:%d %q is tagged @%s, which requirements.yaml does not list", s.File, s.Line, s.Name, id)
			}
			covered[id]++
		}
		for _, tag := range s.Tags {
			if looksLikeID(tag) && RequirementID(tag) == "" {
				t.Errorf("%s:%d: tag %s looks like a requirement ID but is malformed (want @AREA-NN)", s.File, s.Line, tag)
			}
		}
	}
	for _, r := range cat {
		switch {
		case covered[r.ID] == 0 && r.NotCovered == "" && r.Level == report.LevelMust:
			t.Errorf("%s is a MUST with no scenario and no not_covered reason", r.ID)
		case covered[r.ID] == 0 && r.NotCovered == "":
			t.Errorf("%s (%s) has no scenario: add one or say why under not_covered", r.ID, r.Level)
		case covered[r.ID] > 0 && r.NotCovered != "":
			t.Errorf("%s has %d scenario(s) but still says not_covered: %q", r.ID, covered[r.ID], r.NotCovered)
		}
	}
}

func looksLikeID(tag string) bool {
	t := strings.TrimPrefix(tag, "@")
	for _, area := range []string{"AUTHZ", "TOKEN", "MTLS", "CC", "BEARER", "REFRESH", "REVOKE", "REG", "CBPII"} {
		if strings.HasPrefix(t, area+"-") {
			return true
		}
	}
	return false
}

func TestScenarioLines(t *testing.T) {
	scenarios, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range scenarios {
		if s.Line == 0 {
			t.Errorf("%s %q: no line found", s.File, s.Name)
		}
		k := Key(s.File, s.Name, s.Steps)
		if seen[k] {
			t.Errorf("%s:%d %q: two scenarios with the same name and steps cannot be told apart in reports", s.File, s.Line, s.Name)
		}
		seen[k] = true
	}
}
