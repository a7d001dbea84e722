// Package consent shares the PSU's consents of a run between its checks, so that a run asks
// the PSU for as few strong customer authentications (journeys) as the checks allow.
//
// Against a real bank each journey is a person approving on a phone, or a sandbox persona
// with an OTP: the dearest thing a run spends. So the run keeps what journeys give and
// lends it out:
//   - a Code (the callback's one-time code, not yet exchanged) goes from a negative check
//     to the next while the bank declares that a refused exchange leaves the code alive;
//     the first successful exchange of it is the positive control of every refusal before
//     (the bank refused a code that still worked afterwards), see Code.Defer;
//   - a Grant (the token pair of one consent) is shared by checks that only read its
//     access token, lent to one check at a time when the check changes it (a refresh), and
//     given for good to a check that destroys it (a revocation, a replay).
//
// It also knows the PSU identities of the profile's pool: one journey at a time per PSU
// (banks allow one session per PSU), and, where a new consent supersedes the earlier token
// pair of the same PSU and TPP (options.token_pairs: one_per_psu), never a new consent of
// a PSU and TPP while an earlier one is in use.
package consent

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Use is what a check does with a grant.
type Use int

const (
	// Read: the check only presents the access token (or reads the token response); any
	// number of checks read a grant at once.
	Read Use = iota
	// Mutate: the check refreshes the grant or watches it expire; it holds the grant
	// alone and hands it back, with its current tokens, if it passed.
	Mutate
	// Consume: the check revokes or replays; the grant is its alone and dies with it.
	Consume
	// Replay: the check replays the code the grant came from. It takes a grant another
	// check has consumed (a used code is a used code, whatever became of its tokens), or
	// else one for good.
	Replay
)

func (u Use) String() string {
	return [...]string{"read", "mutate", "consume", "replay"}[u]
}

// Identity is one PSU of the profile's pool: a label for people, and the values its
// scripts fill in ({psu.KEY}).
type Identity struct {
	Label string
	Vars  map[string]string
}

// Options say how the bank treats consents.
type Options struct {
	// Identities is the PSU pool (at least one; the profile's single PSU otherwise).
	Identities []Identity
	// OnePairPerPSU: a new consent of a PSU for a TPP supersedes the earlier token pair.
	OnePairPerPSU bool
	// SlotWait bounds how long a journey waits for a PSU of the pool to be free.
	SlotWait time.Duration
	// Flush exchanges a code that refusals wait on, now (it is taken from the pool): a new
	// consent of its PSU would supersede it.
	Flush func(*Code)
	// OneJourneyAtATime: one person drives every journey (the manual driver), so journeys
	// never overlap, whatever the pool; the checks between them still run side by side.
	OneJourneyAtATime bool
}

// Broker lends the run's codes and grants. Safe for concurrent use.
type Broker struct {
	opts Options
	mu   sync.Mutex
	cond *sync.Cond

	codes    []*Code  // codes in the pool, not held by any check
	grants   []*Grant // grants alive (idle, read or held)
	spent    []*Grant // grants consumed, whose code a Replay check may still replay
	journeys int      // journeys begun
	unsent   int      // journeys begun whose first request was never sent (Ticket.NotSent)
	planned  int      // journeys the plan expects (0: unknown)
	burned   bool     // the bank burns a code on a refused exchange: no chain leaves a grant
	busyPSU  map[int]bool
	next     int // round-robin start over the pool

	// heldCodes counts the codes checks hold, by PSU and TPP: consents under way.
	heldCodes map[key]int
	making    map[string]int // grants checks are making, by TPP
	linkHeld  map[key]int    // codes negative checks hold and will hand back
	fetching  map[string]int // negative checks running a journey for a code, by TPP
	donating  map[string]int // journeys whose code goes to the pool unexchanged, by TPP
	// remaining are the checks still to come, by TPP: negative code checks (links) and
	// grant uses, from the plan, lowered as they start or are skipped.
	remaining map[string]*Remaining
}

// Remaining counts the checks of a TPP still to come.
type Remaining struct {
	Links      int
	Uses       [4]int // by Use
	Exchangers int    // checks that exchange a code and leave the grant to others
	CodeChecks int    // checks about the code exchange itself, which need pristine codes
}

