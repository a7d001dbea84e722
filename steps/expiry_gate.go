package steps

import "sync"

// The expiry gate: a bank that keeps one token pair per PSU and TPP (BPCE, for one)
// revokes a token as soon as the same PSU consents again for the same TPP. Refused after
// its expiry, such a token proves nothing: it may have been superseded. So every approving
// journey and every code exchange holds its TPP's gate shared, and the expiry check holds
// it alone from the moment it sees the token working shortly before its expiry until it
// sees it refused after: nothing this run does can supersede the token in between.

// gate returns the expiry gate of a TPP's client_id.
func (e *Env) gate(clientID string) *sync.RWMutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gates == nil {
		e.gates = map[string]*sync.RWMutex{}
	}
	g, ok := e.gates[clientID]
	if !ok {
		g = &sync.RWMutex{}
		e.gates[clientID] = g
	}
	return g
}

// sharingGate runs f while holding clientID's gate shared: f may create a consent or a
// token pair, so it waits while an expiry check of that TPP is watching its token. A
// scenario already inside a consent (enterConsent) holds the gate already.
func (w *World) sharingGate(clientID string, f func()) {
	if w.consentGate != nil {
		f()
		return
	}
	g := w.env.gate(clientID)
	g.RLock()
	defer g.RUnlock()
	f()
}

// enterConsent holds clientID's gate shared from the start of an approving journey until
// its code is exchanged (leaveConsent): a code must not wait, and expire, while an expiry
// check holds the gate.
func (w *World) enterConsent(clientID string) {
	if w.consentGate != nil {
		return
	}
	g := w.env.gate(clientID)
	g.RLock()
	w.consentGate = g
}

// leaveConsent releases what enterConsent took, if anything.
func (w *World) leaveConsent() {
	if w.consentGate != nil {
		w.consentGate.RUnlock()
		w.consentGate = nil
	}
}

// closeGate holds clientID's gate alone until openGate (or the scenario's end).
func (w *World) closeGate(clientID string) {
	w.openGate()
	w.leaveConsent()
	g := w.env.gate(clientID)
	g.Lock()
	w.heldGate = g
}

// openGate releases the gate closeGate took, if any.
func (w *World) openGate() {
	if w.heldGate != nil {
		w.heldGate.Unlock()
		w.heldGate = nil
	}
}
