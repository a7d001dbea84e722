package psu

import (
	"fmt"
	"strings"

	"github.com/andybalholm/cascadia"
)

// The selectors of a PSU script are CSS. The browser driver gives them to Chromium's
// querySelector; the form driver matches them with cascadia, a CSS selector engine for
// x/net/html. Both take the first matching element in document order, so the same
// script picks the same element with either driver.
//
// A script must run with both, so CheckSelector accepts what both engines understand:
// type, #id, .class, *, the combinators (space, >, +, ~), selector lists (a, b), the
// attribute operators = ~= |= ^= $= *= with the i flag, :not() :has() :first-child
// :last-child :only-child :nth-child() :nth-last-child() :first-of-type :last-of-type
// :only-of-type :nth-of-type() :nth-last-of-type() :checked :enabled :disabled :empty
// :root :link :lang(). It rejects
//   - what cascadia does not know and Chromium does: :is(), :where(), :has(> a),
//     :nth-child(2 of .x), :required, :read-only, :placeholder-shown and the like;
//   - cascadia's extensions, which are not CSS and make Chromium throw: :contains(),
//     :containsOwn(), :matches(), :matchesOwn(), :haschild(), :input, [a!=b], [a#=/re/];
//   - :hover, :focus, :active, :visited, :target: they depend on a live page and never
//     match in the form driver.
//
// One difference remains: a fill changes what the form driver's later selectors see
// (the value and checked attributes), while Chromium changes the element's state and
// leaves its attributes as the page wrote them. :checked follows the fill in both;
// [value=...] and [checked] do not: select a control by its name or id, not by what the
// script fills in.

// CheckSelector says why sel is not a selector both PSU drivers understand, naming it;
// nil when it is one.
func CheckSelector(sel string) error {
	_, err := compileSelector(sel)
	return err
}

func compileSelector(sel string) (cascadia.SelectorGroup, error) {
	g, err := cascadia.ParseGroup(sel)
	if err != nil {
		return nil, fmt.Errorf("selector %q is not valid CSS: %v", sel, err)
	}
	if why := oneDriverOnly(sel); why != "" {
		return nil, fmt.Errorf("selector %q: %s", sel, why)
	}
	return g, nil
}

// cascadiaOnly are the pseudo-classes that cascadia accepts and are not CSS.
var cascadiaOnly = map[string]bool{
	"contains": true, "containsown": true, "matches": true, "matchesown": true, "haschild": true, "input": true,
}

// livePage are the pseudo-classes about a live page's state, which cascadia never matches.
var livePage = map[string]bool{"hover": true, "focus": true, "active": true, "visited": true, "target": true}

// oneDriverOnly finds, in a selector cascadia has parsed, a pseudo-class or an attribute
// operator that would not work with both drivers and says why; "" when there is none.
// Quoted strings and escaped characters are skipped: [value=":hover"] has no :hover.
func oneDriverOnly(sel string) string {
	for i := 0; i < len(sel); i++ {
		switch c := sel[i]; c {
		case '\\':
			i++
		case '"', '\'':
			for i++; i < len(sel) && sel[i] != c; i++ {
				if sel[i] == '\\' {
					i++
				}
			}
		case '!', '#':
			if i+1 < len(sel) && sel[i+1] == '=' {
				return fmt.Sprintf("the attribute operator %s is an extension of the form driver's engine, not CSS: Chromium rejects it", sel[i:i+2])
			}
		case ':':
			j := i + 1
			for j < len(sel) && isNameByte(sel[j]) {
				j++
			}
			name := strings.ToLower(sel[i+1 : j])
			switch {
			case cascadiaOnly[name]:
				return fmt.Sprintf(":%s is an extension of the form driver's engine, not CSS: Chromium rejects it", sel[i+1:j])
			case livePage[name]:
				return fmt.Sprintf(":%s is about a live page's state: it never matches in the form driver", sel[i+1:j])
			}
			i = j - 1
		}
	}
	return ""
}

func isNameByte(c byte) bool {
	return c == '-' || c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
