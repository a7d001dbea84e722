package aspsp

import (
	"maps"
	"net/http"
	"sync"
)

// PathStats is where the bank serves its counters with Config.ServeStats: not a STET path,
// and outside the rate limit, so that measuring a run never changes it.
const PathStats = "/stats"

// Counts are what the bank counted, for the whole bank or for one PSU. Where the PSU is
// not known yet (an authorization request, a failed login), only the bank's total counts.
type Counts struct {
	AuthorizeRequests int `json:"authorize_requests"` // GET /authorize, valid or not
	Journeys          int `json:"journeys"`           // login pages shown: valid authorization requests
	Logins            int `json:"logins"`             // successful PSU logins: the strong customer authentications
	FailedLogins      int `json:"failed_logins"`      // wrong identifier or password
	SessionConflicts  int `json:"session_conflicts"`  // logins refused under one-session-per-PSU
	ConsentsApproved  int `json:"consents_approved"`
	ConsentsRefused   int `json:"consents_refused"`
	JourneysAbandoned int `json:"journeys_abandoned"` // the PSU cancelled (before or after logging in)
	CodeExchanges     int `json:"code_exchanges"`     // successful authorization_code grants
	Refreshes         int `json:"refreshes"`          // successful refresh_token grants
	RateLimited       int `json:"rate_limited"`
}

// SCAJourneys is the journeys a PSU ended with a decision: approvals and refusals, each a
// strong customer authentication against a real bank.
func (c Counts) SCAJourneys() int { return c.ConsentsApproved + c.ConsentsRefused }

// Stats are the bank's counters since it was made: the totals, and per PSU identifier.
// They hold no secret: no code, token or password.
type Stats struct {
	Counts
	PSUs map[string]Counts `json:"psus"`
}

// counters is the bank's Stats, kept current.
type counters struct {
	mu    sync.Mutex
	total Counts
	psus  map[string]Counts
}

func newCounters() *counters { return &counters{psus: map[string]Counts{}} }

// add applies f to the totals and, when psu is not "", to the PSU's counts. Callers pass
// only a PSU that has logged in: an identifier typed at a failed login must not grow the map.
func (c *counters) add(psu string, f func(*Counts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.total)
	if psu != "" {
		pc := c.psus[psu]
		f(&pc)
		c.psus[psu] = pc
	}
}

// Stats returns a copy of the bank's counters.
func (b *Bank) Stats() Stats {
	b.stats.mu.Lock()
	defer b.stats.mu.Unlock()
	return Stats{Counts: b.stats.total, PSUs: maps.Clone(b.stats.psus)}
}

// serveStats is GET /stats: Stats as JSON.
func (b *Bank) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, stetError{Status: http.StatusMethodNotAllowed, Message: "GET only."})
		return
	}
	writeJSON(w, http.StatusOK, b.Stats())
}
