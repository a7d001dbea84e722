package steps

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stetconform/stetconform/internal/report"
)

// Run-wide positive controls. A check that sends a deliberately wrong request (an unknown
// code, no token at all) and sees it refused proves something only if the same endpoint
// serves the corrected request. Where a scenario cannot cheaply make that request itself,
// its feature tags the control it relies on (@control:code-exchange, @control:refresh,
// @control:resource, @control:revoke...), some other scenario of the run observes it, and a scenario whose
// control nobody observed is inconclusive, never passed.
const (
	controlCodeExchange = "code-exchange" // the primary TPP exchanged a code for tokens
	controlRefresh      = "refresh"       // the primary TPP refreshed its access token
	controlResource     = "resource"      // the primary TPP's access token opened the accounts resource
	controlFunds        = "funds"         // the primary TPP's cbpii token opened the funds-confirmations resource
	controlRevoke       = "revoke"        // the primary TPP's revocation of its refresh token took effect
)

// controlWords say, for a reason, what a control is.
var controlWords = map[string]string{
	controlCodeExchange: "no code exchange of the primary TPP succeeded",
	controlRefresh:      "no refresh of the primary TPP succeeded",
	controlResource:     "the primary TPP's access token never opened the accounts resource",
	controlFunds:        "the primary TPP's cbpii token never opened the funds-confirmations resource",
	controlRevoke:       "no revocation by the primary TPP of its own refresh token took effect",
}

// observe records that this run saw a positive control succeed.
func (e *Env) observe(control string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.observed == nil {
		e.observed = map[string]bool{}
	}
	e.observed[control] = true
}

// wasObserved says whether this run saw control succeed so far.
func (e *Env) wasObserved(control string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.observed[control]
}

// withControls turns a passed scenario whose tagged controls this run never observed into
// an inconclusive one. e.mu is held.
func (e *Env) withControls(r report.ScenarioResult) report.ScenarioResult {
	if r.Verdict != report.Passed && r.Verdict != report.Warning {
		return r
	}
	var missing []string
	for _, t := range r.Tags {
		if c, ok := strings.CutPrefix(t, "@control:"); ok && !e.observed[c] {
			missing = append(missing, cmpOr(controlWords[c], c))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		r.Verdict = report.Inconclusive
		r.Reason = fmt.Sprintf("no positive control in this run (%s), so the refusal cannot be attributed to what this check altered", strings.Join(missing, "; "))
	}
	return r
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
