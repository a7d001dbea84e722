package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestWriteHTMLFirstScreen checks the order of the page and the links a reader follows
// from the banner; TestReportPageInChromium checks where a browser draws them.
func TestWriteHTMLFirstScreen(t *testing.T) {
	rep := layoutReport(true)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	last := -1
	for _, mark := range []string{`id="outcome"`, `id="overview"`, `<svg class="overview"`, `id="problems"`, `id="requirements"`,
		`id="latency"`, `id="scenarios"`, `<details class="run" id="run-details">`} {
		i := strings.Index(page, mark)
		if i < 0 {
			t.Fatalf("page lacks %s", mark)
		}
		if i < last {
			t.Errorf("%s comes too early", mark)
		}
		last = i
	}
	for _, bad := range []string{"<script", "javascript:", "onclick", "<link", "@import", "url("} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q: it must work offline and without script", bad)
		}
	}
	// f<n> is where the n-th scenario of the run is detailed.
	anchor := func(id string) string {
		for i, s := range rep.Scenarios {
			if s.Requirements[0] == id {
				return fmt.Sprintf("f%d", i+1)
			}
		}
		return "none"
	}
	tok, bearer, refresh := anchor("TOKEN-07"), anchor("BEARER-04"), anchor("REFRESH-01")
	banner := page[strings.Index(page, `id="outcome"`):strings.Index(page, `id="overview"`)]
	for _, want := range []string{
		`<span class="what">Failed:</span> <a href="#` + tok + `">TOKEN-07</a> <a href="#` + bearer + `">BEARER-04</a>`,
		`<span class="what">Inconclusive:</span> <a href="#` + refresh + `">REFRESH-01</a>`,
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %s:\n%s", want, banner)
		}
	}
	problems := page[strings.Index(page, `id="problems"`):strings.Index(page, `id="requirements"`)]
	// Failures first, in STET order; then the inconclusive check.
	if a, b, c := strings.Index(problems, `id="`+tok+`"`), strings.Index(problems, `id="`+bearer+`"`), strings.Index(problems, `id="`+refresh+`"`); !(a >= 0 && a < b && b < c) {
		t.Errorf("problems out of order: TOKEN-07 at %d, BEARER-04 at %d, REFRESH-01 at %d", a, b, c)
	}
	for _, want := range []string{
		`<dt>Failed at</dt><dd><strong>Then</strong> the bank refuses the token request with the error &#34;invalid_grant&#34;</dd>`,
		`<dt>Expected</dt><dd>the bank to refuse with error invalid_grant</dd>`,
		`<dt>Actual</dt><dd class="actual">it answered HTTP 200, with an access token</dd>`,
		`<dt>Stopped at</dt>`, `<dt>Why</dt><dd class="actual">the bank could not serve the request (HTTP 429)`,
		`<h4>The exchange that failed</h4><details class="exchange" open>`,
		// The failing Then step made no request: the exchange that failed is the one the
		// When step before it made.
		`#5 POST https://bank.example/oauth/token`,
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("failures lack %s", want)
		}
	}
	if strings.Count(problems, `<details class="exchange" open>`) != 3 {
		t.Errorf("each of the 3 problems should show its exchange expanded, and only that one")
	}
	if !strings.Contains(page, `<input type="checkbox" id="unmet-only" class="filter-toggle">`) {
		t.Error("no failed-only filter")
	}
	if !strings.Contains(page, `<td>token</td><td class="mono url">https://bank.example/oauth/token</td>`) {
		t.Error("no latency row for the token endpoint")
	}
}

