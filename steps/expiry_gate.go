package steps

import (
	"sync"
	"time"
)

// The expiry gate: a bank that keeps one token pair per PSU and TPP (BPCE, for one)
// revokes a token as soon as the same PSU consents again for the same TPP. Refused after
// its expiry, such a token proves nothing: it may have been superseded. So every approving
// journey and code exchange of a TPP is a consent, every expiry check watching one of its
// tokens a watch, and the TPP's gate never lets a consent and a watch overlap: a watch
// waits for the consents under way and holds new ones back, from the moment it sees the
// token working shortly before its expiry until it sees it refused after. Consents run
// together, and so do watches.
type gate struct {
	mu                                sync.Mutex
	cond                              *sync.Cond
	consents, watches, waitingWatches int
	longest                           time.Duration // the longest consent so far
	// until is when the watches under way or waiting end, at the latest: a code that
	// outlives it can wait for its exchange, and goes on from check to check meanwhile.
	until time.Time
}

func newGate() *gate {
	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) enterConsent() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.watches > 0 || g.waitingWatches > 0 {
		g.cond.Wait()
	}
	g.consents++
	return time.Now()
}

// tryEnterConsent begins a consent unless a watch holds or waits for the gate.
func (g *gate) tryEnterConsent() (since time.Time, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.watches > 0 || g.waitingWatches > 0 {
		return time.Time{}, false
	}
	g.consents++
	return time.Now(), true
}

// watching says whether a watch holds or waits for the gate, and when the watches end.
func (g *gate) watching() (until time.Time, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until, g.watches > 0 || g.waitingWatches > 0
}

// leaveConsent ends a consent that began at start; the longest one so far tells how early
// a watch must start closing the gate.
func (g *gate) leaveConsent(start time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.consents--
	g.longest = max(g.longest, time.Since(start))
	g.cond.Broadcast()
}

// enterWatch begins a watch that ends by until, once the consents under way are over.
func (g *gate) enterWatch(until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.watches == 0 && g.waitingWatches == 0 || until.After(g.until) {
		g.until = until
	}
	g.waitingWatches++
	for g.consents > 0 {
		g.cond.Wait()
	}
	g.waitingWatches--
	g.watches++
}

func (g *gate) leaveWatch() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.watches--
	g.cond.Broadcast()
}

// gateLead is how long before a watch's check it starts closing the gate: consents under
// way finish first, so twice the longest consent seen in the run (a Chromium journey on a
// loaded machine takes seconds), and at least minGateLead.
func (e *Env) gateLead() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	lead := minGateLead
	for _, g := range e.gates {
		g.mu.Lock()
		lead = max(lead, 2*g.longest)
		g.mu.Unlock()
	}
	return lead
}

// gate returns the expiry gate of a TPP's client_id. One gate for all the TPP's roles: a
// bank may keep one token pair per PSU and TPP whatever the role, so that a cbpii consent
// supersedes the PSU's AISP tokens too (tokens-superseded-never-expire); a watch then
// holds back the consents of both roles.
func (e *Env) gate(clientID string) *gate {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gates == nil {
		e.gates = map[string]*gate{}
	}
	g, ok := e.gates[clientID]
	if !ok {
		g = newGate()
		e.gates[clientID] = g
	}
	return g
}

// sharingGate runs f as a consent of clientID: f may create a consent or a token pair. A
// scenario already inside a consent (enterConsent) is in it already.
func (w *World) sharingGate(clientID string, f func()) {
	if w.consentGate != nil {
		f()
		return
	}
	g := w.env.gate(clientID)
	defer g.leaveConsent(g.enterConsent())
	f()
}

// enterConsent counts the scenario as a consent of clientID from the start of an approving
// journey until its code is exchanged (leaveConsent): a code must not wait, and expire,
// while an expiry check watches a token.
func (w *World) enterConsent(clientID string) {
	if w.consentGate != nil {
		return
	}
	g := w.env.gate(clientID)
	w.consentSince = g.enterConsent()
	w.consentGate = g
}

// leaveConsent ends what enterConsent began, if anything.
func (w *World) leaveConsent() {
	if w.consentGate != nil {
		w.consentGate.leaveConsent(w.consentSince)
		w.consentGate = nil
	}
}

// closeGate starts a watch of clientID's token that ends by until: no consent of that TPP
// until openGate (or the scenario's end).
func (w *World) closeGate(clientID string, until time.Time) {
	w.openGate()
	w.leaveConsent()
	w.env.flushCodes(clientID, until.Add(2*w.codeMargin()))
	g := w.env.gate(clientID)
	g.enterWatch(until)
	w.heldGate = g
}

// watchRequest is how long a watch's last request is expected to take: what a code must
// outlive beyond the watched expiry to wait for the watch rather than be exchanged at once.
// A slower answer only makes such a code wait longer.
func (w *World) watchRequest() time.Duration {
	return min(w.p.Timeouts.Request, 2*time.Second)
}

// openGate ends the watch closeGate began, if any.
func (w *World) openGate() {
	if w.heldGate != nil {
		w.heldGate.leaveWatch()
		w.heldGate = nil
	}
}
