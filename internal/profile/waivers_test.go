package profile

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// withWaivers is the template with a waivers section appended.
func withWaivers(t *testing.T, section string) string {
	t.Helper()
	data, err := os.ReadFile("../../fixtures/banks/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The template documents waivers commented out; a second section would be a duplicate key.
	return strings.TrimRight(string(data), "\n") + "\n" + section
}

func TestWaivers(t *testing.T) {
	text := withWaivers(t, `waivers:
  - requirement: MTLS-04
    reason: our QTSP issues no expired test QWAC
  - requirement: BEARER-04
    reason: "sandbox tokens live 24 h"
`)
	p, err := Decode([]byte(text), "bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := p.WaiverReasons()
	if len(got) != 2 || got["MTLS-04"] != "our QTSP issues no expired test QWAC" || got["BEARER-04"] != "sandbox tokens live 24 h" {
		t.Errorf("WaiverReasons() = %v", got)
	}
}

func TestWaiverErrors(t *testing.T) {
	section := `waivers:
  - requirement: MTLS-99
    reason: not a requirement
  - requirement: MTLS-04
  - requirement: MTLS-04
    reason: twice
  - reason: no requirement
  - requirement: MTLS-06
    reason: "  "
    reviewed_by: someone
`
	text := withWaivers(t, section)
	before := strings.Count(text, "\n") - strings.Count(section, "\n")
	_, err := Decode([]byte(text), "bank.yaml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Decode error = %v, want Errors", err)
	}
	tests := []struct{ field, want, lineOf string }{
		{"waivers[0].requirement", `"MTLS-99" is not a requirement ID of the catalogue`, "MTLS-99"},
		{"waivers[1].reason", "is required: why the bank accepts that MTLS-04 stays unchecked", "- requirement: MTLS-04"},
		{"waivers[2].requirement", "MTLS-04 is already waived by waivers[1]", "reason: twice"},
		{"waivers[3].requirement", "is required", "reason: no requirement"},
		{"waivers[4].reason", "is required", `reason: "  "`},
		{"waivers[4].reviewed_by", `unknown key "reviewed_by"`, "reviewed_by"},
	}
	for _, tt := range tests {
		e := find(t, errs, tt.field)
		if !strings.Contains(e.Msg, tt.want) {
			t.Errorf("%s: %q lacks %q", tt.field, e.Msg, tt.want)
		}
		// A line within one of the waiver's own: the key's, or the item's when the key is missing.
		if want := before + lineOfText(t, section, tt.lineOf); e.Line < want-1 || e.Line > want {
			t.Errorf("%s: line %d, want %d (%s)", tt.field, e.Line, want, tt.lineOf)
		}
		if !strings.HasPrefix(e.Error(), "bank.yaml:") {
			t.Errorf("%s: %q does not say the file and line", tt.field, e.Error())
		}
	}
}