// layoutReport is a run over a catalogue as long as the real one (so that a page that put
// the table first would push the failures far down): two failures and one inconclusive
// check when failing, every check passed otherwise.
func layoutReport(failing bool) *Report {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	endpoints := map[string]string{
		"authorize": "https://bank.example/oauth/authorize", "token": "https://bank.example/oauth/token",
		"accounts": "https://bank.example/v1/accounts", "revoke": "https://bank.example/oauth/revoke",
	}
	post := func(url string, status int, body string, d time.Duration) Exchange {
		return Exchange{Actor: "TPP primary", ClientCert: "PSDFR-ACPR-12345", TLSVersion: "TLS 1.3",
			Request:  Message{Method: "POST", URL: url, Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: "grant_type=authorization_code&code=[redacted:aaaaaa]"},
			Response: &Message{Status: status, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: body},
			Started:  start, Duration: d}
	}
	journey := []Exchange{
		{Actor: "PSU browser", Request: Message{Method: "GET", URL: endpoints["authorize"] + "?client_id=PSDFR-ACPR-12345"}, Response: &Message{Status: 200, Body: "<form>login</form>"}, Started: start, Duration: 40 * time.Millisecond},
		post(endpoints["token"], 200, `{"access_token":"[redacted:bbbbbb]","token_type":"Bearer"}`, 25*time.Millisecond),
	}
	var cat []Requirement
	var scens []ScenarioResult
	prefixes := []struct {
		prefix string
		n      int
	}{{"AUTHZ", 13}, {"TOKEN", 15}, {"MTLS", 10}, {"SIG", 1}, {"BEARER", 10}, {"REFRESH", 13}, {"REVOKE", 2}, {"CC", 6}, {"REG", 3}}
	for _, p := range prefixes {
		for i := 1; i <= p.n; i++ {
			id := fmt.Sprintf("%s-%02d", p.prefix, i)
			r := Requirement{ID: id, Level: LevelMust, Title: "The bank does what " + id + " says, in one sentence of about this length.", Source: "STET Part I 3.4; RFC 6749"}
			if p.prefix == "CC" || p.prefix == "REG" || i%5 == 0 {
				r.NotCovered = "planned"
				cat = append(cat, r)
				continue
			}
			cat = append(cat, r)
			scens = append(scens, ScenarioResult{
				ID: strings.ToLower(p.prefix) + ".feature:" + fmt.Sprint(i), Feature: p.prefix + " feature", Name: "Scenario for " + id,
				URI: "features/" + strings.ToLower(p.prefix) + ".feature", Line: i, Requirements: []string{id}, Tags: []string{"@" + id},
				Verdict: Passed, Duration: 70 * time.Millisecond, Started: start,
				Steps: []StepResult{
					{Keyword: "Given ", Text: "the PSU has approved the authorization request of the primary TPP", Status: "passed", Exchanges: []int{0}},
					{Keyword: "When ", Text: "the primary TPP exchanges the code", Status: "passed", Exchanges: []int{1}},
					{Keyword: "Then ", Text: "the bank answers as " + id + " requires", Status: "passed"},
				},
				Exchanges: append([]Exchange(nil), journey...),
			})
		}
	}
	if failing {
		set := func(id string, f func(*ScenarioResult)) {
			for i := range scens {
				if scens[i].Requirements[0] == id {
					f(&scens[i])
				}
			}
		}
		set("TOKEN-07", func(s *ScenarioResult) {
			s.Name = "A code can be exchanged only once"
			msg := "expected the bank to refuse with error invalid_grant; it answered HTTP 200, with an access token"
			s.Verdict, s.Reason = Failed, `Then the bank refuses the token request with the error "invalid_grant": `+msg
			s.Steps = []StepResult{
				s.Steps[0], s.Steps[1],
				{Keyword: "When ", Text: "the primary TPP exchanges the same code again", Status: "passed", Exchanges: []int{2, 3, 4}},
				{Keyword: "Then ", Text: `the bank refuses the token request with the error "invalid_grant"`, Status: "failed", Error: msg},
			}
			s.Exchanges = append(s.Exchanges,
				post(endpoints["token"]+"?retry=1", 429, `{"error":"slow_down"}`, time.Millisecond),
				post(endpoints["token"]+"?retry=2", 429, `{"error":"slow_down"}`, time.Millisecond),
				post(endpoints["token"], 200, `{"access_token":"[redacted:cccccc]","token_type":"Bearer"}`, 30*time.Millisecond))
		})
		set("BEARER-04", func(s *ScenarioResult) {
			s.Name = "An expired access token is refused with invalid_token"
			msg := `expected WWW-Authenticate: Bearer error="invalid_token" for the expired access token (RFC 6750 section 3.1; the token expired 1.2s ago); HTTP 401, WWW-Authenticate: Bearer realm="stet"`
			s.Verdict, s.Reason = Failed, "Then the bank refuses the expired access token: "+msg
			s.Steps[2].Status, s.Steps[2].Error = "failed", msg
		})
		set("REFRESH-01", func(s *ScenarioResult) {
			s.Name = "A refresh yields a new access token"
			s.Verdict, s.Reason = Inconclusive, "the bank could not serve the request (HTTP 429): a rate limit or an unavailable bank is not a verdict; lower the run's pace or retry later"
			s.Steps[1].Status, s.Steps[2].Status = "skipped", "skipped"
		})
	}
	rep := &Report{
		Tool:      Tool{Name: "stetconform", Version: "v0.2.0"},
		Bank:      Bank{Name: "Example Bank", Profile: "banks/example.yaml", Endpoints: endpoints, Options: map[string]string{"pkce": "supported", "refresh_rotation": "rotate"}},
		Started:   start,
		Finished:  start.Add(95 * time.Second),
		Scenarios: scens,
	}
	rep.Requirements = Aggregate(cat, rep.Scenarios)
	Summarize(rep)
	return rep
}
