package consent

import (
	"context"
	"sync"
	"time"
)

// Code is a one-time code the callback brought, not yet exchanged.
type Code struct {
	TPP      string
	Value    string
	Verifier string    // the PKCE code_verifier of its authorization request, if any
	Began    time.Time // when its journey began: the bank dated the consent after
	At       time.Time // when the callback brought it
	// UsableUntil is when it may no longer be sent: its declared lifetime less the skew
	// (zero: the bank declares no lifetime).
	UsableUntil time.Time
	// Pristine: no check has sent it yet; a check about the code exchange itself takes
	// only a pristine code, so that nothing before it can explain its result.
	Pristine bool

	// Gate is the steps' hold on whatever must wait while a code is alive (their expiry
	// gate): handed from check to check with the code.
	Gate any

	psu      int
	held     bool
	linkHeld bool       // held by a negative check, which hands it back
	controls []*Control // refusals waiting for the code's next successful exchange
	refusals int
}

// Identity names the PSU who consented (for a journey's own record).
func (c *Code) PSU() int { return c.psu }

// Control is a refusal's positive control that waits for the next exchange of the same
// code: if that exchange succeeds, the bank refused a code that still worked, so it
// refused it for what the check altered.
type Control struct {
	mu       sync.Mutex
	resolved bool
	ok       bool
	how      string
}

// Result says whether the control was resolved, how, and in words.
func (c *Control) Result() (resolved, ok bool, how string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resolved, c.ok, c.how
}

func (c *Control) resolve(ok bool, how string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.resolved {
		c.resolved, c.ok, c.how = true, ok, how
	}
}

// NewCode records a code a journey brought, held by the check that ran the journey.
func (t *Ticket) NewCode(value, verifier string, began, at, usableUntil time.Time) *Code {
	c := &Code{TPP: t.tpp, Value: value, Verifier: verifier, Began: began, At: at, UsableUntil: usableUntil, Pristine: true, psu: t.psu, held: true}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	t.b.heldCodes[key{c.psu, c.TPP}]++
	return c
}

// CodeWant says which code a check can use.
type CodeWant struct {
	PKCE     bool          // it carries a PKCE verifier (true), or none (false)
	Pristine bool          // no check has sent it yet
	Margin   time.Duration // it must stay usable at least this long
	// Final: the check exchanges it successfully (it makes a grant of it); it takes a
	// code others have refused only once no negative check of the TPP is still to come,
	// or when the code is about to become unusable.
	Final bool
	// Link: the check refuses the code and hands it back; it waits up to Wait for a code
	// another such check holds or is fetching, rather than send the PSU again.
	Link bool
	Wait time.Duration
}

// TakeCode lends a code of tpp from the pool, or nil: then the check runs a journey (a
// Link check then calls Fetched when it has a code or gave up).
func (b *Broker) TakeCode(ctx context.Context, tpp string, want CodeWant) *Code {
	defer b.wakeAt(ctx, want.Wait)()
	deadline := time.Now().Add(want.Wait)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if c := b.takeCode(tpp, want); c != nil {
			c.linkHeld = want.Link
			return c
		}
		coming := false
		switch {
		case want.Link:
			coming = b.fetching[tpp] > 0
			for k, n := range b.linkHeld {
				if k.tpp == tpp && n > 0 {
					coming = true
				}
			}
		case want.Pristine && !want.PKCE:
			coming = b.donating[tpp] > 0
		}
		if !coming || time.Now().After(deadline) || ctx.Err() != nil {
			if want.Link {
				b.fetching[tpp]++
			}
			return nil
		}
		b.cond.Wait()
	}
}

// Donating says a journey under way will leave its code, unexchanged, to the pool (an
// approval the checks only read): checks that need a code no one sent wait for it. done
// ends it.
func (b *Broker) Donating(tpp string) (done func()) {
	b.mu.Lock()
	b.donating[tpp]++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.donating[tpp]--
			b.cond.Broadcast()
		})
	}
}

// CodeCheckStarted says a check about the code exchange itself ran a journey for its code.
func (b *Broker) CodeCheckStarted(tpp string) {
	b.lower(func() *int { return &b.rem(tpp).CodeChecks })
}

// lower takes one from the count n points to (never below zero) and wakes the waiters.
func (b *Broker) lower(n func() *int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := n(); *p > 0 {
		*p--
	}
	b.cond.Broadcast()
}

// Fetched says a Link check that found no code has one now (c), or gave up (nil).
func (b *Broker) Fetched(tpp string, c *Code) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fetching[tpp] > 0 {
		b.fetching[tpp]--
	}
	if c != nil && c.held && !c.linkHeld {
		c.linkHeld = true
		b.linkHeld[key{c.psu, c.TPP}]++
	}
	b.cond.Broadcast()
}

// takeCode finds a code in the pool for want. b.mu is held.
func (b *Broker) takeCode(tpp string, want CodeWant) *Code {
	now := time.Now()
	for i, c := range b.codes {
		usable := c.UsableUntil.IsZero() || now.Add(want.Margin).Before(c.UsableUntil)
		switch {
		case c.TPP != tpp, !usable, want.PKCE != (c.Verifier != ""), want.Pristine && !c.Pristine:
			continue
		case !want.Pristine && c.Pristine && b.rem(tpp).CodeChecks > 0:
			continue // kept for a check about the code exchange itself
		case want.Final && !c.Pristine && b.rem(LinkKey(tpp, c.Verifier != "")).Links > 0 &&
			(c.UsableUntil.IsZero() || now.Add(2*want.Margin).Before(c.UsableUntil)):
			continue // leave it to the negative checks still to come
		}
		b.codes = append(b.codes[:i], b.codes[i+1:]...)
		c.held = true
		b.heldCodes[key{c.psu, c.TPP}]++
		if want.Pristine && b.rem(tpp).CodeChecks > 0 {
			b.rem(tpp).CodeChecks--
		}
		if want.Link {
			b.linkHeld[key{c.psu, c.TPP}]++
		}
		return c
	}
	return nil
}

