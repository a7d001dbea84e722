package consent

import (
	"fmt"
	"strings"
)

// Plan is what the run's selected checks will ask of the PSU, worked out before the first
// request: how many journeys, and which checks share them.
type Plan struct {
	// Remaining are the negative code checks and grant uses of each TPP.
	Remaining map[string]*Remaining
	// CodeChecks are the checks about the code exchange itself, which need a code no
	// other check has sent (by TPP).
	CodeChecks map[string]int
	// Exchangers are the checks that exchange a code successfully and leave a grant
	// behind (by TPP).
	Exchangers map[string]int
	// Approvals, Refusals, Abandons, Wrong: journeys that are checks themselves (a shared
	// approval, refusal and abandon count once).
	Approvals, Refusals, Abandons, Wrong int
	// Donated: codes those approvals leave unexchanged, for the other checks (by TPP).
	Donated map[string]int
	// Burned: the bank burns a code on a refused exchange, so each negative check
	// needs its own code.
	Burned bool
	// ScopeGrants: the checks that exchange a code with a scope (TOKEN-15) at a bank
	// that declares it ignores the scope; their grants are lent too (by TPP).
	ScopeGrants map[string]int
}

// Count is the journeys of a plan, by kind.
type Count struct {
	Approvals, Refusals, Abandons, Wrong int
}

// Total is every journey: approvals, refusals, abandons and deliberately wrong requests.
func (c Count) Total() int { return c.Approvals + c.Refusals + c.Abandons + c.Wrong }

// SCA is the journeys where the PSU authenticates: approvals and refusals.
func (c Count) SCA() int { return c.Approvals + c.Refusals }

func (c Count) String() string {
	s := fmt.Sprintf("%s: %s, %s", plural(c.Total()-c.Wrong, "PSU journey"), plural(c.Approvals, "approval"), plural(c.Refusals, "refusal"))
	if c.Abandons > 0 {
		s += fmt.Sprintf(", %d abandoned", c.Abandons)
	}
	if c.Wrong > 0 {
		s += fmt.Sprintf("; and %s, which a compliant bank stops before the PSU authenticates", plural(c.Wrong, "deliberately wrong request"))
	}
	return s
}

// plural says n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// Journeys works out how many journeys the plan takes: the journeys that are checks, a
// code for each check about the code exchange (less the codes approvals leave), a code
// for the negative code checks (one per TPP when codes survive a refusal, one each when
// the bank burns them), and a consent for each grant the checks need beyond the grants
// the exchanging checks leave behind. (Refresh tokens a state file keeps from an earlier
// run spare journeys the plan does not foresee: the count is an upper bound.)
func (p Plan) Journeys() Count {
	c := Count{Approvals: p.Approvals, Refusals: p.Refusals, Abandons: p.Abandons, Wrong: p.Wrong}
	tpps := map[string]bool{}
	for t := range p.Remaining {
		tpps[t] = true
	}
	for t := range p.CodeChecks {
		tpps[t] = true
	}
	// A chain of negative checks on codes under a PKCE challenge ends in an exchange
	// that leaves a grant of its TPP: the supply is counted by grant, not by chain.
	supply := map[string]int{}
	for tpp := range tpps {
		r := p.Remaining[tpp]
		if r == nil {
			r = &Remaining{}
		}
		codes := max(0, p.CodeChecks[tpp]-p.Donated[tpp])
		grantOf := strings.TrimSuffix(tpp, pkceSuffix)
		supply[grantOf] += p.Exchangers[tpp] + p.ScopeGrants[tpp] + max(0, p.Donated[tpp]-p.CodeChecks[tpp])
		switch {
		case r.Links > 0 && p.Burned:
			codes += r.Links
		case r.Links > 0:
			codes++
			supply[grantOf]++ // the last negative check exchanges the code
		}
		c.Approvals += codes
	}
	// A grant for each check that consumes one, and one kept for the checks that read
	// or change a grant (the last grant is never taken from them); a replay takes the
	// code of a grant consumed before, or consumes one.
	for tpp := range tpps {
		r := p.Remaining[tpp]
		if r == nil || strings.HasSuffix(tpp, pkceSuffix) {
			continue
		}
		need := r.Uses[Consume]
		if r.Uses[Read]+r.Uses[Mutate] > 0 || need == 0 && r.Uses[Replay] > 0 {
			need++
		}
		c.Approvals += max(0, need-supply[tpp])
	}
	return c
}
