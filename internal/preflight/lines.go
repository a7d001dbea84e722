package preflight

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// locator finds the line of a profile field, so that a finding can point into the file.
// profile.Load keeps no lines once a profile is valid, so the file is read again.
type locator struct {
	file  string
	lines map[string]int // dotted field path -> line of its key
}

// newLocator reads the profile at path. Best effort: an unreadable file gives no lines.
func newLocator(path string) *locator {
	l := &locator{file: path, lines: map[string]int{}}
	if path == "" {
		return l
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return l
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return l
	}
	l.walk(doc.Content[0], "", false)
	return l
}

// walk records the line of every key under n. Keys brought in by a merge key (<<: *x)
// do not replace keys written in the mapping itself.
func (l *locator) walk(n *yaml.Node, path string, merged bool) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				l.walkMerge(v, path)
				continue
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if _, seen := l.lines[p]; !seen || !merged {
				l.lines[p] = k.Line
			}
			l.walk(v, p, merged)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if _, seen := l.lines[p]; !seen || !merged {
				l.lines[p] = item.Line
			}
			l.walk(item, p, merged)
		}
	}
}

func (l *locator) walkMerge(v *yaml.Node, path string) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, item := range v.Content {
			l.walk(item, path, true)
		}
		return
	}
	l.walk(v, path, true)
}

// at is "file:line" of field, or of its closest parent written in the file; "" when
// neither is known.
func (l *locator) at(field string) string {
	for f := field; f != ""; {
		if line, ok := l.lines[f]; ok {
			return fmt.Sprintf("%s:%d", l.file, line)
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return ""
}
