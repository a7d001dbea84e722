package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	old := &Report{Summary: Summary{Decision: Decision{Outcome: NotCompliant}}, Requirements: []RequirementResult{
		req("A", LevelMust, Passed, ""), req("B", LevelMust, Failed, "200 on a replayed code"), req("C", LevelMust, Inconclusive, "429"),
		req("D", LevelMust, Failed, "400 invalid_request"), req("E", LevelMust, Passed, ""),
	}}
	cur := &Report{Summary: Summary{Decision: Decision{Outcome: NotCompliant}}, Requirements: []RequirementResult{
		req("A", LevelMust, Failed, "500"), req("B", LevelMust, Passed, ""), req("C", LevelMust, Inconclusive, "503"),
		req("D", LevelMust, Failed, "400 invalid_grant"), req("E", LevelMust, Skipped, "add clients.expired"), req("F", LevelMust, Failed, "new"),
	}}
	d := Compare(old, cur)
	got := func(cs []Change) string {
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		return strings.Join(ids, ",")
	}
	if got(d.Regressions) != "A,F" || got(d.Fixes) != "B" || got(d.Changed) != "E" || got(d.Reasons) != "C,D" {
		t.Errorf("regressions %s, fixes %s, changed %s, reasons %s", got(d.Regressions), got(d.Fixes), got(d.Changed), got(d.Reasons))
	}
	var out bytes.Buffer
	d.Write(&out, "old.json", "new.json")
	for _, want := range []string{"outcome: NOT COMPLIANT (old.json) -> NOT COMPLIANT (new.json)", "REGRESSIONS (2):\n  A            passed -> failed", "      now: 500",
		"FIXES (1):\n  B ", "CHANGED REASONS (2):", "      was: 400 invalid_request\n      now: 400 invalid_grant", "2 regression(s), 1 fix(es), 1 other verdict change(s), 2 changed reason(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	if d := Compare(old, old); len(d.Regressions)+len(d.Fixes)+len(d.Changed)+len(d.Reasons) != 0 {
		t.Errorf("a report differs from itself: %+v", d)
	}
}
