package psu

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// Selector is a CSS selector of the subset the form driver understands. The subset:
//
//	tag                  input, button, form (case-insensitive); * for any element
//	#id                  the element with this id
//	.class               an element with this class
//	[attr]               an element with this attribute
//	[attr=value]         value an identifier (psu_id, accept); otherwise quote it:
//	[attr="value"]       [attr='value'] (a backslash escapes the next character)
//	compounds            button.primary[value=accept]
//	descendants          form#login input[type=password] (whitespace between compounds)
//
// Anything else (the combinators > + ~, pseudo-classes, attribute operators such as ^=,
// selector lists with commas, escapes in identifiers) is rejected with an error naming
// the selector. The browser driver gives selectors to Chromium, which knows all of CSS;
// a script meant for both drivers stays within this subset.
type Selector struct {
	src   string
	parts []compound // left to right; each is a descendant of the one before
}

type compound struct {
	tag     string // lower case; "" for any
	id      string
	classes []string
	attrs   []attrTest
}

type attrTest struct {
	name     string // lower case
	value    string
	hasValue bool
}

// String returns the selector as written.
func (s *Selector) String() string { return s.src }

// ParseSelector parses a selector of the supported subset.
func ParseSelector(src string) (*Selector, error) {
	p := &selParser{src: src, s: strings.TrimSpace(src)}
	if p.s == "" {
		return nil, fmt.Errorf("selector %q: empty", src)
	}
	sel := &Selector{src: src}
	for {
		c, err := p.compound()
		if err != nil {
			return nil, fmt.Errorf("selector %q: %v", src, err)
		}
		sel.parts = append(sel.parts, c)
		if p.done() {
			return sel, nil
		}
		// Only whitespace may separate compounds: the descendant combinator.
		if !p.skipSpace() {
			return nil, fmt.Errorf("selector %q: %v", src, p.unexpected())
		}
		if p.done() {
			return sel, nil
		}
		if r := p.peek(); r == '>' || r == '+' || r == '~' {
			return nil, fmt.Errorf("selector %q: the combinator %q is not supported (only the descendant combinator, a space, is)", src, r)
		}
	}
}

type selParser struct {
	src string // as given, for messages
	s   string
	i   int
}

func (p *selParser) done() bool { return p.i >= len(p.s) }

func (p *selParser) peek() rune {
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return r
}

