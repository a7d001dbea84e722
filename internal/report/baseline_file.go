package report

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadBaseline reads a --baseline file: a YAML list of the known failures, each with the
// requirement's ID and why its failure is expected:
//
//	# baseline.yaml
//	- requirement: TOKEN-07
//	  reason: the code can be replayed once; fix planned in release 2.4 (JIRA-123)
//
// known holds the catalogue's IDs. Every problem is reported, each as "file:line: what",
// as the bank profile's errors are: an unknown ID, a duplicate, a missing reason, an
// unknown key.
func LoadBaseline(path string, known map[string]bool) (Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--baseline %s: %w", path, err)
	}
	return ParseBaseline(data, path, known)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseBaseline is LoadBaseline on text already read; name is the file's for messages.
func ParseBaseline(data []byte, name string, known map[string]bool) (Baseline, error) {
	var errs []string
	at := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: ", name, line)+fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			at(line, "YAML syntax error: %s", m[2])
		} else {
			errs = append(errs, fmt.Sprintf("%s: YAML syntax error: %s", name, strings.TrimPrefix(err.Error(), "yaml: ")))
		}
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	b := Baseline{}
	if len(doc.Content) == 0 {
		return b, nil // an empty file: no known failure
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		at(root.Line, "expected a list of known failures (- requirement: ID\\n  reason: why), found %s", baselineKind(root))
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	where := map[string]int{}
	for i, item := range root.Content {
		field := "[" + strconv.Itoa(i) + "]"
		if item.Kind != yaml.MappingNode {
			at(item.Line, "%s: expected requirement: and reason:, found %s", field, baselineKind(item))
			continue
		}
		var id, reason string
		idLine := item.Line
		for k := 0; k+1 < len(item.Content); k += 2 {
			key, val := item.Content[k], item.Content[k+1]
			switch key.Value {
			case "requirement":
				id, idLine = strings.TrimSpace(val.Value), val.Line
			case "reason":
				reason = strings.TrimSpace(val.Value)
			default:
				at(key.Line, "%s.%s: unknown key %q; expected requirement and reason", field, key.Value, key.Value)
			}
		}
		switch {
		case id == "":
			at(item.Line, "%s.requirement: is required: the ID of the requirement expected to fail, e.g. TOKEN-07", field)
		case len(known) > 0 && !known[id]:
			at(idLine, "%s.requirement: %q is not a requirement ID of the catalogue (features/requirements.yaml)", field, id)
		case where[id] > 0:
			at(idLine, "%s.requirement: %s is already listed at line %d", field, id, where[id])
		default:
			where[id] = idLine
		}
		if reason == "" {
			at(item.Line, "%s.reason: is required: why %s is expected to fail (a ticket, a planned fix); every report shows it", field, id)
		}
		if id != "" {
			b[id] = reason
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return b, nil
}

func baselineKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("the value %q", n.Value)
}
