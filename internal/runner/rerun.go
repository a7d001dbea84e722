package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/stetconform/stetconform/internal/report"
)

// rerunFilter is the tag filter that runs again what failed or was inconclusive in an
// earlier report.json: every scenario tagged with one of those requirements. It selects by
// requirement ID rather than by scenario because a requirement's verdict comes from all
// its scenarios: rerunning only the one that failed could call the requirement passed
// while a sibling scenario, not run, would fail it. IDs are also stable across feature
// edits, where scenario IDs (file:line) move.
func rerunFilter(path string) (filter string, ids []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("--rerun-failed %s: %w", path, err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return "", nil, fmt.Errorf("--rerun-failed %s: not a stetconform report.json: %v", path, err)
	}
	if len(rep.Requirements) == 0 {
		return "", nil, fmt.Errorf("--rerun-failed %s: the report lists no requirement: is it a stetconform report.json?", path)
	}
	add := func(id string) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, r := range rep.Requirements {
		if r.Verdict == report.Failed || r.Verdict == report.Inconclusive {
			add(r.ID)
		}
	}
	// A scenario's failure may show only as a SHOULD's warning: its requirements too.
	for _, s := range rep.Scenarios {
		if s.Verdict == report.Failed || s.Verdict == report.Inconclusive {
			for _, id := range s.Requirements {
				add(id)
			}
		}
	}
	if len(ids) == 0 {
		return "", nil, errors.New("--rerun-failed " + path + ": nothing failed or was inconclusive in that run, so there is nothing to run again (" + string(rep.Summary.Outcome) + ")")
	}
	slices.Sort(ids)
	tags := make([]string, len(ids))
	for i, id := range ids {
		tags[i] = "@" + id
	}
	return strings.Join(tags, ","), ids, nil
}

// andTags joins two godog tag filters with "and". godog splits on "&&" before ",", so
// "@A,@B && @token" means (A or B) and token, with no parentheses needed.
func andTags(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " && " + b
}
