package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

// req is a requirement result with a level and a verdict.
func req(id, level string, v Verdict, reason string) RequirementResult {
	return RequirementResult{Requirement: Requirement{ID: id, Level: level}, Verdict: v, Reason: reason}
}

func waived(r RequirementResult, why string) RequirementResult { r.Waived = why; return r }

func TestDecide(t *testing.T) {
	tests := []struct {
		name        string
		reqs        []RequirementResult
		tagged      bool
		interrupted bool
		outcome     Outcome
		code        int
		headline    string
		blocking    []string
	}{
		{"all passed", []RequirementResult{req("A", LevelMust, Passed, ""), req("B", LevelBankOption, Passed, ""), req("C", LevelMust, NotTested, "planned")},
			false, false, Compliant, 0, "COMPLIANT: all 2 requirements in scope checked and passed", nil},
		{"warnings and out-of-scope rows do not block", []RequirementResult{req("A", LevelMust, Warning, "bearer in lower case"), req("B", LevelBankOption, NotApplicable, "no revoke endpoint"),
			req("S", LevelShould, Skipped, "no chromium"), req("T", LevelShould, Inconclusive, "503"), req("U", LevelShould, Warning, "no STET body")},
			false, false, Compliant, 0, "COMPLIANT: the 1 requirement in scope checked and passed (1 with a warning)", nil},
		{"tag filter states its scope", []RequirementResult{req("A", LevelMust, Passed, ""), req("B", LevelMust, NotTested, "not selected")},
			true, false, Compliant, 0, "COMPLIANT for the 1 selected requirement", nil},
		{"a failed MUST", []RequirementResult{req("A", LevelMust, Passed, ""), req("B", LevelMust, Failed, "200 on a replayed code"), req("C", LevelMust, Skipped, "x")},
			false, false, NotCompliant, 1, "NOT COMPLIANT: 1 of the 3 requirements in scope failed: B", []string{"B"}},
		{"a failed BANK-OPTION", []RequirementResult{req("A", LevelMust, Passed, ""), req("B", LevelBankOption, Failed, "rotation")},
			false, false, NotCompliant, 1, "NOT COMPLIANT: 1 of the 2 requirements in scope failed: B", []string{"B"}},
		{"a waived failure still fails", []RequirementResult{req("A", LevelMust, Passed, ""), waived(req("B", LevelMust, Failed, "accepted"), "known")},
			false, false, NotCompliant, 1, "NOT COMPLIANT: 1 of the 2 requirements in scope failed: B", []string{"B"}},
		{"a skipped MUST is incomplete", []RequirementResult{req("A", LevelMust, Passed, ""), req("B", LevelMust, Skipped, "run again after 16:05 with the same state file")},
			false, false, Incomplete, 4, "INCOMPLETE: nothing failed, but 1 of the 2 requirements in scope could not be checked (skipped or inconclusive): B", []string{"B"}},
		{"an inconclusive BANK-OPTION is incomplete", []RequirementResult{req("A", LevelMust, Passed, ""), req("B", LevelBankOption, Inconclusive, "429")},
			false, false, Incomplete, 4, "INCOMPLETE: nothing failed, but 1 of the 2 requirements in scope could not be checked (skipped or inconclusive): B", []string{"B"}},
		{"a waived skip does not block", []RequirementResult{req("A", LevelMust, Passed, ""), waived(req("B", LevelMust, Skipped, "add clients.expired"), "our QTSP issues no expired QWAC")},
			false, false, Compliant, 0, "COMPLIANT: all 2 requirements in scope checked and passed (1 waived by the bank profile and not checked: B)", nil},
		{"nothing checked at all is incomplete", []RequirementResult{req("A", LevelMust, NotTested, "planned"), req("B", LevelBankOption, NotApplicable, "no PKCE"), req("S", LevelShould, Passed, "")},
			false, false, Incomplete, 4, "INCOMPLETE: no MUST or declared bank-option requirement was in scope (each selected one is not applicable or not tested): nothing was checked to vouch for", nil},
		{"everything skipped is incomplete", []RequirementResult{req("A", LevelMust, Skipped, "x")},
			false, false, Incomplete, 4, "INCOMPLETE: none of the 1 requirement in scope could be checked: nothing failed, and nothing was proved", []string{"A"}},
		{"only waived is incomplete", []RequirementResult{waived(req("A", LevelMust, Skipped, "x"), "y")},
			false, false, Incomplete, 4, "INCOMPLETE: none of the 1 requirement in scope could be checked: nothing failed, and nothing was proved", nil},
		{"interrupted is never compliant", []RequirementResult{req("A", LevelMust, Passed, "")},
			false, true, CouldNotFinish, 3, "COULD NOT FINISH: the run was interrupted before its end; partial results: 1 of the 1 requirement in scope checked and passed, 0 failed, before it stopped. Run it again for a verdict", nil},
		{"interrupted is never not compliant", []RequirementResult{req("A", LevelMust, Failed, "x"), req("B", LevelMust, Skipped, "cancelled")},
			false, true, CouldNotFinish, 3, "COULD NOT FINISH: the run was interrupted before its end; partial results: 0 of the 2 requirements in scope checked and passed, 1 failed, before it stopped. Run it again for a verdict", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.reqs, nil, tt.tagged, tt.interrupted)
			if d.Outcome != tt.outcome || d.ExitCode != tt.code || d.Headline != tt.headline {
				t.Errorf("got %s (exit %d) %q\nwant %s (exit %d) %q", d.Outcome, d.ExitCode, d.Headline, tt.outcome, tt.code, tt.headline)
			}
			var ids []string
			for _, b := range d.Blocking {
				ids = append(ids, b.ID)
				if b.Reason == "" {
					t.Errorf("blocker %s has no reason", b.ID)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.blocking, ",") {
				t.Errorf("blocking %v, want %v", ids, tt.blocking)
			}
			if d.Partial != tt.interrupted {
				t.Errorf("partial %v", d.Partial)
			}
		})
	}
}

