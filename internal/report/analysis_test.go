package report

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSplitExpected(t *testing.T) {
	for _, c := range []struct{ msg, expected, actual string }{
		{`expected HTTP 401; HTTP 400, error="invalid_request"`, "HTTP 401", `HTTP 400, error="invalid_request"`},
		// The remark in parentheses has its own semicolon; the cut is after it.
		{`expected WWW-Authenticate: Bearer error="invalid_token" for the expired access token (RFC 6750 section 3.1; the token expired 1s ago); HTTP 401, WWW-Authenticate: Bearer realm="stet"`,
			`WWW-Authenticate: Bearer error="invalid_token" for the expired access token (RFC 6750 section 3.1; the token expired 1s ago)`,
			`HTTP 401, WWW-Authenticate: Bearer realm="stet"`},
		// A quoted value with "; " in it does not cut.
		{`expected the callback to carry the state "a; b" unchanged; it carries "a"`, `the callback to carry the state "a; b" unchanged`, `it carries "a"`},
		{`expected Cache-Control: no-store on the token response (RFC 6749 section 5.1); Cache-Control is ""`,
			"Cache-Control: no-store on the token response (RFC 6749 section 5.1)", `Cache-Control is ""`},
	} {
		e, a, ok := SplitExpected(c.msg)
		if !ok || e != c.expected || a != c.actual {
			t.Errorf("SplitExpected(%q)\n = %q, %q, %v\nwant %q, %q", c.msg, e, a, ok, c.expected, c.actual)
		}
	}
	for _, msg := range []string{"", "the bank hung up", "expected a login page", "expected ; nothing", `expected "unbalanced; quote`} {
		if _, _, ok := SplitExpected(msg); ok {
			t.Errorf("SplitExpected(%q) should not cut", msg)
		}
	}
}

func TestStetStep(t *testing.T) {
	for id, want := range map[string]string{
		"AUTHZ-01": StepAuthorize, "AUTHZ-03": StepCallback, "TOKEN-07": StepToken, "MTLS-02": StepClientCertificate,
		"SIG-01": StepSigning, "BEARER-04": StepBearer, "BEARER-10": StepRevocation, "REFRESH-01": StepRefresh,
		"REFRESH-13": StepRefreshLifetime, "REFRESH-11": StepRevocation, "REVOKE-02": StepRevocation,
		"CC-01": StepOther, "REG-02": StepOther, "nonsense": StepOther,
	} {
		if got := StetStep(id); got != want {
			t.Errorf("StetStep(%s) = %q, want %q", id, got, want)
		}
	}
}

func TestOverview(t *testing.T) {
	reqs := []RequirementResult{
		{Requirement: Requirement{ID: "TOKEN-01"}, Verdict: Passed},
		{Requirement: Requirement{ID: "AUTHZ-01"}, Verdict: Failed},
		{Requirement: Requirement{ID: "TOKEN-07"}, Verdict: Failed},
		{Requirement: Requirement{ID: "TOKEN-06"}, Verdict: NotTested},
		{Requirement: Requirement{ID: "AUTHZ-02"}, Verdict: Inconclusive},
	}
	got := Overview(reqs)
	var steps []string
	for _, o := range got {
		steps = append(steps, fmt.Sprintf("%s %d: %s", o.Step, o.Total, countLine(o.Counts)))
	}
	want := "authorize 1: 1 failed|callback 1: 1 inconclusive|token 3: 1 passed, 1 failed, 1 not tested"
	if strings.Join(steps, "|") != want {
		t.Errorf("Overview = %q, want %q (STET order, empty steps left out)", strings.Join(steps, "|"), want)
	}
}

func TestLatencies(t *testing.T) {
	ms := time.Millisecond
	ex := func(u string, d time.Duration, answered bool) Exchange {
		e := Exchange{Request: Message{Method: "GET", URL: u}, Duration: d}
		if answered {
			e.Response = &Message{Status: 200}
		} else {
			e.Error = "timeout"
		}
		return e
	}
	var token []Exchange
	for i := 1; i <= 20; i++ { // 1 ms .. 20 ms
		token = append(token, ex("https://bank.example/oauth/token", time.Duration(i)*ms, true))
	}
	rep := &Report{
		Bank: Bank{Endpoints: map[string]string{
			"authorize": "https://bank.example/oauth/authorize",
			"token":     "https://bank.example/oauth/token",
			"accounts":  "https://api.bank.example/v1/accounts",
			"revoke":    "https://bank.example/oauth/revoke", // never called: left out
		}},
		Scenarios: []ScenarioResult{
			{Exchanges: token},
			{Exchanges: []Exchange{
				ex("https://api.bank.example/v1/accounts/abc/transactions?x=1", 30*ms, true), // a sub-resource
				ex("https://api.bank.example/v1/accounts", 10*ms, true),
				ex("https://api.bank.example/v1/accounts", 5*time.Second, false), // no answer: no time
				ex("https://bank.example/oauth/authorize?client_id=x", 7*ms, true),
				ex("https://bank.example/login", 99*ms, true),           // the bank's login page: no endpoint
				ex("https://other.example/oauth/token", 99*ms, true),    // another host
				ex("https://bank.example/oauth/tokenizer", 99*ms, true), // not below the token path
				ex("::not a url", 99*ms, true),
			}},
		},
	}
	got := Latencies(rep)
	var lines []string
	for _, l := range got {
		lines = append(lines, fmt.Sprintf("%s n=%d lost=%d median=%s p95=%s max=%s", l.Endpoint, l.Count, l.NoAnswer, l.Median, l.P95, l.Max))
	}
	want := []string{
		"authorize n=1 lost=0 median=7ms p95=7ms max=7ms",
		// Median of 1..20 ms: (10+11)/2; p95 by nearest rank: the 19th of 20.
		"token n=20 lost=0 median=10.5ms p95=19ms max=20ms",
		"accounts n=3 lost=1 median=20ms p95=30ms max=30ms",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Latencies:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if l := Latencies(&Report{Bank: Bank{Endpoints: map[string]string{"token": "https://b/t"}},
		Scenarios: []ScenarioResult{{Exchanges: []Exchange{ex("https://b/t", time.Second, false)}}}}); len(l) != 1 || l[0].Median != 0 || l[0].NoAnswer != 1 {
		t.Errorf("an endpoint that never answered: %+v", l)
	}
}
