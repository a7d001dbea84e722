package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stetconform/stetconform/internal/report"
)

func TestCancelled(t *testing.T) {
	scenarios := []report.ScenarioResult{
		{ID: "passed after", Verdict: report.Passed},
		{ID: "failed before", Verdict: report.Failed, Reason: "200 on a replayed code"},
		{ID: "failed after", Verdict: report.Failed, Reason: "Then ...: timeout"},
		{ID: "failed on the context", Verdict: report.Failed, Reason: "x",
			Steps: []report.StepResult{{Status: "failed", Error: "POST /token: context canceled"}}},
		{ID: "inconclusive after", Verdict: report.Inconclusive, Reason: "no answer"},
		{ID: "skipped before", Verdict: report.Skipped, Reason: "add clients.expired to the profile"},
		{ID: "skipped after", Verdict: report.Skipped, Reason: "the run was stopped while waiting"},
		{ID: "never ended", Verdict: report.Skipped, Reason: "the scenario did not run"},
		{ID: "not applicable", Verdict: report.NotApplicable, Reason: "no revoke endpoint"},
	}
	stopped := map[string]bool{
		"passed after": true, "failed before": false, "failed after": true, "failed on the context": false,
		"inconclusive after": true, "skipped before": false, "skipped after": true, "not applicable": true,
	}
	cancelled(scenarios, stopped)
	want := map[string]report.Verdict{
		"passed after": report.Passed, "failed before": report.Failed, "failed after": report.Skipped,
		"failed on the context": report.Skipped, "inconclusive after": report.Skipped, "skipped before": report.Skipped,
		"skipped after": report.Skipped, "never ended": report.Skipped, "not applicable": report.NotApplicable,
	}
	cut := map[string]bool{"failed after": true, "failed on the context": true, "inconclusive after": true, "skipped after": true, "never ended": true}
	for _, s := range scenarios {
		if s.Verdict != want[s.ID] {
			t.Errorf("%s: %s, want %s", s.ID, s.Verdict, want[s.ID])
		}
		if (s.Reason == cancelledReason) != cut[s.ID] {
			t.Errorf("%s: reason %q", s.ID, s.Reason)
		}
	}
	if n := scenarios[2].Notes; len(n) != 1 || !strings.Contains(n[0], "this scenario was failed: Then ...: timeout") {
		t.Errorf("what a cancelled scenario showed is not kept: %q", n)
	}
}

func TestRunStopsBeforeTheBankOnAnUnwritableOutputFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	_, err := Run(context.Background(), Options{OutDir: filepath.Join(file, "reports"), Console: &console})
	if ExitCode(err) != ExitCouldNotFinish || !strings.Contains(err.Error(), "the output folder "+filepath.Join(file, "reports")+" is not writable") {
		t.Fatalf("error %v (exit %d), want exit 3 naming the folder", err, ExitCode(err))
	}
	if strings.Contains(console.String(), "Pre-run checks") {
		t.Errorf("the bank was contacted before the folder was checked:\n%s", console.String())
	}
}

func TestRunRefusesTheManualDriverWithoutATerminal(t *testing.T) {
	saved := isTerminal
	isTerminal = func() bool { return false }
	t.Cleanup(func() { isTerminal = saved })
	_, err := Run(context.Background(), Options{OutDir: t.TempDir(), Console: &bytes.Buffer{}, PSUDriver: "manual"})
	if ExitCode(err) != ExitCouldNotFinish || !strings.Contains(err.Error(), "needs a person at a terminal") {
		t.Fatalf("error %v (exit %d), want exit 3", err, ExitCode(err))
	}
}

func TestRunInterruptedBeforeItsFirstScenario(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Options{OutDir: t.TempDir(), Console: &bytes.Buffer{}})
	if ExitCode(err) != ExitCouldNotFinish || res != nil {
		t.Fatalf("result %v, error %v (exit %d), want exit 3", res, err, ExitCode(err))
	}
}