func TestDecideCarriesWaiverReason(t *testing.T) {
	d := Decide([]RequirementResult{req("A", LevelMust, Passed, ""), waived(req("B", LevelMust, Inconclusive, "429"), "sandbox rate limits")}, nil, false, false)
	if d.Outcome != Compliant || len(d.Waived) != 1 || d.Waived[0].Reason != "sandbox rate limits" || d.Waived[0].Verdict != Inconclusive {
		t.Errorf("got %+v", d)
	}
}

func TestJourneyHint(t *testing.T) {
	reqs := []RequirementResult{req("A", LevelMust, Passed, ""), req("B", LevelMust, Inconclusive, "x")}
	stopped := ScenarioResult{Verdict: Inconclusive, Reason: "the PSU journey stopped on the bank's page \"Login failed\" before the callback"}
	other := ScenarioResult{Verdict: Inconclusive, Reason: "the bank answered 429"}
	if d := Decide(reqs, []ScenarioResult{stopped, stopped, {Verdict: Passed}}, false, false); !strings.Contains(d.Hint, "psu.approve") {
		t.Errorf("no hint when every journey stopped: %q", d.Hint)
	}
	if d := Decide(reqs, []ScenarioResult{stopped, stopped, other}, false, false); d.Hint != "" {
		t.Errorf("hint %q when the inconclusive scenarios differ", d.Hint)
	}
	if d := Decide(reqs, []ScenarioResult{stopped}, false, false); d.Hint != "" {
		t.Errorf("hint %q from one scenario", d.Hint)
	}
	if d := Decide([]RequirementResult{req("A", LevelMust, Failed, "")}, []ScenarioResult{stopped, stopped}, false, false); d.Hint != "" {
		t.Errorf("hint %q on a NOT COMPLIANT run", d.Hint)
	}
}

func TestApplyWaivers(t *testing.T) {
	reqs := []RequirementResult{req("A", LevelMust, Skipped, ""), req("B", LevelMust, Skipped, "")}
	ApplyWaivers(reqs, map[string]string{"B": "why"})
	if reqs[0].Waived != "" || reqs[1].Waived != "why" || reqs[1].Verdict != Skipped {
		t.Errorf("got %+v", reqs)
	}
}

// incompleteReport is a run where nothing failed, one MUST was inconclusive, one skipped
// but waived, and one scenario was inconclusive.
func incompleteReport() *Report {
	rep := &Report{
		Scenarios: []ScenarioResult{
			{ID: "a.feature:1", Feature: "A", Name: "ok", Requirements: []string{"A-1"}, Verdict: Passed},
			{ID: "a.feature:5", Feature: "A", Name: "refusal", Requirements: []string{"A-2"}, Verdict: Inconclusive, Reason: "the bank answered 429 <b>"},
			{ID: "a.feature:9", Feature: "A", Name: "expired cert", Requirements: []string{"A-3"}, Verdict: Skipped, Reason: "add clients.expired to the profile"},
		},
	}
	rep.Requirements = Aggregate([]Requirement{
		{ID: "A-1", Level: LevelMust}, {ID: "A-2", Level: LevelMust}, {ID: "A-3", Level: LevelMust},
	}, rep.Scenarios)
	ApplyWaivers(rep.Requirements, map[string]string{"A-3": "our QTSP issues no expired QWAC"})
	Summarize(rep)
	return rep
}

