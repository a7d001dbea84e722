package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func baselined(r RequirementResult, why string) RequirementResult { r.Baselined = why; return r }

func TestDecideWithBaseline(t *testing.T) {
	tests := []struct {
		name     string
		reqs     []RequirementResult
		strict   bool
		outcome  Outcome
		code     int
		headline string
		known    string
		stale    string
	}{
		{"only known failures pass the gate",
			[]RequirementResult{req("A", LevelMust, Passed, ""), baselined(req("B", LevelMust, Failed, "200 on a replayed code"), "JIRA-1")},
			false, CompliantWithKnownFailures, 0,
			"COMPLIANT WITH KNOWN FAILURES: 1 of the 2 requirements in scope failed as the baseline expects: B; the other 1 checked and passed", "B", ""},
		{"an unexpected failure still fails",
			[]RequirementResult{req("A", LevelMust, Failed, "x"), baselined(req("B", LevelMust, Failed, "y"), "JIRA-1")},
			false, NotCompliant, 1,
			"NOT COMPLIANT: 1 of the 2 requirements in scope failed: A (and 1 known failure(s) in the baseline: B)", "B", ""},
		{"a baselined requirement that passed is stale",
			[]RequirementResult{req("A", LevelMust, Passed, ""), baselined(req("B", LevelMust, Passed, ""), "JIRA-1")},
			false, Compliant, 0,
			"COMPLIANT: all 2 requirements in scope checked and passed; stale baseline: B now pass(es), remove from the baseline", "", "B"},
		{"--strict-baseline fails on a stale entry",
			[]RequirementResult{req("A", LevelMust, Passed, ""), baselined(req("B", LevelMust, Passed, ""), "JIRA-1")},
			true, Compliant, 1,
			"COMPLIANT: all 2 requirements in scope checked and passed; stale baseline: B now pass(es), remove from the baseline (--strict-baseline: exit 1)", "", "B"},
		{"a SHOULD still not met is not stale",
			[]RequirementResult{req("A", LevelMust, Passed, ""), baselined(req("S", LevelShould, Warning, "lower case"), "JIRA-2")},
			true, Compliant, 0, "COMPLIANT: the 1 requirement in scope checked and passed", "", ""},
		{"a baselined requirement left unchecked is neither known nor stale",
			[]RequirementResult{req("A", LevelMust, Passed, ""), baselined(req("B", LevelMust, Inconclusive, "429"), "JIRA-1")},
			true, Incomplete, 4,
			"INCOMPLETE: nothing failed, but 1 of the 2 requirements in scope could not be checked (skipped or inconclusive): B", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Requirements: tt.reqs}
			if tt.strict {
				rep.Baseline = &BaselineUse{File: "b.yaml", Strict: true}
			}
			Summarize(rep)
			d := rep.Summary.Decision
			if d.Outcome != tt.outcome || d.ExitCode != tt.code || d.Headline != tt.headline {
				t.Errorf("got %s (exit %d) %q\nwant %s (exit %d) %q", d.Outcome, d.ExitCode, d.Headline, tt.outcome, tt.code, tt.headline)
			}
			if ids(d.Known) != tt.known || ids(d.Stale) != tt.stale {
				t.Errorf("known %q stale %q, want %q and %q", ids(d.Known), ids(d.Stale), tt.known, tt.stale)
			}
			if rep.Summary.Passed != (tt.outcome == Compliant && tt.code == 0) {
				t.Errorf("passed %v", rep.Summary.Passed)
			}
		})
	}
}

