package consent

import (
	"context"
	"time"
)

// Grant is the token pair of one consent, as the steps keep it (Tokens is theirs).
type Grant struct {
	TPP    string
	Tokens any
	// Code is the code it was exchanged from (a check replays it), if known.
	Code *Code

	psu     int
	readers int
	held    bool // a Mutate or Consume check holds it
	// consumed: a Consume check holds it, and it will not be lent again.
	consumed bool
	retired  bool // consumed, spoiled or superseded: never lent again (its Code replayed)
}

// Lease is one check's use of a grant.
type Lease struct {
	b     *Broker
	Grant *Grant
	Use   Use
	// Refresh: the grant's access token is too close to its expiry for a reader; the
	// check holds it alone, refreshes it and calls Refreshed.
	Refresh bool
	done    bool
	// spentAlready: a Replay of a grant consumed before; nothing to give back.
	spentAlready bool
}

// GrantWant says what a check needs of a grant.
type GrantWant struct {
	Use Use
	// Fresh says whether the grant's tokens still serve a reader (their access token far
	// enough from its expiry); nil: always.
	Fresh func(tokens any) bool
	// Wait bounds how long the check waits for a grant another check holds, before it
	// asks for a new consent instead.
	Wait time.Duration
	// Accept says whether a grant suits the check (its consent old enough, say); nil: any.
	Accept func(g *Grant) bool
}

// Lease lends a grant of tpp for want.Use, or returns nil: then the check makes one (a
// code and its exchange) and registers it with Add, or says it could not with Unmake.
func (b *Broker) Lease(ctx context.Context, tpp string, want GrantWant) *Lease {
	deadline := time.Now().Add(want.Wait)
	defer b.wakeAt(ctx, want.Wait)()

	b.mu.Lock()
	defer b.mu.Unlock()
	if want.Use == Replay {
		// A replay spoils the grant its code gave (RFC 6749 section 4.1.2), so it takes
		// the code of a grant another check has consumed, waiting for one while such
		// checks are still to come or under way; only then does it consume one itself.
		for {
			if l := b.spentOf(tpp); l != nil {
				return l
			}
			if b.rem(tpp).Uses[Consume] == 0 && !b.anyHeld(tpp) || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			b.cond.Wait()
		}
		want.Use = Consume
	}
	for {
		busy := false
		for _, g := range b.live(tpp) {
			if want.Accept != nil && !want.Accept(g) {
				continue
			}
			fresh := want.Fresh == nil || want.Fresh(g.Tokens)
			switch {
			case want.Use == Read && !g.held && fresh:
				g.readers++
				return &Lease{b: b, Grant: g, Use: Read}
			case want.Use == Read && !g.held && g.readers == 0:
				g.held = true
				return &Lease{b: b, Grant: g, Use: Read, Refresh: true}
			case want.Use != Read && !g.held && g.readers == 0 && b.mayTake(tpp, g, want.Use):
				g.held, g.consumed = true, want.Use == Consume
				return &Lease{b: b, Grant: g, Use: want.Use}
			case want.Use == Consume && !b.mayTake(tpp, g, want.Use):
				// kept for the readers and changers still to come
			default:
				busy = true
			}
		}
		// A grant another check is making, or one an exchanging check will leave, is
		// worth waiting for: it costs no journey.
		r := b.rem(tpp)
		coming := b.making[tpp] > 0 || r.Exchangers > 0 || b.chainActive(tpp) || b.chainToCome(tpp)
		if !busy && !coming || time.Now().After(deadline) || ctx.Err() != nil {
			b.making[tpp]++
			return nil
		}
		b.cond.Wait()
	}
}

// spentOf lends the code of a grant of tpp that a check consumed, for a replay; nil:
// none yet. b.mu is held.
func (b *Broker) spentOf(tpp string) *Lease {
	for i, g := range b.spent {
		if g.TPP == tpp {
			b.spent = append(b.spent[:i], b.spent[i+1:]...)
			return &Lease{b: b, Grant: g, Use: Replay, spentAlready: true}
		}
	}
	return nil
}

// anyHeld says whether a check holds a grant of tpp alone: it may consume it. b.mu is
// held.
func (b *Broker) anyHeld(tpp string) bool {
	for _, g := range b.grants {
		if g.TPP == tpp && g.held {
			return true
		}
	}
	return false
}

// chainToCome says whether negative checks on codes of tpp have yet to start, at a bank
// whose codes survive a refusal: the last of them will exchange its code. b.mu is held.
func (b *Broker) chainToCome(tpp string) bool {
	return !b.burned && (b.rem(LinkKey(tpp, false)).Links > 0 || b.rem(LinkKey(tpp, true)).Links > 0)
}

// chainActive says whether a code of tpp is going from one negative check to the next:
// the last of them exchanges it, and leaves a grant. b.mu is held.
func (b *Broker) chainActive(tpp string) bool {
	if b.fetching[tpp] > 0 || b.rem(LinkKey(tpp, false)).Links == 0 {
		return b.fetching[tpp] > 0
	}
	for k, n := range b.linkHeld {
		if k.tpp == tpp && n > 0 {
			return true
		}
	}
	for _, c := range b.codes {
		if c.TPP == tpp && len(c.controls) > 0 {
			return true
		}
	}
	return false
}

