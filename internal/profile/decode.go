package profile

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads a bank profile: expands ${ENV_VAR} in values, decodes YAML rejecting unknown
// keys, resolves relative paths against the file's folder, applies defaults, validates,
// loads certificates/keys and the CA bundle. Every problem found is reported, as Errors.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot read the profile: " + pathErrText(err)}}
	}
	p, err := Parse(data, path, profileDir(path))
	if err != nil {
		return nil, err
	}
	p.Path = path
	return p, nil
}

// Parse is Load on bytes; baseDir resolves relative paths; name is used in error messages.
func Parse(data []byte, name, baseDir string) (*Profile, error) {
	c := newChecker(name, true)
	p := c.decode(data)
	if p == nil {
		return nil, c.result()
	}
	c.validate(p)
	c.checkWaivers(p)
	c.loadFiles(p, baseDir)
	p.Secrets = c.collectSecrets(p)
	if len(c.errs) > 0 {
		return nil, c.result()
	}
	p.lines = c.lines
	return p, nil
}

// Decode checks a profile's structure without touching the environment or the disk: YAML,
// unknown keys, types, required keys, enums and URLs, and applies defaults. ${VAR} values
// are kept as written (and URLs holding one are not checked); paths are not resolved and
// no certificate is loaded. It is for checking a template or a profile on another machine.
func Decode(data []byte, name string) (*Profile, error) {
	c := newChecker(name, false)
	p := c.decode(data)
	if p == nil {
		return nil, c.result()
	}
	c.validate(p)
	c.checkWaivers(p)
	p.Secrets = c.collectSecrets(p)
	if len(c.errs) > 0 {
		return nil, c.result()
	}
	return p, nil
}

// checker gathers the problems of one profile while it is decoded, validated and loaded.
type checker struct {
	file   string
	expand bool // expand ${VAR}; Decode does not
	lookup func(string) (string, bool)

	lines    map[string]int      // dotted field path -> line of its key
	values   map[int]string      // line of a mapping or list value -> its field
	fromEnv  map[int]bool        // lines holding a value expanded from ${...}: never echoed
	seen     map[*yaml.Node]bool // scalars already expanded (aliases share nodes)
	reported []string            // fields whose follow-up errors would only be noise
	secrets  []string
	errs     Errors
}

func newChecker(file string, expand bool) *checker {
	return &checker{
		file: file, expand: expand, lookup: os.LookupEnv,
		lines: map[string]int{}, values: map[int]string{}, fromEnv: map[int]bool{}, seen: map[*yaml.Node]bool{},
	}
}