// New returns a broker for opts.
func New(opts Options) *Broker {
	if len(opts.Identities) == 0 {
		opts.Identities = []Identity{{}}
	}
	if opts.SlotWait <= 0 {
		opts.SlotWait = 5 * time.Minute
	}
	b := &Broker{opts: opts, busyPSU: map[int]bool{}, heldCodes: map[key]int{}, making: map[string]int{}, linkHeld: map[key]int{}, fetching: map[string]int{}, donating: map[string]int{}, remaining: map[string]*Remaining{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// SetPlan records the plan: the journeys it expects, and the negative code checks per TPP.
func (b *Broker) SetPlan(p Plan) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.planned = p.Journeys().Total()
	b.burned = p.Burned
	for tpp, r := range p.Remaining {
		c := *r
		b.remaining[tpp] = &c
	}
}

// wakeAt wakes the broker's waiters after d and when ctx ends, so that a wait bounded by
// a deadline or a run's end looks again; the returned func stops both.
func (b *Broker) wakeAt(ctx context.Context, d time.Duration) (stop func()) {
	wake := func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	}
	t := time.AfterFunc(d, wake)
	c := context.AfterFunc(ctx, wake)
	return func() { t.Stop(); c() }
}

// rem returns the counts of tpp. b.mu is held.
func (b *Broker) rem(tpp string) *Remaining {
	r, ok := b.remaining[tpp]
	if !ok {
		r = &Remaining{}
		b.remaining[tpp] = r
	}
	return r
}

// Started says that a check of tpp began: a negative code check (link) or a grant use.
func (b *Broker) Started(tpp string, link bool, use Use, usesGrant bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rem(tpp)
	if link && r.Links > 0 {
		r.Links--
	}
	if usesGrant && r.Uses[use] > 0 {
		r.Uses[use]--
	}
	b.cond.Broadcast()
}

// Counts says how many journeys the run has begun and how many its plan expected.
func (b *Broker) Counts() (begun, planned int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.journeys - b.unsent, b.planned
}

// Ticket is the right to run one journey: which PSU, and its number in the run.
type Ticket struct {
	b        *Broker
	psu      int
	tpp      string
	Identity Identity
	Number   int // 1, 2, ...
	Total    int // the plan's count (0: unknown); may be passed when sharing fails
	done     bool
}

// Journey waits for a PSU of the pool who may consent for tpp now, and counts the journey.
// With one token pair per PSU, a PSU whose earlier consent for tpp is still in use is not
// free; an idle earlier consent is retired (the new consent supersedes it).
func (b *Broker) Journey(ctx context.Context, tpp string) (*Ticket, error) {
	deadline := time.Now().Add(b.opts.SlotWait)
	defer b.wakeAt(ctx, b.opts.SlotWait)()

	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if i, ok := b.freePSU(tpp); ok {
			b.busyPSU[i] = true
			b.next = (i + 1) % len(b.opts.Identities)
			b.journeys++
			return &Ticket{b: b, psu: i, tpp: tpp, Identity: b.opts.Identities[i], Number: b.journeys, Total: max(b.planned, b.journeys)}, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no PSU of the pool (%d) was free for a new consent for %s within %s: each holds a consent still in use and the bank keeps one token pair per PSU and TPP; list more PSUs in psu.identities", len(b.opts.Identities), tpp, b.opts.SlotWait)
		}
		b.cond.Wait()
	}
}

// freePSU picks a PSU not in a journey and, with one pair per PSU, whose consents for tpp
// are all idle grants (retired here) or none. b.mu is held.
func (b *Broker) freePSU(tpp string) (int, bool) {
	n := len(b.opts.Identities)
	best, bestCost := -1, 1<<30
	for _, busy := range b.busyPSU {
		if busy && b.opts.OneJourneyAtATime {
			return best, false
		}
	}
	for k := range n {
		i := (b.next + k) % n
		if b.busyPSU[i] {
			continue
		}
		cost := 0
		if b.opts.OnePairPerPSU {
			ok := true
			kept := b.codes[:0]
			for _, c := range b.codes {
				switch {
				case c.psu != i || c.TPP != tpp:
					kept = append(kept, c)
				case len(c.controls) == 0:
					// Nobody waits on it: the new consent supersedes it.
				case b.opts.Flush != nil:
					c.held = true
					b.heldCodes[key{c.psu, c.TPP}]++
					go b.opts.Flush(c) // refusals wait on it: exchanged now, then the PSU is free
					ok = false
				default:
					kept = append(kept, c)
					ok = false
				}
			}
			b.codes = kept
			for _, g := range b.grants {
				if g.psu == i && g.TPP == tpp && !g.retired {
					if g.readers > 0 || g.held {
						ok = false
					}
					cost++
				}
			}
			if b.heldCodes[key{i, tpp}] > 0 {
				ok = false
			}
			if !ok {
				continue
			}
		}
		if cost < bestCost {
			best, bestCost = i, cost
		}
	}
	if best < 0 {
		return 0, false
	}
	if b.opts.OnePairPerPSU {
		for _, g := range b.grants {
			if g.psu == best && g.TPP == tpp {
				g.retired = true // superseded by the consent about to begin
			}
		}
		b.prune()
	}
	return best, true
}

type key struct {
	psu int
	tpp string
}

// NotSent says that the journey never reached the bank (its endpoint was out of service):
// no PSU authenticated, so it is not counted among the journeys made.
func (t *Ticket) NotSent() {
	if t == nil {
		return
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	t.b.unsent++
}

// Done ends the journey: the PSU is free for another.
func (t *Ticket) Done() {
	if t == nil || t.done {
		return
	}
	t.done = true
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	delete(t.b.busyPSU, t.psu)
	t.b.cond.Broadcast()
}

// prune drops retired grants nobody holds. b.mu is held.
func (b *Broker) prune() {
	kept := b.grants[:0]
	for _, g := range b.grants {
		switch {
		case !g.retired || g.readers > 0 || g.held:
			kept = append(kept, g)
		case g.Code != nil:
			b.spent = append(b.spent, g)
		}
	}
	b.grants = kept
}
