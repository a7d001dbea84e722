package features

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	gherkin "github.com/cucumber/gherkin/go/v26"
	messages "github.com/cucumber/messages/go/v21"
)

// Scenario is one runnable scenario (an outline gives one per example row), as written.
type Scenario struct {
	File    string   // feature file name, e.g. "token_exchange.feature"
	Feature string   // the feature's name
	Name    string   // the scenario's name, outline parameters filled in
	Line    int      // line of the scenario, or of the example row for an outline
	Tags    []string // with the feature's tags, e.g. "@token", "@TOKEN-01"
	Steps   []string // step texts, parameters filled in
}

// Requirements returns the requirement IDs among the scenario's tags.
func (s Scenario) Requirements() []string {
	var ids []string
	for _, t := range s.Tags {
		if id := RequirementID(t); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// Key identifies a scenario the same way whoever parsed it: file, name and steps.
func Key(file, name string, steps []string) string {
	return path.Base(file) + "\x00" + name + "\x00" + strings.Join(steps, "\x00")
}

// Scenarios returns every scenario of the feature files, in file name order. The files
// are embedded, so they are parsed once a process (a run asks for them twice, a fleet once
// a bank); each caller gets its own copy.
func Scenarios() ([]Scenario, error) {
	parsed.once.Do(func() { parsed.all, parsed.err = parseScenarios() })
	if parsed.err != nil {
		return nil, parsed.err
	}
	out := make([]Scenario, len(parsed.all))
	for i, s := range parsed.all {
		s.Tags, s.Steps = slices.Clone(s.Tags), slices.Clone(s.Steps)
		out[i] = s
	}
	return out, nil
}

var parsed struct {
	once sync.Once
	all  []Scenario
	err  error
}

// parseScenarios parses every feature file, in file name order.
func parseScenarios() ([]Scenario, error) {
	files, err := fs.Glob(FS, "*.feature")
	if err != nil {
		return nil, err
	}
	var out []Scenario
	for _, f := range files {
		data, err := FS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		n := 0
		newID := func() string { n++; return strconv.Itoa(n) }
		doc, err := gherkin.ParseGherkinDocument(bytes.NewReader(data), newID)
		if err != nil {
			return nil, fmt.Errorf("features/%s: %w", f, err)
		}
		if doc.Feature == nil {
			continue
		}
		lines := nodeLines(doc.Feature)
		for _, p := range gherkin.Pickles(*doc, f, newID) {
			s := Scenario{File: f, Feature: doc.Feature.Name, Name: p.Name}
			for _, id := range p.AstNodeIds {
				if l, ok := lines[id]; ok {
					s.Line = l // the last node wins: the example row of an outline
				}
			}
			for _, t := range p.Tags {
				s.Tags = append(s.Tags, t.Name)
			}
			for _, st := range p.Steps {
				s.Steps = append(s.Steps, st.Text)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// nodeLines maps the IDs of scenarios and example rows to their lines.
func nodeLines(f *messages.Feature) map[string]int {
	lines := map[string]int{}
	addScenario := func(sc *messages.Scenario) {
		if sc == nil {
			return
		}
		lines[sc.Id] = int(sc.Location.Line)
		for _, ex := range sc.Examples {
			for _, row := range ex.TableBody {
				lines[row.Id] = int(row.Location.Line)
			}
		}
	}
	for _, c := range f.Children {
		addScenario(c.Scenario)
		if c.Rule != nil {
			for _, rc := range c.Rule.Children {
				addScenario(rc.Scenario)
			}
		}
	}
	return lines
}

// runFirst are the features a run starts with: the journeys and code exchanges that leave
// codes and grants for the checks after them to share (the consent plan), and the checks
// that wait longest (an expired code, a refresh token's lifetime, both roles' expired
// access tokens), so that they wait while the others run. cbpii.feature comes before
// bearer_token.feature: its consent must begin before the AISP expiry check closes the
// TPP's gate, or the cbpii expiry check waits out the AISP one.
var runFirst = []string{"authorization.feature", "token_exchange.feature", "refresh_lifetime.feature", "client_certificate.feature", "cbpii.feature", "bearer_token.feature"}

// RunOrder lists every feature file in the order a run takes them: runFirst, then the
// others by name.
func RunOrder() ([]string, error) {
	files, err := fs.Glob(FS, "*.feature")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range runFirst {
		if slices.Contains(files, f) {
			out = append(out, f)
		}
	}
	for _, f := range files {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}