func TestParseBaseline(t *testing.T) {
	known := map[string]bool{"TOKEN-07": true, "MTLS-02": true}
	b, err := ParseBaseline([]byte("# known\n- requirement: TOKEN-07\n  reason: JIRA-123\n- requirement: MTLS-02\n  reason: TLS alert\n"), "b.yaml", known)
	if err != nil || b["TOKEN-07"] != "JIRA-123" || b["MTLS-02"] != "TLS alert" || len(b) != 2 {
		t.Fatalf("got %v, %v", b, err)
	}
	if b, err := ParseBaseline(nil, "b.yaml", known); err != nil || len(b) != 0 {
		t.Errorf("empty file: %v, %v", b, err)
	}
	bad := "- requirement: TOKEN-99\n  reason: x\n- requirement: TOKEN-07\n- requirement: TOKEN-07\n  reason: y\n  ticket: z\n"
	_, err = ParseBaseline([]byte(bad), "b.yaml", known)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`b.yaml:1: [0].requirement: "TOKEN-99" is not a requirement ID of the catalogue`,
		"b.yaml:3: [1].reason: is required",
		`b.yaml:6: [2].ticket: unknown key "ticket"`,
		"b.yaml:4: [2].requirement: TOKEN-07 is already listed at line 3",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
	for text, want := range map[string]string{
		"requirement: TOKEN-07\n": "b.yaml:1: expected a list of known failures",
		"- [a\n":                  "b.yaml:1: YAML syntax error",
		"- TOKEN-07\n":            `b.yaml:1: [0]: expected requirement: and reason:, found the value "TOKEN-07"`,
	} {
		if _, err := ParseBaseline([]byte(text), "b.yaml", known); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", text, err, want)
		}
	}
}

// TestWritersShowTheBaseline: the console, report.json, junit.xml and report.html show
// known failures (junit as skipped, agreeing with exit 0) and stale entries.
func TestWritersShowTheBaseline(t *testing.T) {
	rep := &Report{
		Scenarios: []ScenarioResult{
			{ID: "a.feature:1", Feature: "A", Name: "replay", Requirements: []string{"A-1"}, Verdict: Failed, Reason: "200 on a replayed code"},
			{ID: "a.feature:5", Feature: "A", Name: "ok", Requirements: []string{"A-2"}, Verdict: Passed},
		},
		Baseline: &BaselineUse{File: "ci/baseline.yaml", Entries: 2},
	}
	rep.Requirements = Aggregate([]Requirement{{ID: "A-1", Level: LevelMust}, {ID: "A-2", Level: LevelMust}}, rep.Scenarios)
	ApplyBaseline(rep.Requirements, Baseline{"A-1": "JIRA-123", "A-2": "JIRA-7"})
	Summarize(rep)
	if rep.Summary.Outcome != CompliantWithKnownFailures || rep.Summary.ExitCode != 0 {
		t.Fatalf("summary %+v", rep.Summary.Decision)
	}
	var console, js, junit, page bytes.Buffer
	WriteConsoleSummary(&console, rep, false)
	for _, want := range []string{"KNOWN        A-1", "known failure, in the baseline: JIRA-123", "A-2          stale baseline entry", "\nCOMPLIANT WITH KNOWN FAILURES: "} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, console.String())
		}
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Summary.Known) != 1 || back.Summary.Known[0].Baseline != "JIRA-123" || len(back.Summary.Stale) != 1 || back.Requirements[0].Baselined != "JIRA-123" || back.Baseline.File != "ci/baseline.yaml" {
		t.Errorf("report.json: %+v", back.Summary.Decision)
	}
	if err := WriteJUnit(&junit, rep); err != nil {
		t.Fatal(err)
	}
	var got parsedSuites
	if err := xml.Unmarshal(junit.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Failures != 0 {
		t.Errorf("junit has %d failures for known failures only:\n%s", got.Failures, junit.String())
	}
	for _, want := range []string{`message="known failure (baseline: A-1: JIRA-123): 200 on a replayed code"`, `message="known failure (baseline: JIRA-123): replay: 200 on a replayed code"`,
		`<property name="known_failures" value="A-1">`, `<property name="stale_baseline" value="A-2">`} {
		if !strings.Contains(junit.String(), want) {
			t.Errorf("junit.xml lacks %q:\n%s", want, junit.String())
		}
	}
	if err := WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Known failures, expected by the baseline <code>ci/baseline.yaml</code>", "Stale baseline entries", "In the baseline of known failures: JIRA-123", `<section class="banner ok" id="outcome">`} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}

	// Under --strict-baseline the stale entry fails junit too.
	rep.Baseline.Strict = true
	Summarize(rep)
	junit.Reset()
	if err := WriteJUnit(&junit, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(junit.String(), `type="stale-baseline"`) || rep.Summary.ExitCode != 1 {
		t.Errorf("strict: exit %d, junit:\n%s", rep.Summary.ExitCode, junit.String())
	}
}
