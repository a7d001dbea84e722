package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/report"
)

func TestCancelled(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	before, after := at.Add(-time.Minute), at.Add(-time.Second)
	scenarios := []report.ScenarioResult{
		{ID: "passed after", Verdict: report.Passed, Started: after, Duration: time.Minute},
		{ID: "failed before", Verdict: report.Failed, Reason: "200 on a replayed code", Started: before, Duration: time.Second},
		{ID: "failed after", Verdict: report.Failed, Reason: "Then ...: timeout", Started: after, Duration: time.Minute},
		{ID: "failed on the context", Verdict: report.Failed, Reason: "x", Started: before, Duration: time.Second,
			Steps: []report.StepResult{{Status: "failed", Error: "POST /token: context canceled"}}},
		{ID: "inconclusive after", Verdict: report.Inconclusive, Reason: "no answer", Started: after, Duration: time.Minute},
		{ID: "skipped after", Verdict: report.Skipped, Reason: "waiting for expiry", Started: after, Duration: time.Minute},
		{ID: "never started", Verdict: report.Skipped, Reason: "the scenario did not run"},
		{ID: "not applicable", Verdict: report.NotApplicable, Reason: "no revoke endpoint"},
	}
	cancelled(scenarios, at)
	want := map[string]report.Verdict{
		"passed after": report.Passed, "failed before": report.Failed, "failed after": report.Skipped,
		"failed on the context": report.Skipped, "inconclusive after": report.Skipped, "skipped after": report.Skipped,
		"never started": report.Skipped, "not applicable": report.NotApplicable,
	}
	for _, s := range scenarios {
		if s.Verdict != want[s.ID] {
			t.Errorf("%s: %s, want %s", s.ID, s.Verdict, want[s.ID])
		}
		cut := s.Reason == cancelledReason
		if cut != (want[s.ID] == report.Skipped) {
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
