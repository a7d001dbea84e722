package runner

import (
	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/features"
)

// index finds the feature and line of a scenario godog is running, so that reports name
// scenarios by file and line.
type index map[string]features.Scenario

func newIndex() (index, error) {
	all, err := features.Scenarios()
	if err != nil {
		return nil, err
	}
	idx := index{}
	for _, s := range all {
		idx[features.Key(s.File, s.Name, s.Steps)] = s
	}
	return idx, nil
}

func (idx index) locate(sc *godog.Scenario) (string, int) {
	texts := make([]string, len(sc.Steps))
	for i, st := range sc.Steps {
		texts[i] = st.Text
	}
	s := idx[features.Key(sc.Uri, sc.Name, texts)]
	return s.Feature, s.Line
}
