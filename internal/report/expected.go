package report

import "strings"

// SplitExpected cuts a step's error message of the form the steps write, "expected X;
// Y", into what was expected (X) and what the bank did (Y), so that a reader sees them
// side by side. The cut is the first "; " outside parentheses and double quotes: X often
// holds a parenthesised remark with its own semicolon ("(RFC 6750 section 3.1; the token
// expired 2s ago)"), and Y quotes the bank's text. ok is false when msg is not of that
// form; it is then shown as it is.
func SplitExpected(msg string) (expected, actual string, ok bool) {
	const prefix = "expected "
	if len(msg) < len(prefix) || !strings.EqualFold(msg[:len(prefix)], prefix) {
		return "", "", false
	}
	depth, quoted := 0, false
	for i := len(prefix); i < len(msg); i++ {
		switch c := msg[i]; {
		case quoted && c == '\\':
			i++ // an escaped character inside a quoted (%q) value
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ';' && depth == 0 && i+1 < len(msg) && msg[i+1] == ' ':
			expected = strings.TrimSpace(msg[len(prefix):i])
			actual = strings.TrimSpace(msg[i+2:])
			if expected == "" || actual == "" {
				return "", "", false
			}
			return expected, actual, true
		}
	}
	return "", "", false
}