func (p *selParser) skipSpace() bool {
	start := p.i
	for !p.done() && isSpace(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }

func (p *selParser) unexpected() error {
	r := p.peek()
	switch r {
	case ':':
		return fmt.Errorf("pseudo-classes such as %q are not supported", p.s[p.i:])
	case ',':
		return fmt.Errorf("selector lists (a comma) are not supported: give one selector")
	case '>', '+', '~':
		return fmt.Errorf("the combinator %q is not supported (only the descendant combinator, a space, is)", r)
	case '\\':
		return fmt.Errorf("escapes in names are not supported")
	}
	return fmt.Errorf("unexpected %q at offset %d", r, p.i)
}

func (p *selParser) compound() (compound, error) {
	var c compound
	start := p.i
	if p.peek() == '*' {
		p.i++
	} else if isNameStart(p.peek()) {
		c.tag = strings.ToLower(p.ident())
	}
	for !p.done() {
		switch p.peek() {
		case '#':
			p.i++
			name := p.ident()
			if name == "" {
				return c, fmt.Errorf("expected an id after '#' at offset %d", p.i)
			}
			c.id = name
		case '.':
			p.i++
			name := p.ident()
			if name == "" {
				return c, fmt.Errorf("expected a class name after '.' at offset %d", p.i)
			}
			c.classes = append(c.classes, name)
		case '[':
			a, err := p.attr()
			if err != nil {
				return c, err
			}
			c.attrs = append(c.attrs, a)
		default:
			if p.i == start {
				return c, p.unexpected()
			}
			if isSpace(p.s[p.i]) {
				return c, nil
			}
			return c, p.unexpected()
		}
	}
	return c, nil
}

func isNameStart(r rune) bool {
	return r == '_' || r == '-' || r >= 0x80 || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
}

func isNameChar(r rune) bool { return isNameStart(r) || ('0' <= r && r <= '9') }

// ident reads a CSS identifier (without escapes); "" when none starts here.
func (p *selParser) ident() string {
	start := p.i
	if p.done() || !isNameStart(p.peek()) {
		return ""
	}
	// "-" followed by a digit does not start an identifier.
	if p.s[p.i] == '-' && p.i+1 < len(p.s) && '0' <= p.s[p.i+1] && p.s[p.i+1] <= '9' {
		return ""
	}
	for !p.done() {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !isNameChar(r) {
			break
		}
		p.i += n
	}
	return p.s[start:p.i]
}

func (p *selParser) attr() (attrTest, error) {
	var a attrTest
	p.i++ // [
	p.skipSpace()
	a.name = strings.ToLower(p.ident())
	if a.name == "" {
		return a, fmt.Errorf("expected an attribute name after '[' at offset %d", p.i)
	}
	p.skipSpace()
	if p.done() {
		return a, fmt.Errorf("missing ']'")
	}
	switch c := p.s[p.i]; {
	case c == ']':
		p.i++
		return a, nil
	case c == '=':
		p.i++
	case strings.ContainsRune("~|^$*", rune(c)) && p.i+1 < len(p.s) && p.s[p.i+1] == '=':
		return a, fmt.Errorf("the attribute operator %q is not supported (only = is)", p.s[p.i:p.i+2])
	default:
		return a, p.unexpected()
	}
	p.skipSpace()
	a.hasValue = true
	if p.done() {
		return a, fmt.Errorf("missing value and ']'")
	}
	if q := p.s[p.i]; q == '"' || q == '\'' {
		p.i++
		var b strings.Builder
		for {
			if p.done() {
				return a, fmt.Errorf("unterminated quoted value")
			}
			c := p.s[p.i]
			p.i++
			if c == q {
				break
			}
			if c == '\\' && !p.done() {
				c = p.s[p.i]
				p.i++
			}
			b.WriteByte(c)
		}
		a.value = b.String()
	} else {
		start := p.i
		a.value = p.ident()
		if a.value == "" {
			end := start
			for end < len(p.s) && p.s[end] != ']' && !isSpace(p.s[end]) {
				end++
			}
			return a, fmt.Errorf("the unquoted value %q is not an identifier: quote it, [%s=%q]", p.s[start:end], a.name, p.s[start:end])
		}
	}
	p.skipSpace()
	if p.done() || p.s[p.i] != ']' {
		return a, fmt.Errorf("expected ']' after the value of [%s] at offset %d", a.name, p.i)
	}
	p.i++
	return a, nil
}

// Matches reports whether the element n matches the selector.
func (s *Selector) Matches(n *html.Node) bool {
	last := len(s.parts) - 1
	if !s.parts[last].matches(n) {
		return false
	}
	// Descendant combinators only: matching each compound on the nearest ancestor that
	// matches it is enough, no backtracking is needed.
	i := last - 1
	for a := n.Parent; a != nil && i >= 0; a = a.Parent {
		if s.parts[i].matches(a) {
			i--
		}
	}
	return i < 0
}

// First returns the first element under root, in document order, that matches.
func (s *Selector) First(root *html.Node) *html.Node {
	var found *html.Node
	walkElements(root, func(n *html.Node) bool {
		if s.Matches(n) {
			found = n
			return false
		}
		return true
	})
	return found
}

// All returns every element under root that matches, in document order.
func (s *Selector) All(root *html.Node) []*html.Node {
	var all []*html.Node
	walkElements(root, func(n *html.Node) bool {
		if s.Matches(n) {
			all = append(all, n)
		}
		return true
	})
	return all
}

func (c *compound) matches(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	if c.tag != "" && n.Data != c.tag {
		return false
	}
	if c.id != "" {
		if v, ok := attr(n, "id"); !ok || v != c.id {
			return false
		}
	}
	if len(c.classes) > 0 {
		v, _ := attr(n, "class")
		have := strings.Fields(v)
		for _, want := range c.classes {
			if !contains(have, want) {
				return false
			}
		}
	}
	for _, a := range c.attrs {
		v, ok := attr(n, a.name)
		if !ok {
			return false
		}
		if !a.hasValue {
			continue
		}
		// HTML compares the values of a few enumerated attributes without case.
		if caseInsensitiveAttrs[a.name] {
			if !strings.EqualFold(v, a.value) {
				return false
			}
		} else if v != a.value {
			return false
		}
	}
	return true
}

var caseInsensitiveAttrs = map[string]bool{"type": true, "method": true, "enctype": true}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// walkElements visits the elements under root in document order until visit says stop.
func walkElements(root *html.Node, visit func(*html.Node) bool) bool {
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && !visit(c) {
			return false
		}
		if !walkElements(c, visit) {
			return false
		}
	}
	return true
}

// attr returns the value of an attribute of n (names are lower case after parsing).
func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func setAttr(n *html.Node, name, val string) {
	for i, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			n.Attr[i].Val = val
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: name, Val: val})
}

func removeAttr(n *html.Node, name string) {
	out := n.Attr[:0]
	for _, a := range n.Attr {
		if a.Namespace != "" || a.Key != name {
			out = append(out, a)
		}
	}
	n.Attr = out
}

func hasAttr(n *html.Node, name string) bool {
	_, ok := attr(n, name)
	return ok
}

// textContent is the text under n, as the DOM's textContent.
func textContent(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				b.WriteString(c.Data)
			}
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// describeElement names an element for an error: <button name=action value=accept>.
func describeElement(n *html.Node) string {
	var b strings.Builder
	b.WriteString("<" + n.Data)
	for _, k := range []string{"id", "type", "name", "value"} {
		if v, ok := attr(n, k); ok && !(k == "value" && isSecretInput(n)) {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	b.WriteString(">")
	return b.String()
}

// isSecretInput says whether the value of n may hold a PSU credential, which an error
// must not show.
func isSecretInput(n *html.Node) bool {
	if n.Data == "textarea" {
		return true
	}
	if n.Data != "input" {
		return false
	}
	t, _ := attr(n, "type")
	switch strings.ToLower(t) {
	case "submit", "button", "reset", "image", "checkbox", "radio", "hidden":
		return false
	}
	return true
}
