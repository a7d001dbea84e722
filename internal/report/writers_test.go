package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const hostile = `<script>alert("x")</script> & "quotes" ` + "\x00\x1b[2J"

// sampleReport has one passed, one failed, one warning, one skipped and one not applicable
// scenario over two features, hostile text from the bank, and a long body.
func sampleReport() *Report {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tokenReq := Exchange{
		Actor: "TPP primary", ClientCert: "PSDFR-ACPR-12345", TLSVersion: "TLS 1.3",
		Request: Message{Method: "POST", URL: "https://bank.example/token",
			Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body:   "grant_type=authorization_code&code=[redacted:aaaaaa]"},
		Response: &Message{Status: 400, Header: map[string][]string{"Content-Type": {"application/json"}},
			Body: `{"error":"invalid_request","error_description":"` + strings.ReplaceAll(hostile, "\"", "'") + `"}`},
		Started: start, Duration: 12 * time.Millisecond,
	}
	big := Exchange{
		Actor: "TPP primary",
		Request: Message{Method: "GET", URL: "https://bank.example/accounts",
			Header: map[string][]string{"Authorization": {"Bearer [redacted:bbbbbb]"}}},
		Response: &Message{Status: 200, Body: strings.Repeat("A", 20000), Truncated: true},
		Started:  start, Duration: time.Second,
	}
	failedEx := Exchange{
		Actor: "no certificate", Request: Message{Method: "POST", URL: "https://bank.example/token"},
		Error: "TLS handshake failed: remote error: tls: certificate required", Started: start,
	}
	rep := &Report{
		Tool:      Tool{Name: "stetconform", Version: "v0.1.0"},
		Bank:      Bank{Name: "Bank " + hostile, Profile: "fixtures/bank.yaml", Endpoints: map[string]string{"token": "https://bank.example/token"}, Options: map[string]string{"pkce": "true"}},
		Started:   start,
		Finished:  start.Add(42 * time.Second),
		TagFilter: "~@browser",
		Notices:   []string{"server certificate verification disabled " + hostile},
		Scenarios: []ScenarioResult{
			{ID: "token.feature:5", Feature: "Token", Name: "Code exchange without scope", URI: "features/token.feature", Line: 5,
				Requirements: []string{"TOKEN-01"}, Tags: []string{"@TOKEN-01"}, Verdict: Passed, Duration: time.Second,
				Steps:     []StepResult{{Keyword: "Given ", Text: "an authorization code", Status: "passed", Exchanges: []int{0}}},
				Exchanges: []Exchange{big}},
			{ID: "token.feature:12", Feature: "Token", Name: "Wrong client certificate", URI: "features/token.feature", Line: 12,
				Requirements: []string{"MTLS-02", "TOKEN-01"}, Verdict: Failed, Reason: "bank answered 400, want 401 " + hostile, Duration: 2 * time.Second,
				Steps: []StepResult{
					{Keyword: "Given ", Text: "a code", Status: "passed", Exchanges: []int{0}},
					{Keyword: "When ", Text: "the TPP exchanges it with the second certificate", Status: "failed", Error: "expected 401, got 400 " + hostile, Exchanges: []int{1}},
					{Keyword: "Then ", Text: "the bank refuses", Status: "skipped"},
				},
				Exchanges: []Exchange{big, tokenReq}},
			{ID: "bearer.feature:3", Feature: "Bearer", Name: "Lower-case scheme", Requirements: []string{"BEARER-04"}, Verdict: Warning, Warnings: []string{"scheme case not accepted"}},
			{ID: "bearer.feature:9", Feature: "Bearer", Name: "Expired token", Requirements: []string{"BEARER-05"}, Verdict: Skipped, Reason: "token lifetime 3600 s exceeds max_wait 120 s"},
			{ID: "bearer.feature:20", Feature: "Bearer", Name: "No certificate", Requirements: []string{"MTLS-01"}, Verdict: NotApplicable, Reason: "bank option off",
				Exchanges: []Exchange{failedEx}},
		},
	}
	cat := []Requirement{
		{ID: "TOKEN-01", Level: LevelMust, Title: "No scope at /token", Source: "STET 3.4.3"},
		{ID: "MTLS-02", Level: LevelMust, Title: "client_id matches QWAC", Source: "RFC 8705 §2"},
		{ID: "BEARER-04", Level: LevelShould, Title: "Case-insensitive scheme", Source: "RFC 7235"},
		{ID: "BEARER-05", Level: LevelMust, Title: "401 invalid_token", Source: "RFC 6750 §3.1"},
		{ID: "MTLS-01", Level: LevelBankOption, Title: "mTLS", Source: "RFC 8705"},
		{ID: "REFRESH-09", Level: LevelMust, Title: "Not yet", NotCovered: "needs 90 days " + hostile},
	}
	rep.Requirements = Aggregate(cat, rep.Scenarios)
	Summarize(rep)
	return rep
}

func TestWriteJSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "\n  \"tool\"") {
		t.Error("JSON is not indented")
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary.Requirements[Failed] != rep.Summary.Requirements[Failed] || len(back.Scenarios) != 5 {
		t.Errorf("report did not survive the round trip: %+v", back.Summary)
	}
}

type parsedSuites struct {
	Name     string `xml:"name,attr"`
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestWriteJUnitParsesBack(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var got parsedSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, buf.String())
	}
	if got.Name != "stetconform" {
		t.Errorf("testsuites name %q", got.Name)
	}
	var names []string
	for _, s := range got.Suites {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "Token,Bearer,requirements" {
		t.Fatalf("suites %v, want Token,Bearer,requirements", names)
	}
	// Scenarios: 1 failed, 2 skipped (skipped + not applicable). Requirements: TOKEN-01 and
	// MTLS-02 failed; BEARER-05 skipped, MTLS-01 not applicable, REFRESH-09 not tested.
	if got.Tests != 5+6 || got.Failures != 1+2 || got.Skipped != 2+3 {
		t.Errorf("totals tests=%d failures=%d skipped=%d, want 11, 3, 5", got.Tests, got.Failures, got.Skipped)
	}
	failed := got.Suites[0].Cases[1]
	if failed.Name != "Wrong client certificate [MTLS-02, TOKEN-01]" || failed.Classname != "Token" {
		t.Errorf("failed case %q / %q", failed.Classname, failed.Name)
	}
	if failed.Failure == nil {
		t.Fatal("failed scenario has no <failure>")
	}
	for _, want := range []string{"the TPP exchanges it with the second certificate", "expected 401, got 400", "POST https://bank.example/token -> 400", "<script>"} {
		if !strings.Contains(failed.Failure.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, failed.Failure.Text)
		}
	}
	if !strings.Contains(failed.Failure.Message, "want 401") {
		t.Errorf("failure message %q", failed.Failure.Message)
	}
	warn := got.Suites[1].Cases[0]
	if warn.Failure != nil || warn.Skipped != nil || !strings.Contains(warn.SystemOut, "scheme case") {
		t.Errorf("warning scenario should pass with system-out: %+v", warn)
	}
	reqs := got.Suites[2]
	byID := map[string]int{}
	for i, c := range reqs.Cases {
		byID[strings.Fields(c.Name)[0]] = i
	}
	if c := reqs.Cases[byID["BEARER-04"]]; c.Failure != nil || !strings.Contains(c.SystemOut, "scheme") {
		t.Errorf("SHOULD requirement with a warning: %+v", c)
	}
	if c := reqs.Cases[byID["REFRESH-09"]]; c.Skipped == nil || !strings.Contains(c.Skipped.Message, "not tested: needs 90 days") {
		t.Errorf("not tested requirement: %+v", c)
	}
	if strings.Contains(buf.String(), "\x00") || strings.Contains(buf.String(), "\x1b") {
		t.Error("control characters reached the XML")
	}
}