// add records a problem at a known line.
func (c *checker) add(line int, field, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// addAt records a problem about a field, at the field's line (or its parent's when the
// field is absent), unless the field was already reported as unreadable.
func (c *checker) addAt(field, format string, args ...any) {
	if c.suppressed(field) {
		return
	}
	c.add(c.lineOf(field), field, format, args...)
}

// suppress silences later errors about field and what is under it: once a value is
// unreadable, "is required" or "is not a URL" about it would be noise.
func (c *checker) suppress(field string) { c.reported = append(c.reported, field) }

func (c *checker) suppressed(field string) bool {
	for _, r := range c.reported {
		if field == r || strings.HasPrefix(field, r+".") || strings.HasPrefix(field, r+"[") {
			return true
		}
	}
	return false
}

func (c *checker) lineOf(field string) int { return lineOf(c.lines, field) }

// lineOf is the line of a dotted field path, or of its nearest parent written in the file.
func lineOf(lines map[string]int, field string) int {
	for field != "" {
		if l, ok := lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// Where says where a field is written: "bank.yaml:31", the line of the field or of its
// nearest parent; "" when the profile was not read from a file.
func (p *Profile) Where(field string) string {
	if p.Path == "" {
		return ""
	}
	if l := lineOf(p.lines, field); l > 0 {
		return fmt.Sprintf("%s:%d", p.Path, l)
	}
	return ""
}

// show quotes a value for an error message, unless it came from the environment.
func (c *checker) show(field, v string) string {
	if c.fromEnv[c.lineOf(field)] {
		return "a value from the environment"
	}
	return strconv.Quote(v)
}

// result is the errors sorted by line (stable: same line keeps discovery order).
func (c *checker) result() Errors {
	es := slices.Clone(c.errs)
	slices.SortStableFunc(es, func(a, b *Error) int { return a.Line - b.Line })
	return es
}

var syntaxLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode reads the YAML into a node tree (for lines), checks keys and expands ${VAR}
// while walking it, then decodes the tree into a Profile. It returns nil when the text
// is not YAML at all.
func (c *checker) decode(data []byte) *Profile {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		if m := syntaxLineRe.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			c.add(line, "", "YAML syntax error: %s", m[2])
		} else {
			c.add(0, "", "YAML syntax error: %s", strings.TrimPrefix(msg, "yaml: "))
		}
		return nil
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].ShortTag() == "!!null") {
		c.add(0, "", "the profile is empty: expected a YAML mapping with name, endpoints, clients and psu")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		c.add(root.Line, "", "expected a YAML mapping at the top (name:, endpoints:, ...), found %s", nodeKind(root))
		return nil
	}
	c.walk(root, reflect.TypeFor[Profile](), "")

	var p Profile
	// Node.Decode has no KnownFields switch: walk already rejected unknown keys, with the
	// dotted path and a suggestion that KnownFields' message lacks.
	if err := root.Decode(&p); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				c.typeError(m)
			}
		} else {
			c.add(0, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	return &p
}

var durationType = reflect.TypeFor[time.Duration]()

// walk records the line of every key, rejects keys that the target type does not have,
// and expands ${VAR} in scalar values.
func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.ScalarNode && path != "" {
		if _, ok := c.values[n.Line]; !ok {
			c.values[n.Line] = path
		}
	}
	switch {
	case t == durationType:
		c.expandScalar(n, path)
		// Days, which Go's durations lack, for lifetimes banks state in days (90d, 180d).
		if d, ok := strings.CutSuffix(n.Value, "d"); ok {
			if days, err := strconv.Atoi(d); err == nil && days >= 0 {
				n.Value = strconv.Itoa(days*24) + "h"
			}
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // Decode reports the type mismatch
		}
		fields, names := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				c.walkMerge(v, t, path)
				continue
			}
			p := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				c.unknownKey(k, p, path, names)
				continue
			}
			c.lines[p] = k.Line
			c.walk(v, ft, p)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			c.lines[p] = k.Line
			c.walk(v, t.Elem(), p)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.lines[p] = item.Line
			c.walk(item, t.Elem(), p)
		}
	default:
		c.expandScalar(n, path)
	}
}

// walkMerge follows a YAML merge key (<<: *anchor), whose keys belong to the mapping.
func (c *checker) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, item := range v.Content {
			c.walk(item, t, path)
		}
		return
	}
	c.walk(v, t, path)
}

func (c *checker) unknownKey(k *yaml.Node, field, parent string, known []string) {
	if s := suggest(k.Value, known); s != "" {
		c.add(k.Line, field, "unknown key %q; did you mean %s?", k.Value, s)
		// The key was most likely meant as s: "s is required" would repeat this error.
		c.suppress(join(parent, s))
		return
	}
	c.add(k.Line, field, "unknown key %q; expected one of: %s", k.Value, strings.Join(known, ", "))
}

// yamlFields maps a struct's YAML keys to their types, and lists the keys in order.
func yamlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "something else"
}

// expandScalar replaces ${VAR} in a scalar value with the environment's value.
func (c *checker) expandScalar(n *yaml.Node, path string) {
	if !c.expand || n.Kind != yaml.ScalarNode || c.seen[n] || !strings.Contains(n.Value, "$") {
		return
	}
	c.seen[n] = true
	out, values, missing, err := expandVars(n.Value, c.lookup)
	if err != nil {
		c.add(n.Line, path, "%v", err)
		c.suppress(path)
		return
	}
	for _, name := range missing {
		c.add(n.Line, path, "${%s} is not set: set the environment variable %s", name, name)
	}
	if len(missing) > 0 {
		c.suppress(path)
		return
	}
	if out == n.Value {
		return
	}
	n.Value = out
	if len(values) > 0 {
		c.fromEnv[n.Line] = true
		c.secrets = append(c.secrets, values...)
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		// A plain value is resolved again like written text (30s, true), but it never
		// becomes null: an empty or "null" password stays a string.
		n.Tag = ""
		if isNullText(out) {
			n.Tag = "!!str"
		}
	}
}

