package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stetconform/stetconform/internal/report"
)

// A bank whose profile does not declare the cbpii role: every CBPII check, and the checks
// of the other requirements that are about the cbpii role (MTLS-11, AUTHZ-10, REFRESH-07
// across roles), is not applicable, never passed, and costs no PSU journey.
func TestBankWithoutTheCBPIIRole(t *testing.T) {
	e, err := startEmbedded(EmbeddedBank{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	path := filepath.Join(e.dir, "reference-bank.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["roles"] = []string{"aisp"}
	delete(doc["clients"].(map[string]any), "without_cbpii_role")
	if data, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	aispOnly := filepath.Join(e.dir, "aisp-only.yaml")
	if err := os.WriteFile(aispOnly, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Profile: aispOnly, Tags: "@cbpii", OutDir: t.TempDir(), Console: &bytes.Buffer{}, StateFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	t.Logf("%d scenarios, journeys %+v", len(rep.Scenarios), rep.Journeys)
	if len(rep.Scenarios) == 0 {
		t.Fatal("no scenario of cbpii.feature ran")
	}
	for _, s := range rep.Scenarios {
		if s.Verdict != report.NotApplicable {
			t.Errorf("%s %q: %s (%s), want not applicable", s.ID, s.Name, s.Verdict, s.Reason)
		}
	}
	for _, r := range rep.Requirements {
		if slices.Contains([]string{"CBPII-01", "CBPII-02", "CBPII-03", "MTLS-11", "AUTHZ-10", "REFRESH-07"}, r.ID) && r.Verdict != report.NotApplicable {
			t.Errorf("%s: %s (%s), want not applicable", r.ID, r.Verdict, r.Reason)
		}
	}
	if j := rep.Journeys; j != nil && (j.Planned != 0 || j.Made != 0) {
		t.Errorf("journeys planned %d, made %d; want none for checks that do not apply", j.Planned, j.Made)
	}
}