// mayTake says whether a check that consumes may take g: not the last grant of tpp while
// checks that read or change a grant are still to come (they would need a new consent).
// b.mu is held.
func (b *Broker) mayTake(tpp string, g *Grant, use Use) bool {
	if use != Consume {
		return true
	}
	r := b.rem(tpp)
	if r.Uses[Read]+r.Uses[Mutate] == 0 {
		return true
	}
	for _, o := range b.live(tpp) {
		// Not one another consuming check holds: two such checks, each seeing the
		// other's grant, would otherwise take the last two.
		if o != g && !o.consumed {
			return true
		}
	}
	return false
}

// Become changes what the check that made the grant does with it (Add lent it as it came
// from the code exchange): a check that consumes it says so, for mayTake.
func (l *Lease) Become(use Use) {
	b := l.b
	b.mu.Lock()
	defer b.mu.Unlock()
	l.Use = use
	l.Grant.consumed = use == Consume || use == Replay
}

// live are tpp's grants that may still be lent. b.mu is held.
func (b *Broker) live(tpp string) []*Grant {
	var out []*Grant
	for _, g := range b.grants {
		if g.TPP == tpp && !g.retired {
			out = append(out, g)
		}
	}
	return out
}

// Add registers a grant a check made from code (its consent), lent to that check for use.
func (b *Broker) Add(code *Code, tokens any, use Use) *Lease {
	g := &Grant{TPP: code.TPP, Tokens: tokens, Code: code, psu: code.psu}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release(code)
	b.grants = append(b.grants, g)
	b.cond.Broadcast()
	if use == Read {
		g.readers++
	} else {
		g.held, g.consumed = true, use == Consume || use == Replay
	}
	return &Lease{b: b, Grant: g, Use: use}
}

// Making says a check is making a grant of tpp it will donate (or Unmake).
func (b *Broker) Making(tpp string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.making[tpp]++
}

// Unmake says a check that was to make a grant of tpp did not.
func (b *Broker) Unmake(tpp string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.making[tpp] = max(0, b.making[tpp]-1)
	b.cond.Broadcast()
}

// ExchangerDone says a check that exchanges a code of tpp (and leaves its grant) is over.
func (b *Broker) ExchangerDone(tpp string) {
	b.lower(func() *int { return &b.rem(tpp).Exchangers })
}

// AddKept registers a grant an earlier run kept (its refresh token, from the state
// file), lent to the check that revived it for use: no journey of this run gave it.
func (b *Broker) AddKept(tpp string, tokens any, use Use) *Lease {
	g := &Grant{TPP: tpp, Tokens: tokens}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.grants = append(b.grants, g)
	if use == Read {
		g.readers++
	} else {
		g.held, g.consumed = true, use == Consume || use == Replay
	}
	b.cond.Broadcast()
	return &Lease{b: b, Grant: g, Use: use}
}

// Live returns the grants still lendable, for a state file that outlives the run.
func (b *Broker) Live() []*Grant {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Grant
	for _, g := range b.grants {
		if !g.retired && !g.held && g.readers == 0 {
			out = append(out, g)
		}
	}
	return out
}

// Donate gives the pool a grant a check made for itself and no longer needs.
func (b *Broker) Donate(code *Code, tokens any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release(code)
	b.grants = append(b.grants, &Grant{TPP: code.TPP, Tokens: tokens, Code: code, psu: code.psu})
	b.cond.Broadcast()
}

// Refreshed hands the grant, refreshed, to its reader: it reads it like the others.
func (l *Lease) Refreshed(tokens any) {
	b := l.b
	b.mu.Lock()
	defer b.mu.Unlock()
	l.Grant.Tokens = tokens
	l.Grant.held = false
	l.Grant.readers++
	l.Refresh = false
	b.cond.Broadcast()
}

// Void ends the check's use of a grant that must serve no other check: it is never lent,
// and its code is never replayed (a replay check would then seem to pass, or fail, on a
// code exchanged in a way the others never lend).
func (l *Lease) Void() {
	if l == nil || l.done {
		return
	}
	b := l.b
	b.mu.Lock()
	l.Grant.Code = nil
	b.mu.Unlock()
	l.Release(false, nil)
}

// Release ends the check's use. ok: the check passed and the grant is as good as it left
// it, with tokens its current tokens (a Mutate check refreshed it); otherwise, or for a
// Consume check, the grant is never lent again.
func (l *Lease) Release(ok bool, tokens any) {
	if l == nil || l.done {
		return
	}
	l.done = true
	if l.spentAlready {
		return
	}
	b, g := l.b, l.Grant
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case l.Refresh: // a reader that never refreshed
		g.held = false
		if !ok {
			g.retired = true
		}
	case l.Use == Read:
		g.readers--
	case l.Use == Mutate && ok:
		g.held = false
		if tokens != nil {
			g.Tokens = tokens
		}
	default:
		g.held = false
		g.retired = true
	}
	b.prune()
	b.cond.Broadcast()
}
