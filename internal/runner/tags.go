package runner

import (
	"fmt"
	"regexp"
	"strings"
)

// tagSyntax is the help every tag filter error ends with: godog v0.15.1 reads tag filters
// the behat way (internal/tags/tag_filter.go), not as Cucumber tag expressions.
const tagSyntax = `tag filters use godog's syntax: "@token", "~@expiry" (not), "@a && @b" (and), "@a,@b" (or), "@a,@b && ~@c" (and binds last); no "not", "and", "or", no parentheses`

// tagRe is one term of a tag filter: an optional ~, then a Gherkin tag.
var tagRe = regexp.MustCompile(`^~?@[^\s@~,&()!|]+$`)

// checkTags refuses a tag filter godog would panic on (an empty term: "@a &&", "@a,",
// ",") or silently read as a tag no scenario has ("((", "not @a", "@a and @b", "!@a"),
// naming the term and where it is. godog splits on "&&", then on ",", and strips "@".
func checkTags(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return nil
	}
	for i, and := range strings.Split(expr, "&&") {
		for j, term := range strings.Split(and, ",") {
			term = strings.TrimSpace(term)
			where := fmt.Sprintf("term %d of the %s &&-part", j+1, ordinal(i+1))
			switch {
			case term == "":
				return badInput(fmt.Errorf("--tags %q: %s is empty (a dangling \"&&\" or \",\"); %s", expr, where, tagSyntax))
			case strings.ContainsAny(term, "()"):
				return badInput(fmt.Errorf("--tags %q: %q: godog's tag filters have no parentheses; %s", expr, term, tagSyntax))
			case strings.HasPrefix(term, "not ") || strings.HasPrefix(term, "!"):
				return badInput(fmt.Errorf("--tags %q: %q: write ~@tag for not; %s", expr, term, tagSyntax))
			case strings.Contains(term, " and ") || strings.Contains(term, " or ") || strings.Contains(term, "||"):
				return badInput(fmt.Errorf("--tags %q: %q: write && for and, a comma for or; %s", expr, term, tagSyntax))
			case !strings.HasPrefix(strings.TrimPrefix(term, "~"), "@"):
				return badInput(fmt.Errorf("--tags %q: %q is not a tag: tags start with @, as in @%s; %s", expr, term, strings.TrimLeft(term, "~"), tagSyntax))
			case !tagRe.MatchString(term):
				return badInput(fmt.Errorf("--tags %q: %q is not one tag (a tag has no spaces or operators inside); %s", expr, term, tagSyntax))
			}
		}
	}
	return nil
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}
