// Package features holds the normative checks of the suite: one Gherkin feature per group of
// STET 3.4 steps, and requirements.yaml, the catalogue of requirement IDs they are tagged
// with. Both are embedded so that the stetconform binary carries them.
package features

import (
	"bytes"
	"embed"
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/stetconform/stetconform/internal/report"
)

// FS holds the feature files and the requirement catalogue.
//
//go:embed *.feature requirements.yaml
var FS embed.FS

// requirementTag matches the tags that name a requirement: @AUTHZ-01, @TOKEN-13, ...
var requirementTag = regexp.MustCompile(`^@?([A-Z]+-[0-9]{2})$`)

// RequirementID returns the requirement ID a tag names, or "" when the tag is not one.
func RequirementID(tag string) string {
	m := requirementTag.FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return m[1]
}

// Catalogue reads requirements.yaml.
func Catalogue() ([]report.Requirement, error) {
	data, err := FS.ReadFile("requirements.yaml")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Requirements []report.Requirement `yaml:"requirements"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("features/requirements.yaml: %w", err)
	}
	seen := map[string]bool{}
	for i, r := range doc.Requirements {
		switch {
		case RequirementID(r.ID) != r.ID:
			return nil, fmt.Errorf("features/requirements.yaml: entry %d: %q is not a requirement ID like TOKEN-01", i+1, r.ID)
		case seen[r.ID]:
			return nil, fmt.Errorf("features/requirements.yaml: %s is listed twice", r.ID)
		case r.Level != report.LevelMust && r.Level != report.LevelShould && r.Level != report.LevelBankOption:
			return nil, fmt.Errorf("features/requirements.yaml: %s: level %q is not MUST, SHOULD or BANK-OPTION", r.ID, r.Level)
		case r.Title == "" || r.Source == "":
			return nil, fmt.Errorf("features/requirements.yaml: %s needs a title and a source", r.ID)
		}
		seen[r.ID] = true
	}
	return doc.Requirements, nil
}