// Claim takes c back from the pool for a last exchange, if no check has taken it since.
func (b *Broker) Claim(c *Code) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, p := range b.codes {
		if p == c {
			b.codes = append(b.codes[:i], b.codes[i+1:]...)
			c.held = true
			b.heldCodes[key{c.psu, c.TPP}]++
			return true
		}
	}
	return false
}

// ClaimGated answers an expiry check about to watch a token of tpp: of the codes of tpp in
// the pool that carry a Gate hold, it takes back those keep refuses, for an exchange now,
// and takes the hold off the others (released), which stay in the pool.
func (b *Broker) ClaimGated(tpp string, keep func(*Code) bool) (claimed []*Code, released []any) {
	b.mu.Lock()
	for _, c := range b.codes {
		if c.TPP == tpp && c.Gate != nil && keep(c) {
			released = append(released, c.Gate)
			c.Gate = nil
		}
	}
	b.mu.Unlock()
	return b.claimWhere(func(c *Code) bool { return c.TPP == tpp && c.Gate != nil }), released
}

// claimWhere takes from the pool, held, every code that match says.
func (b *Broker) claimWhere(match func(*Code) bool) []*Code {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out, kept []*Code
	for _, c := range b.codes {
		if match(c) {
			c.held = true
			b.heldCodes[key{c.psu, c.TPP}]++
			out = append(out, c)
		} else {
			kept = append(kept, c)
		}
	}
	b.codes = kept
	return out
}

// LinkKey names the chain of negative code checks of a TPP: codes under a PKCE challenge
// and codes without one go to different checks.
func LinkKey(tpp string, pkce bool) string {
	if pkce {
		return tpp + pkceSuffix
	}
	return tpp
}

// pkceSuffix marks the chain of codes under a PKCE challenge (LinkKey).
const pkceSuffix = "+pkce"

// LinkDone says a negative code check of chain (LinkKey) is over (or will not come).
func (b *Broker) LinkDone(tpp string) {
	b.lower(func() *int { return &b.rem(tpp).Links })
}

// LastLink says whether no negative code check of chain (LinkKey) is still to come, so that the one
// holding a code exchanges it now rather than hand it on.
func (b *Broker) LastLink(tpp string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rem(tpp).Links == 0
}

// Refused hands a code back after a check saw the bank refuse it, with the check's
// control: resolved by the code's next exchange.
func (b *Broker) Refused(c *Code) *Control {
	ctl := &Control{}
	b.mu.Lock()
	defer b.mu.Unlock()
	c.controls = append(c.controls, ctl)
	c.refusals++
	c.Pristine = false
	b.putBack(c)
	return ctl
}

// Return hands back a code its check did not spend (a scenario cut short, a journey
// shared): the next check may use it. A code sent once is no longer pristine.
func (b *Broker) Return(c *Code, sent bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sent {
		c.Pristine = false
	}
	b.putBack(c)
}

// putBack returns a held code to the pool. b.mu is held.
func (b *Broker) putBack(c *Code) {
	if !c.held {
		return
	}
	c.held = false
	b.heldCodes[key{c.psu, c.TPP}]--
	if c.linkHeld {
		c.linkHeld = false
		b.linkHeld[key{c.psu, c.TPP}]--
	}
	b.codes = append(b.codes, c)
	b.cond.Broadcast()
}

// Exchanged says the code was exchanged successfully (tokens issued): every refusal
// before had a code that still worked. The code leaves the pool for good.
func (b *Broker) Exchanged(c *Code, how string) {
	b.end(c, true, how)
}

// Dead says the code can no longer be exchanged (it expired, or its last exchange was
// refused although nothing was altered): the refusals before cannot be attributed.
func (b *Broker) Dead(c *Code, why string) {
	b.end(c, false, why)
}

// release ends a check's hold of a code that became a grant or died. b.mu is held.
func (b *Broker) release(c *Code) {
	if c.held {
		c.held = false
		b.heldCodes[key{c.psu, c.TPP}]--
	}
	if c.linkHeld {
		c.linkHeld = false
		b.linkHeld[key{c.psu, c.TPP}]--
	}
}

func (b *Broker) end(c *Code, ok bool, how string) {
	b.mu.Lock()
	b.release(c)
	for i, p := range b.codes {
		if p == c {
			b.codes = append(b.codes[:i], b.codes[i+1:]...)
			break
		}
	}
	controls := c.controls
	c.controls = nil
	b.cond.Broadcast()
	b.mu.Unlock()
	for _, ctl := range controls {
		ctl.resolve(ok, how)
	}
}

// Leftovers takes every code in the pool that refusals still wait on, for a last
// exchange when the run's checks are over.
func (b *Broker) Leftovers() []*Code {
	return b.claimWhere(func(c *Code) bool { return len(c.controls) > 0 })
}
