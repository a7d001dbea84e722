package report

import (
	"strings"
	"unicode/utf8"
)

// The scanners below find what two regular expressions, matched case-insensitively as Go's
// regexp does (?i), would find, in one pass and without allocating (redact_scan_test.go
// proves them equal on random texts):
//
//	textParams: ([?&#;](?:FIELD)=)([^&#"'\s<>\\]+)                      a query parameter
//	htmlFields: (name=["']?(?:FIELD)["']?\s+value=)("[^"]*"?|'[^']*'?)  a hidden form field
//
// FIELD being one of sensitiveFields. Each returns the spans of the second group.

// textParams returns the values of sensitive query parameters in any text: an HTML page's
// link or a JSON string holding a callback URL (';' catches "&amp;code=" in HTML).
func textParams(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '?', '&', '#', ';':
		default:
			continue
		}
		n := fieldAt(s[i+1:], func(rest string) int {
			if rest != "" && rest[0] == '=' {
				return 1
			}
			return -1
		})
		if n < 0 {
			continue
		}
		start := i + 1 + n
		end := start
		for end < len(s) && !endsParam(s[end]) {
			end++
		}
		if end == start {
			continue
		}
		spans = append(spans, [2]int{start, end})
		i = end - 1
	}
	return spans
}

// endsParam: the bytes [^&#"'\s<>\\] leaves out (\s is [\t\n\f\r ] in Go's regexp).
func endsParam(c byte) bool {
	switch c {
	case '&', '#', '"', '\'', '\\', '<', '>', '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}

// htmlFields returns the quoted values of hidden form fields named after a sensitive
// field, as in response_mode=form_post pages, quotes included.
func htmlFields(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); i++ {
		if s[i] != 'n' && s[i] != 'N' {
			continue
		}
		j := foldPrefix(s[i:], "name=")
		if j < 0 {
			continue
		}
		j += i
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			j++
		}
		n := fieldAt(s[j:], func(rest string) int {
			k := 0
			if k < len(rest) && (rest[k] == '"' || rest[k] == '\'') {
				k++
			}
			ws := k
			for k < len(rest) && isSpace(rest[k]) {
				k++
			}
			if k == ws {
				return -1
			}
			v := foldPrefix(rest[k:], "value=")
			if v < 0 {
				return -1
			}
			return k + v
		})
		if n < 0 {
			continue
		}
		start := j + n
		if start >= len(s) || (s[start] != '"' && s[start] != '\'') {
			continue
		}
		end := len(s)
		if k := strings.IndexByte(s[start+1:], s[start]); k >= 0 {
			end = start + 1 + k + 1
		}
		spans = append(spans, [2]int{start, end})
		i = end - 1
	}
	return spans
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// fieldAt returns the length of a sensitive field's name at the start of s followed by
// what after accepts (after returns its length, or -1), or -1. The fields are tried in
// order, as the alternation of a regular expression is.
func fieldAt(s string, after func(rest string) int) int {
	for _, f := range sensitiveFields {
		n := foldPrefix(s, f)
		if n < 0 {
			continue
		}
		if a := after(s[n:]); a >= 0 {
			return n + a
		}
	}
	return -1
}

// foldPrefix returns the length in bytes of the start of s that word (ASCII, lower case)
// matches without regard to case, or -1. As in Go's regexp (unicode.SimpleFold), k also
// matches the Kelvin sign and s the long s.
func foldPrefix(s, word string) int {
	n := 0
	for i := 0; i < len(word); i++ {
		if n >= len(s) {
			return -1
		}
		r, size := rune(s[n]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[n:])
		}
		if !foldsTo(r, word[i]) {
			return -1
		}
		n += size
	}
	return n
}

// foldsTo reports whether r is c (an ASCII byte, letters in lower case) without regard to
// case.
func foldsTo(r rune, c byte) bool {
	switch {
	case r == rune(c):
		return true
	case 'a' <= c && c <= 'z':
		return r == rune(c-'a'+'A') || (c == 'k' && r == '\u212A') || (c == 's' && r == '\u017F')
	}
	return false
}
