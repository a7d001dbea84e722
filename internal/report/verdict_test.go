package report

import (
	"reflect"
	"testing"
)

func TestAggregate(t *testing.T) {
	sc := func(id string, v Verdict, reason string, reqs ...string) ScenarioResult {
		return ScenarioResult{ID: id, Name: "scenario " + id, Verdict: v, Reason: reason, Requirements: reqs}
	}
	must := Requirement{ID: "R-1", Level: LevelMust, Title: "t"}
	should := Requirement{ID: "R-1", Level: LevelShould}
	option := Requirement{ID: "R-1", Level: LevelBankOption}
	tests := []struct {
		name       string
		req        Requirement
		scenarios  []ScenarioResult
		verdict    Verdict
		reason     string
		scenarioID []string
	}{
		{"all passed", must, []ScenarioResult{sc("a", Passed, "", "R-1"), sc("b", Passed, "", "R-1", "R-2")},
			Passed, "", []string{"a", "b"}},
		{"one failed fails a MUST", must, []ScenarioResult{sc("a", Passed, "", "R-1"), sc("b", Failed, "got 200, want 400", "R-1"), sc("c", Failed, "second", "R-1")},
			Failed, "scenario b: got 200, want 400", []string{"a", "b", "c"}},
		{"failed BANK-OPTION fails", option, []ScenarioResult{sc("a", Failed, "x", "R-1")},
			Failed, "scenario a: x", []string{"a"}},
		{"failed SHOULD warns", should, []ScenarioResult{sc("a", Failed, "no WWW-Authenticate", "R-1")},
			Warning, "scenario a: no WWW-Authenticate", []string{"a"}},
		{"warning beats pass", must, []ScenarioResult{sc("a", Passed, "", "R-1"), sc("b", Warning, "slow", "R-1")},
			Warning, "scenario b: slow", []string{"a", "b"}},
		{"warning from warnings list", must, []ScenarioResult{{ID: "w", Name: "w", Verdict: Warning, Warnings: []string{"w1", "w2"}, Requirements: []string{"R-1"}}},
			Warning, "w: w1; w2", []string{"w"}},
		{"a skip beside a pass is skipped, never passed", must, []ScenarioResult{sc("a", Passed, "", "R-1"), sc("b", Skipped, "token lifetime 3600 s exceeds max_wait 120 s", "R-1")},
			Skipped, "scenario b: token lifetime 3600 s exceeds max_wait 120 s", []string{"a", "b"}},
		{"an inconclusive beside a pass is inconclusive", must, []ScenarioResult{sc("a", Passed, "", "R-1"), sc("b", Inconclusive, "429 at /token", "R-1")},
			Inconclusive, "scenario b: 429 at /token", []string{"a", "b"}},
		{"inconclusive beats skipped and warning, both named", must, []ScenarioResult{sc("a", Warning, "slow", "R-1"), sc("b", Skipped, "no clients.expired", "R-1"), sc("c", Inconclusive, "journey stopped", "R-1")},
			Inconclusive, "scenario c: journey stopped; scenario b: no clients.expired", []string{"a", "b", "c"}},
		{"skipped beats warning", must, []ScenarioResult{sc("a", Warning, "slow", "R-1"), sc("b", Skipped, "no clients.expired", "R-1")},
			Skipped, "scenario b: no clients.expired", []string{"a", "b"}},
		{"failed beats inconclusive", must, []ScenarioResult{sc("a", Inconclusive, "429", "R-1"), sc("b", Failed, "200 on a replayed code", "R-1")},
			Failed, "scenario b: 200 on a replayed code", []string{"a", "b"}},
		{"inconclusive SHOULD stays inconclusive", should, []ScenarioResult{sc("a", Inconclusive, "503", "R-1")},
			Inconclusive, "scenario a: 503", []string{"a"}},
		{"not applicable beside a pass is noted", option, []ScenarioResult{sc("a", Passed, "", "R-1"), sc("b", NotApplicable, "no revoke endpoint", "R-1")},
			Passed, "not applicable: scenario b: no revoke endpoint", []string{"a", "b"}},
		{"all skipped is skipped, never passed", must, []ScenarioResult{sc("a", Skipped, "no chromium", "R-1"), sc("b", Skipped, "no second TPP", "R-1")},
			Skipped, "scenario a: no chromium; scenario b: no second TPP", []string{"a", "b"}},
		{"skipped and not applicable is skipped", must, []ScenarioResult{sc("a", NotApplicable, "no PKCE", "R-1"), sc("b", Skipped, "no chromium", "R-1")},
			Skipped, "scenario b: no chromium; scenario a: no PKCE", []string{"a", "b"}},
		{"all not applicable", option, []ScenarioResult{sc("a", NotApplicable, "bank does not rotate refresh tokens", "R-1"), sc("b", NotApplicable, "bank does not rotate refresh tokens", "R-1")},
			NotApplicable, "bank does not rotate refresh tokens", []string{"a", "b"}},
		{"empty scenario verdict counts as skipped", must, []ScenarioResult{sc("a", "", "did not run", "R-1")},
			Skipped, "scenario a: did not run", []string{"a"}},
		{"no scenario, covered", must, []ScenarioResult{sc("a", Passed, "", "R-2")},
			NotTested, "no scenario selected by the tag filter", nil},
		{"no scenario, not covered", Requirement{ID: "R-1", Level: LevelMust, NotCovered: "needs a real PSU app"}, nil,
			NotTested, "needs a real PSU app", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Aggregate([]Requirement{tt.req}, tt.scenarios)
			if len(got) != 1 {
				t.Fatalf("got %d results, want 1", len(got))
			}
			r := got[0]
			if r.Verdict != tt.verdict || r.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", r.Verdict, r.Reason, tt.verdict, tt.reason)
			}
			if !reflect.DeepEqual(r.Scenarios, tt.scenarioID) {
				t.Errorf("scenarios %v, want %v", r.Scenarios, tt.scenarioID)
			}
			if r.Requirement != tt.req {
				t.Errorf("requirement %+v not carried over", r.Requirement)
			}
		})
	}
}

