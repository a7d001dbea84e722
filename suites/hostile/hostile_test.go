package hostile

import (
	"strings"
	"testing"
)

// Every behaviour of the hostile bank is run by exactly one part, with exactly one case.
func TestPartsListEveryBehaviourOnce(t *testing.T) {
	if ps := partsProblems(); len(ps) > 0 {
		t.Fatal(strings.Join(ps, "\n"))
	}
}