func isNullText(s string) bool {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

// expandVars expands ${NAME} in s. "$$" followed by "{" writes a literal "${"; any other
// "$" is kept. It returns the expanded text, the values substituted, and the names of
// unset variables.
func expandVars(s string, lookup func(string) (string, bool)) (out string, values, missing []string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, nil, errors.New(`"${" without a closing "}": write ${NAME}, or $${ for a literal ${`)
			}
			name := s[i+2 : i+2+end]
			if !validVarName(name) {
				return "", nil, nil, fmt.Errorf("${%s}: expected an environment variable name (letters, digits, _)", name)
			}
			v, ok := lookup(name)
			if !ok {
				missing = append(missing, name)
			} else if v != "" {
				values = append(values, v)
			}
			b.WriteString(v)
			i += 3 + end
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), values, missing, nil
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		ok := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

var (
	typeErrLineRe = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	unmarshalRe   = regexp.MustCompile("(?s)^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// typeError turns one of yaml's "line N: cannot unmarshal ..." messages into an Error
// that says what was expected, without echoing a value from the environment.
func (c *checker) typeError(m string) {
	line := 0
	if sm := typeErrLineRe.FindStringSubmatch(m); sm != nil {
		line, _ = strconv.Atoi(sm[1])
		m = sm[2]
	}
	field := c.fieldAtLine(line)
	if field != "" {
		c.suppress(field)
	}
	um := unmarshalRe.FindStringSubmatch(m)
	if um == nil {
		if c.fromEnv[line] {
			m = "a value from the environment cannot be decoded here"
		}
		c.add(line, field, "%s", m)
		return
	}
	found := tagText(um[1])
	if um[2] != "" && !c.fromEnv[line] {
		found += " " + strconv.Quote(um[2])
	} else if c.fromEnv[line] {
		found += " from the environment"
	}
	c.add(line, field, "expected %s, found %s", typeText(um[3]), found)
}

// fieldAtLine is the deepest field whose key is on line, else the field whose mapping
// or list value starts there.
func (c *checker) fieldAtLine(line int) string {
	best := c.values[line]
	for f, l := range c.lines {
		if l == line && (len(f) > len(best) || (len(f) == len(best) && f < best)) {
			best = f
		}
	}
	return best
}

func tagText(tag string) string {
	switch tag {
	case "str":
		return "a text"
	case "int", "float":
		return "a number"
	case "bool":
		return "a boolean"
	case "null":
		return "nothing"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "timestamp":
		return "a date"
	}
	return "!!" + tag
}

func typeText(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 30s, 2m or 90d"
	case goType == "string":
		return "a text"
	case goType == "bool":
		return "true or false"
	case goType == "float64":
		return "a number"
	case strings.HasPrefix(goType, "map["):
		return "a mapping of names to values"
	case strings.HasPrefix(goType, "[]"), goType == "psu.Script":
		return "a list"
	case strings.HasPrefix(goType, "profile."), strings.HasPrefix(goType, "*profile."), goType == "psu.Step":
		return "a mapping of keys to values"
	}
	return goType
}

// suggest returns the known key that key was obviously meant to be, or "".
func suggest(key string, known []string) string {
	k := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	best, bestD := "", -1
	for _, name := range known {
		d := editDistance(k, name)
		if bestD < 0 || d < bestD {
			best, bestD = name, d
		}
	}
	if bestD >= 0 && bestD <= 2 && 2*bestD < len(best) {
		return best
	}
	for _, name := range known {
		// "cert" for certificate, "token_url" for token.
		if (len(k) >= 3 && strings.HasPrefix(name, k)) || (len(name) >= 4 && strings.HasPrefix(k, name)) {
			return name
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and swaps of two neighbours ("nmae") each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