func TestAggregateKeepsCatalogueOrder(t *testing.T) {
	cat := []Requirement{{ID: "B"}, {ID: "A"}, {ID: "C"}}
	got := Aggregate(cat, nil)
	for i, id := range []string{"B", "A", "C"} {
		if got[i].ID != id {
			t.Fatalf("result %d is %s, want %s", i, got[i].ID, id)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		reqs   []Verdict
		passed bool
	}{
		{"all passed", []Verdict{Passed, Passed, NotTested}, true},
		{"warnings pass", []Verdict{Warning, NotApplicable}, true},
		{"a skip is no pass", []Verdict{Warning, Skipped}, false},
		{"an inconclusive is no pass", []Verdict{Passed, Inconclusive}, false},
		{"a failure fails", []Verdict{Passed, Failed}, false},
		{"nothing checked is no pass", []Verdict{Skipped, NotApplicable, NotTested}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Scenarios: []ScenarioResult{
				{Verdict: Passed, Exchanges: make([]Exchange, 3)},
				{Verdict: Skipped, Exchanges: make([]Exchange, 2)},
			}}
			for _, v := range tt.reqs {
				rep.Requirements = append(rep.Requirements, RequirementResult{Requirement: Requirement{Level: LevelMust}, Verdict: v})
			}
			Summarize(rep)
			s := rep.Summary
			if s.Passed != tt.passed {
				t.Errorf("Passed = %v, want %v", s.Passed, tt.passed)
			}
			if s.Exchanges != 5 {
				t.Errorf("Exchanges = %d, want 5", s.Exchanges)
			}
			for _, v := range AllVerdicts {
				if _, ok := s.Requirements[v]; !ok {
					t.Errorf("Requirements map lacks %s", v)
				}
				if _, ok := s.Scenarios[v]; !ok {
					t.Errorf("Scenarios map lacks %s", v)
				}
			}
			total := 0
			for _, n := range s.Requirements {
				total += n
			}
			if total != len(tt.reqs) {
				t.Errorf("requirement counts add up to %d, want %d", total, len(tt.reqs))
			}
			if s.Scenarios[Passed] != 1 || s.Scenarios[Skipped] != 1 {
				t.Errorf("scenario counts %v", s.Scenarios)
			}
		})
	}
}