// TestWritersAgreeOnTheOutcome: the console, report.json, junit.xml and the HTML banner
// say the same outcome, and none of them passes or fails what is inconclusive.
func TestWritersAgreeOnTheOutcome(t *testing.T) {
	rep := incompleteReport()
	if rep.Summary.Outcome != Incomplete || rep.Summary.Passed {
		t.Fatalf("outcome %s, passed %v", rep.Summary.Outcome, rep.Summary.Passed)
	}

	var console bytes.Buffer
	WriteConsoleSummary(&console, rep, false)
	for _, want := range []string{"\nINCOMPLETE: nothing failed, but 1 of the 3 requirements in scope could not be checked", "INCONCLUSIVE A-2",
		"What would complete the run:", "A-2          inconclusive: refusal: the bank answered 429", "waived by the bank profile: our QTSP issues no expired QWAC"} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, console.String())
		}
	}
	if strings.Contains(console.String(), "COMPLIANT") {
		t.Errorf("console says COMPLIANT:\n%s", console.String())
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Summary struct {
			Outcome  string `json:"outcome"`
			ExitCode int    `json:"exit_code"`
			Scope    string `json:"scope"`
			Passed   bool   `json:"passed"`
			Blocking []struct{ ID, Reason string }
		}
		Requirements []struct{ ID, Verdict, Waived string }
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary.Outcome != "INCOMPLETE" || back.Summary.ExitCode != 4 || back.Summary.Passed || !strings.Contains(back.Summary.Scope, "1 of the 3") ||
		len(back.Summary.Blocking) != 1 || back.Summary.Blocking[0].ID != "A-2" {
		t.Errorf("report.json summary: %+v", back.Summary)
	}
	if back.Requirements[2].Waived == "" || back.Requirements[1].Verdict != "inconclusive" {
		t.Errorf("report.json requirements: %+v", back.Requirements)
	}

	var junit bytes.Buffer
	if err := WriteJUnit(&junit, rep); err != nil {
		t.Fatal(err)
	}
	var got parsedSuites
	if err := xml.Unmarshal(junit.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Failures != 0 || got.Skipped != 2+2 {
		t.Errorf("junit failures=%d skipped=%d, want 0 and 4 (inconclusive and skipped are <skipped>)", got.Failures, got.Skipped)
	}
	if c := got.Suites[0].Cases[1]; c.Skipped == nil || c.Skipped.Message != "inconclusive: the bank answered 429 <b>" {
		t.Errorf("inconclusive scenario case: %+v", c)
	}
	if c := got.Suites[1].Cases[2]; c.Skipped == nil || !strings.Contains(c.Skipped.Message, "waived by the bank profile: our QTSP") {
		t.Errorf("waived requirement case: %+v", c)
	}
	if !strings.Contains(junit.String(), `<property name="outcome" value="INCOMPLETE"></property>`) ||
		!strings.Contains(junit.String(), `<property name="exit_code" value="4"></property>`) {
		t.Errorf("junit.xml lacks the outcome properties:\n%s", junit.String())
	}

	var page bytes.Buffer
	if err := WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{`<section class="banner open" id="outcome">`, `<div class="verdict">INCOMPLETE</div>`, "What would complete the run:",
		"the bank answered 429 &lt;b&gt;", `<span class="badge waived">waived</span>`, "Waived by the bank profile: our QTSP", `class="badge v-inconclusive"`} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(html, "COMPLIANT") {
		t.Error("report.html says COMPLIANT")
	}
}

func TestWritersShowAnInterruptedRunAsPartial(t *testing.T) {
	rep := incompleteReport()
	rep.Scenarios[0].Verdict = Failed // a real failure before the interruption
	rep.Requirements = Aggregate([]Requirement{{ID: "A-1", Level: LevelMust}, {ID: "A-2", Level: LevelMust}, {ID: "A-3", Level: LevelMust}}, rep.Scenarios)
	rep.Interrupted = true
	Summarize(rep)
	var console, js, junit, page bytes.Buffer
	WriteConsoleSummary(&console, rep, false)
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(&junit, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"console": console.String(), "report.json": js.String(), "junit.xml": junit.String(), "report.html": page.String()} {
		if !strings.Contains(text, "COULD NOT FINISH") {
			t.Errorf("%s lacks COULD NOT FINISH", name)
		}
		if strings.Contains(text, "COMPLIANT") {
			t.Errorf("%s says COMPLIANT or NOT COMPLIANT of an interrupted run", name)
		}
	}
	if !strings.Contains(page.String(), "Partial report") || !strings.Contains(js.String(), `"partial": true`) {
		t.Error("the partial report is not labelled partial")
	}
}
