package profile

import (
	"fmt"
	"strings"
)

// Error is a problem in a profile, with where it is.
type Error struct {
	File  string // the profile's name or path ("" when unknown)
	Line  int    // 1-based line in the file (0 when unknown)
	Field string // dotted path of the key, e.g. "clients.primary.certificate"
	Msg   string
}

// Error formats as "bank.yaml:15: clients.primary.certificate: msg", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors collects every problem found in a profile: validation reports all of them, not
// just the first.
type Errors []*Error

// Error lists the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
