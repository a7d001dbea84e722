package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stetconform/stetconform/internal/report"
)

// editedProfile writes the embedded bank's profile, changed by edit, and returns its path.
func editedProfile(t *testing.T, e *embedded, edit func(doc map[string]any)) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.dir, "reference-bank.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	if data, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "edited.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A bank that names the CBPII scope piisp, as before STET 1.4.2: the CBPII checks ask for
// the scope the profile declares, and pass.
func TestCBPIIScopeNamedPIISP(t *testing.T) {
	e, err := startEmbedded(EmbeddedBank{PIISP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	path := editedProfile(t, e, func(doc map[string]any) {
		doc["scopes"].(map[string]any)["cbpii"] = "piisp"
	})
	// BEARER-01 is CBPII-03's positive control: an aisp token opens the accounts.
	res, err := Run(context.Background(), Options{Profile: path, Tags: "@cbpii,@BEARER-01", OutDir: t.TempDir(), Console: &bytes.Buffer{}, StateFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Report.Scenarios {
		if s.Verdict != report.Passed {
			t.Errorf("%s %q: %s (%s), want passed", s.ID, s.Name, s.Verdict, s.Reason)
		}
	}
	asked := false
	for _, s := range res.Report.Scenarios {
		for _, x := range s.Exchanges {
			asked = asked || strings.Contains(x.Request.URL, "scope=piisp")
		}
	}
	if !asked {
		t.Error("no authorization request asked for the scope piisp the profile declares")
	}
}

// A bank whose profile does not declare the cbpii role: every CBPII check, and the checks
// of the other requirements that are about the cbpii role (MTLS-11, AUTHZ-10, REFRESH-07
// across roles), is not applicable, never passed, and costs no PSU journey.
func TestBankWithoutTheCBPIIRole(t *testing.T) {
	e, err := startEmbedded(EmbeddedBank{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	aispOnly := editedProfile(t, e, func(doc map[string]any) {
		doc["roles"] = []string{"aisp"}
		delete(doc["clients"].(map[string]any), "without_cbpii_role")
	})
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