func TestWriteHTML(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	// No external asset: every URL in the page is one of the bank's, from the report data.
	for _, m := range regexp.MustCompile(`https?://[^\s"'<>]*`).FindAllString(page, -1) {
		if !strings.HasPrefix(m, "https://bank.example/") {
			t.Errorf("page refers to %q, which is not from the report data", m)
		}
	}
	for _, attr := range []string{`src=`, `<link`, `@import`, `url(`} {
		if strings.Contains(page, attr) {
			t.Errorf("page contains %q: it must be self-contained", attr)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("bank-supplied <script> was not escaped")
	}
	if !strings.Contains(page, "&lt;script&gt;alert") {
		t.Error("escaped script text missing: the bank's reason should still be readable")
	}
	for _, want := range []string{
		"NOT COMPLIANT", "TOKEN-01", "Wrong client certificate", "expected 401, got 400",
		"TLS handshake failed: remote error: tls: certificate required", "PSDFR-ACPR-12345", "TLS 1.3",
		"Bearer [redacted:bbbbbb]", "the first 8 KiB of 20000 bytes", "longer than what the suite records",
		"server certificate verification disabled", "fixtures/bank.yaml", "v0.1.0", "~@browser",
		`class="badge v-failed"`, `class="badge v-not_tested"`, `href="#s2"`, `id="s2"`, `id="f2"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, strings.Repeat("A", htmlBodyLimit+1)) {
		t.Error("a long body was not shortened")
	}
	if i, j := strings.Index(page, "<h2>Failures and inconclusive checks</h2>"), strings.Index(page, "<h2>Scenarios</h2>"); i < 0 || j < i {
		t.Error("failures should come before the scenarios")
	}
}

func TestWriteHTMLCompliant(t *testing.T) {
	rep := &Report{
		Requirements: []RequirementResult{{Requirement: Requirement{ID: "A"}, Verdict: Passed}},
		Scenarios:    []ScenarioResult{{ID: "x", Feature: "F", Name: "n", Verdict: Passed}},
	}
	Summarize(rep)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ">COMPLIANT<") || strings.Contains(buf.String(), "NOT COMPLIANT") {
		t.Error("a passing report should read COMPLIANT")
	}
}

func TestWriteConsoleSummary(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	WriteConsoleSummary(&buf, rep, false)
	out := buf.String()
	for _, want := range []string{`FAILED +TOKEN-01`, `FAILED +MTLS-02`, `WARNING +BEARER-04`, `SKIPPED +BEARER-05`,
		`\nNOT COMPLIANT: 2 of the 3 selected requirements failed: TOKEN-01, MTLS-02\n`, "2 failed", "NOTICE"} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("summary lacks /%s/:\n%s", want, out)
		}
	}
	if strings.Contains(out, "MTLS-01") || strings.Contains(out, "REFRESH-09") {
		t.Errorf("only failed, warning and skipped requirements get a line:\n%s", out)
	}
	if strings.ContainsAny(out, "\x00\x1b") {
		t.Error("control characters from the bank reached the terminal")
	}
	buf.Reset()
	WriteConsoleSummary(&buf, rep, true)
	if !strings.Contains(buf.String(), "\x1b[31m") {
		t.Error("no colour with color=true")
	}
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "run")
	cucumber := []byte(`[{"name":"x"}]`)
	if err := WriteAll(dir, sampleReport(), cucumber); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.json", "junit.xml", "report.html", "cucumber.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(data) == 0 {
			t.Errorf("%s: %v (%d bytes)", name, err, len(data))
		}
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "cucumber.json")); !bytes.Equal(data, cucumber) {
		t.Errorf("cucumber.json = %q", data)
	}

	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o644)
	err := WriteAll(filepath.Join(blocked, "sub"), sampleReport(), nil)
	if err == nil || !strings.Contains(err.Error(), blocked) {
		t.Errorf("error %v should name the path", err)
	}
}

func TestWritersRejectNil(t *testing.T) {
	var buf bytes.Buffer
	for name, err := range map[string]error{
		"json": WriteJSON(&buf, nil), "junit": WriteJUnit(&buf, nil), "html": WriteHTML(&buf, nil),
	} {
		if err == nil {
			t.Errorf("%s: no error for a nil report", name)
		}
	}
}
