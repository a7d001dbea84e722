package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain keeps the tests' state files out of the user's ~/.local/state: a run with a
// bank profile and no --state keeps its tokens in $XDG_STATE_HOME.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stetconform-runner-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestCheckTags(t *testing.T) {
	for _, ok := range []string{"", "@token", "~@expiry", "@mtls && ~@expiry", "@AUTHZ-01,@AUTHZ-02", "@a,@b && ~@c", "@control:code-exchange", " @token "} {
		if err := checkTags(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for expr, want := range map[string]string{
		"@token &&":   "term 1 of the 2nd &&-part is empty",
		"@a,":         "term 2 of the 1st &&-part is empty",
		",":           "is empty",
		"((":          "no parentheses",
		"not @a":      `"not @a": write ~@tag for not`,
		"!@a":         "write ~@tag for not",
		"@a and @b":   "write && for and",
		"@a || @b":    "write && for and, a comma for or",
		"token":       `"token" is not a tag: tags start with @, as in @token`,
		"@":           `"@" is not one tag`,
		"@a @b":       `"@a @b" is not one tag`,
		"@a && ~":     `"~" is not a tag`,
		"(@a,@b)&&@c": "no parentheses",
	} {
		err := checkTags(expr)
		if ExitCode(err) != ExitSetupError || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "godog's syntax") {
			t.Errorf("%q: %v (exit %d), want exit 2 with %q", expr, err, ExitCode(err), want)
		}
	}
}

// TestRunRefusesBadArgumentsBeforeTheBank: a tag syntax error, a concurrency below 1, and
// pretty with parallel scenarios stop the run with exit 2 before the bank starts.
func TestRunRefusesBadArgumentsBeforeTheBank(t *testing.T) {
	for name, opts := range map[string]Options{
		"dangling &&":              {Tags: "@token &&"},
		"negative concurrency":     {Concurrency: -1},
		"pretty with concurrency":  {Format: "pretty", Concurrency: 4},
		"rerun of a missing file":  {RerunFailed: filepath.Join(t.TempDir(), "missing.json")},
		"baseline with a bad line": {Baseline: writeFile(t, "b.yaml", "- requirement: NOPE-1\n  reason: x\n")},
	} {
		var console bytes.Buffer
		opts.OutDir, opts.Console = t.TempDir(), &console
		_, err := Run(context.Background(), opts)
		if ExitCode(err) != ExitSetupError {
			t.Errorf("%s: %v (exit %d), want 2", name, err, ExitCode(err))
		}
		if strings.Contains(console.String(), "embedded reference bank") {
			t.Errorf("%s: the bank was started:\n%s", name, console.String())
		}
	}
	_, err := Run(context.Background(), Options{Baseline: writeFile(t, "b.yaml", "- requirement: NOPE-1\n  reason: x\n"), OutDir: t.TempDir(), Console: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "b.yaml:1: [0].requirement: \"NOPE-1\" is not a requirement ID") {
		t.Errorf("baseline error: %v", err)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHideStepDefinitions(t *testing.T) {
	var out bytes.Buffer
	w := hideStepDefinitions(&out)
	in := "Feature: Token\n  Scenario: code exchange                 # features/token.feature:12\n" +
		"    Given the PSU approved   # world.go:80 -> *World\n" +
		"    When the TPP exchanges \x1b[1;30m# register.go:80 -> github.com/x/steps.(*World).exchange\x1b[0m\n" +
		"    Then the bank answers 200 # steps.go:12 -> *World"
	for _, chunk := range []string{in[:40], in[40:100], in[100:]} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.(interface{ Flush() error }).Flush(); err != nil {
		t.Fatal(err)
	}
	want := "Feature: Token\n  Scenario: code exchange                 # features/token.feature:12\n" +
		"    Given the PSU approved\n    When the TPP exchanges\n    Then the bank answers 200"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestRerunFilter(t *testing.T) {
	rep := `{"summary":{"outcome":"NOT COMPLIANT"},"requirements":[
		{"id":"AUTHZ-01","verdict":"passed"},{"id":"TOKEN-07","verdict":"failed"},
		{"id":"BEARER-04","verdict":"inconclusive"},{"id":"MTLS-04","verdict":"skipped"},{"id":"BEARER-09","verdict":"warning"}],
		"scenarios":[{"id":"b.feature:3","verdict":"failed","requirements":["BEARER-09"]},{"id":"a.feature:1","verdict":"passed","requirements":["AUTHZ-01"]}]}`
	filter, ids, err := rerunFilter(writeFile(t, "report.json", rep))
	if err != nil || filter != "@BEARER-04,@BEARER-09,@TOKEN-07" || len(ids) != 3 {
		t.Errorf("filter %q, ids %v, err %v", filter, ids, err)
	}
	if err := checkTags(andTags(filter, "~@expiry")); err != nil {
		t.Errorf("combined filter: %v", err)
	}
	if got := andTags(filter, "~@expiry"); got != "@BEARER-04,@BEARER-09,@TOKEN-07 && ~@expiry" {
		t.Errorf("andTags: %q", got)
	}
	green := `{"summary":{"outcome":"COMPLIANT"},"requirements":[{"id":"AUTHZ-01","verdict":"passed"}]}`
	if _, _, err := rerunFilter(writeFile(t, "report.json", green)); err == nil || !strings.Contains(err.Error(), "nothing to run again (COMPLIANT)") {
		t.Errorf("green report: %v", err)
	}
	if _, _, err := rerunFilter(writeFile(t, "report.json", "<html>")); err == nil || !strings.Contains(err.Error(), "not a stetconform report.json") {
		t.Errorf("not json: %v", err)
	}
}
