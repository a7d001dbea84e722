package consent

import (
	"context"
	"sync"
	"testing"
	"time"
)

func journeyCode(t *testing.T, b *Broker, tpp string) *Code {
	t.Helper()
	tk, err := b.Journey(context.Background(), tpp)
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Done()
	return tk.NewCode("code-"+tpp, "", time.Now(), time.Now(), time.Time{})
}

// A code refused by one check goes on to the next; its exchange resolves every refusal's
// control, and a code that died resolves them as failed.
func TestRefusedCodeGoesOnAndItsExchangeIsTheControl(t *testing.T) {
	b := New(Options{})
	b.SetPlan(Plan{Remaining: map[string]*Remaining{"primary": {Links: 2}}})
	c := journeyCode(t, b, "primary")
	first := b.Refused(c)
	b.LinkDone("primary")
	if got := b.TakeCode(context.Background(), "primary", CodeWant{Link: true}); got != c {
		t.Fatalf("the next negative check got %v, want the refused code", got)
	}
	if got := b.TakeCode(context.Background(), "primary", CodeWant{Pristine: true}); got != nil {
		t.Fatal("a check about the code exchange itself got a code others had sent")
	}
	second := b.Refused(c)
	b.LinkDone("primary")
	if !b.LastLink("primary") {
		t.Fatal("LastLink is false after every planned negative check")
	}
	if got := b.TakeCode(context.Background(), "primary", CodeWant{Final: true}); got != c {
		t.Fatal("the code was not lent for its final exchange once the negative checks were over")
	}
	b.Exchanged(c, "scenario x")
	for _, ctl := range []*Control{first, second} {
		if resolved, ok, _ := ctl.Result(); !resolved || !ok {
			t.Fatalf("control = %v %v, want resolved ok", resolved, ok)
		}
	}

	d := journeyCode(t, b, "primary")
	third := b.Refused(d)
	b.TakeCode(context.Background(), "primary", CodeWant{})
	b.Dead(d, "invalid_grant")
	if resolved, ok, how := third.Result(); !resolved || ok || how != "invalid_grant" {
		t.Fatalf("control of a dead code = %v %v %q, want resolved, failed, with why", resolved, ok, how)
	}
}

// Readers share a grant; a changer waits for them and holds it alone; a consumer never
// takes the last grant while readers or changers are still to come.
func TestGrantsAreReadTogetherChangedAloneConsumedLast(t *testing.T) {
	b := New(Options{})
	b.SetPlan(Plan{Remaining: map[string]*Remaining{"primary": {Uses: [4]int{2, 1, 1, 0}}}})
	ctx := context.Background()
	if l := b.Lease(ctx, "primary", GrantWant{Use: Read}); l != nil {
		t.Fatal("a grant was lent before any existed")
	}
	g := b.Add(journeyCode(t, b, "primary"), "tokens-1", Read)
	b.Started("primary", false, Read, true)
	r2 := b.Lease(ctx, "primary", GrantWant{Use: Read})
	if r2 == nil || r2.Grant != g.Grant {
		t.Fatal("a second reader did not share the grant")
	}
	b.Started("primary", false, Read, true)
	if l := b.Lease(ctx, "primary", GrantWant{Use: Consume, Wait: 10 * time.Millisecond}); l != nil {
		t.Fatal("a consumer took the only grant while a changer is still to come")
	}
	b.Unmake("primary")
	var m *Lease
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m = b.Lease(ctx, "primary", GrantWant{Use: Mutate, Wait: 5 * time.Second})
	}()
	time.Sleep(20 * time.Millisecond)
	g.Release(true, nil)
	r2.Release(true, nil)
	wg.Wait()
	if m == nil || m.Grant != g.Grant {
		t.Fatal("the changer did not get the grant once its readers were done")
	}
	b.Started("primary", false, Mutate, true)
	m.Release(true, "tokens-2")
	if m.Grant.Tokens != "tokens-2" {
		t.Fatal("the changer's tokens were not kept")
	}
	c := b.Lease(ctx, "primary", GrantWant{Use: Consume})
	if c == nil {
		t.Fatal("the consumer did not get the grant once nothing else was to come")
	}
	c.Release(true, nil)
	if l := b.Lease(ctx, "primary", GrantWant{Use: Read}); l != nil {
		t.Fatal("a consumed grant was lent again")
	}
	b.Unmake("primary")
	if l := b.Lease(ctx, "primary", GrantWant{Use: Replay}); l == nil || l.Grant != g.Grant {
		t.Fatal("a replay did not get the consumed grant's code")
	}
}

// Two consumers, each seeing the other's grant still live, do not take the last two
// grants while a reader is still to come: the second makes a grant of its own.
func TestConsumersLeaveAGrantForTheReadersToCome(t *testing.T) {
	b := New(Options{})
	b.SetPlan(Plan{Remaining: map[string]*Remaining{"primary": {Uses: [4]int{1, 0, 2, 0}}}})
	ctx := context.Background()
	g1 := b.Add(journeyCode(t, b, "primary"), "tokens-1", Read)
	g2 := b.Add(journeyCode(t, b, "primary"), "tokens-2", Read)
	g1.Release(true, nil)
	g2.Release(true, nil)
	c1 := b.Lease(ctx, "primary", GrantWant{Use: Consume})
	if c1 == nil {
		t.Fatal("the first consumer got no grant, with two live")
	}
	b.Started("primary", false, Consume, true)
	if c2 := b.Lease(ctx, "primary", GrantWant{Use: Consume, Wait: 10 * time.Millisecond}); c2 != nil {
		t.Fatal("the second consumer took the last grant not consumed while a reader is still to come")
	}
	b.Unmake("primary")
	if r := b.Lease(ctx, "primary", GrantWant{Use: Read}); r == nil || r.Grant == c1.Grant {
		t.Fatal("the reader did not get the grant the consumers left")
	}
}

// With one token pair per PSU, a PSU whose consent for a TPP is in use is not sent on a
// new journey for that TPP; the pool's other PSUs are, and a lone PSU waits.
func TestOnePairPerPSUNeverSupersedesAGrantInUse(t *testing.T) {
	b := New(Options{Identities: []Identity{{Label: "a"}, {Label: "b"}}, OnePairPerPSU: true, SlotWait: 50 * time.Millisecond})
	ctx := context.Background()
	c1 := journeyCode(t, b, "primary")
	l1 := b.Add(c1, "t1", Mutate)
	tk, err := b.Journey(ctx, "primary")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Identity.Label != "b" {
		t.Fatalf("the new consent went to PSU %q, whose grant is in use", tk.Identity.Label)
	}
	c2 := tk.NewCode("c2", "", time.Now(), time.Now(), time.Time{})
	tk.Done()
	l2 := b.Add(c2, "t2", Read)
	if _, err := b.Journey(ctx, "primary"); err == nil {
		t.Fatal("a journey began while every PSU's consent for the TPP was in use")
	}
	if tk, err := b.Journey(ctx, "second"); err != nil {
		t.Fatalf("another TPP's consent was held back: %v", err)
	} else {
		tk.Done()
	}
	l1.Release(true, "t1")
	tk3, err := b.Journey(ctx, "primary")
	if err != nil || tk3.Identity.Label != "a" {
		t.Fatalf("after its grant was released, PSU a was not free: %v", err)
	}
	tk3.Done()
	if l := b.Lease(ctx, "primary", GrantWant{Use: Read}); l == nil || l.Grant == l1.Grant {
		t.Fatal("the grant superseded by the new consent of its PSU was still lent")
	}
	l2.Release(true, nil)
}

// One journey at a time per PSU, even for different TPPs: banks allow one session per PSU.
func TestOneJourneyAtATimePerPSU(t *testing.T) {
	b := New(Options{SlotWait: 30 * time.Millisecond})
	tk, err := b.Journey(context.Background(), "primary")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Journey(context.Background(), "second"); err == nil {
		t.Fatal("a second journey of the only PSU began while the first was under way")
	}
	tk.Done()
	if tk2, err := b.Journey(context.Background(), "second"); err != nil || tk2.Number != 2 {
		t.Fatalf("journey after the first: %v (number %v)", err, tk2)
	}
}

func TestPlanCountsJourneys(t *testing.T) {
	p := Plan{
		Remaining:  map[string]*Remaining{"primary": {Links: 7, Uses: [4]int{8, 6, 4, 1}}, "second": {Links: 1, Uses: [4]int{1, 1, 0, 0}}},
		CodeChecks: map[string]int{"primary": 4},
		Exchangers: map[string]int{"primary": 4},
		Donated:    map[string]int{"primary": 1},
		Approvals:  2, Refusals: 1, Abandons: 1, Wrong: 5,
	}
	c := p.Journeys()
	// 2 + 3 codes for the code checks + 1 chain + 0 extra grants (4 consumers and 1 kept
	// for the readers, 5 made) for primary; 1 chain for second. Burned: a code per
	// negative check (7 + 1), no chain leaves a grant (primary needs 1 more), and the
	// second TPP's grant needs its own consent.
	if c.Approvals != 7 || c.SCA() != 8 || c.Total() != 14 {
		t.Fatalf("Journeys() = %+v", c)
	}
	p.Burned = true
	if c := p.Journeys(); c.Approvals != 15 {
		t.Fatalf("with burned codes, Journeys() = %+v, want a code per negative check", c)
	}
	// The chain under a PKCE challenge and a code exchanged with a scope the bank ignores
	// leave grants of their TPP: with them, primary needs no consent beyond its codes.
	p.Burned = false
	p.Remaining["primary"].Uses[Consume] = 6
	p.Remaining[LinkKey("primary", true)] = &Remaining{Links: 2}
	p.ScopeGrants = map[string]int{"primary": 1}
	if c := p.Journeys(); c.Approvals != 8 {
		t.Fatalf("with a PKCE chain and a scope grant, Journeys() = %+v, want 8 approvals (a code for the PKCE chain, no extra grant)", c)
	}
}

// A replay (TOKEN-07) spoils the grant whose code it sends: it waits for a grant another
// check consumes rather than consume one of its own, and takes only its TPP's.
func TestReplayWaitsForAConsumedGrant(t *testing.T) {
	b := New(Options{})
	b.SetPlan(Plan{Remaining: map[string]*Remaining{"primary": {Uses: [4]int{0, 0, 1, 1}}, "second": {Uses: [4]int{0, 0, 1, 0}}}})
	ctx := context.Background()
	second := b.Add(journeyCode(t, b, "second"), "second-tokens", Consume)
	b.Started("second", false, Consume, true)
	second.Release(true, nil) // consumed: its code may be replayed, but only as second's
	b.Add(journeyCode(t, b, "primary"), "tokens-1", Read).Release(true, nil)

	got := make(chan *Lease, 1)
	go func() { got <- b.Lease(ctx, "primary", GrantWant{Use: Replay, Wait: 5 * time.Second}) }()
	select {
	case l := <-got:
		t.Fatalf("the replay did not wait for the consumer still to come: got %+v", l)
	case <-time.After(50 * time.Millisecond):
	}
	c := b.Lease(ctx, "primary", GrantWant{Use: Consume})
	if c == nil {
		t.Fatal("the consumer found no grant")
	}
	b.Started("primary", false, Consume, true)
	c.Release(true, nil)
	l := <-got
	if l == nil || l.Grant != c.Grant || l.Use != Replay {
		t.Fatalf("the replay got %+v, want the code of the grant the consumer spent", l)
	}
}

// A check that needs a grant waits for the negative code checks still to start: the last
// of them exchanges its code and leaves a grant. Not at a bank that burns codes.
func TestLeaseWaitsForAChainToCome(t *testing.T) {
	for _, burned := range []bool{false, true} {
		b := New(Options{})
		b.SetPlan(Plan{Burned: burned, Remaining: map[string]*Remaining{"second": {Links: 1, Uses: [4]int{0, 1, 0, 0}}}})
		start := time.Now()
		l := b.Lease(context.Background(), "second", GrantWant{Use: Mutate, Wait: 100 * time.Millisecond})
		waited := time.Since(start) >= 100*time.Millisecond
		if l != nil || waited == burned {
			t.Errorf("burned=%v: lease %v after waiting %v; want nil, after the wait only where codes survive", burned, l, time.Since(start))
		}
	}
}

// A grant voided (exchanged with a scope, and not lendable) is never replayed.
func TestVoidedGrantIsNotReplayed(t *testing.T) {
	b := New(Options{})
	b.SetPlan(Plan{Remaining: map[string]*Remaining{"primary": {Uses: [4]int{0, 0, 0, 1}}}})
	b.Add(journeyCode(t, b, "primary"), "scoped-tokens", Mutate).Void()
	if l := b.Lease(context.Background(), "primary", GrantWant{Use: Replay}); l != nil {
		t.Fatalf("the replay got the code of a voided grant: %+v", l)
	}
}

// A TPP's grants and codes of one role never serve a check of the other, and the plan
// counts a consent for each role its checks need.
func TestRolesKeepTheirOwnGrantsAndCodes(t *testing.T) {
	aisp, cbpii := Key("primary", ""), Key("primary", "cbpii")
	if aisp != "primary" || aisp != Key("primary", RoleAISP) || cbpii == aisp {
		t.Fatalf("keys %q and %q", aisp, cbpii)
	}
	if tpp, role := SplitKey(cbpii); tpp != "primary" || role != "cbpii" {
		t.Fatalf("SplitKey(%q) = %q, %q", cbpii, tpp, role)
	}
	if tpp, role := SplitKey(aisp); tpp != "primary" || role != RoleAISP {
		t.Fatalf("SplitKey(%q) = %q, %q", aisp, tpp, role)
	}
	b := New(Options{})
	ctx := context.Background()
	code := journeyCode(t, b, cbpii)
	b.Return(code, false)
	if got := b.TakeCode(ctx, aisp, CodeWant{}); got != nil {
		t.Fatal("an aisp check got a code of the PSU's cbpii consent")
	}
	if got := b.TakeCode(ctx, cbpii, CodeWant{}); got != code {
		t.Fatal("a cbpii check did not get the cbpii code")
	}
	g := b.Add(code, "cbpii-tokens", Read)
	g.Release(true, nil)
	if l := b.Lease(ctx, aisp, GrantWant{Use: Read}); l != nil {
		t.Fatal("an aisp check read a cbpii grant")
	}
	if l := b.Lease(ctx, cbpii, GrantWant{Use: Read}); l == nil || l.Grant != g.Grant {
		t.Fatal("a cbpii check did not read the cbpii grant")
	}

	plan := Plan{Remaining: map[string]*Remaining{aisp: {Uses: [4]int{3, 1, 0, 0}}, cbpii: {Uses: [4]int{2, 1, 0, 0}}}}
	if got := plan.Journeys().Approvals; got != 2 {
		t.Fatalf("a plan with aisp and cbpii grant uses counts %d approvals, want 2 (one consent per role)", got)
	}
}

// An expiry check about to watch a token takes back, for an exchange now, the codes that
// would not outlive its watch; the others only lose their hold on its gate and stay in
// the pool for the negative checks still to come.
func TestClaimGatedLeavesTheCodesThatOutliveTheWatch(t *testing.T) {
	b := New(Options{})
	tk, err := b.Journey(context.Background(), "primary")
	if err != nil {
		t.Fatal(err)
	}
	short := tk.NewCode("short", "", time.Now(), time.Now(), time.Now().Add(time.Second))
	long := tk.NewCode("long", "", time.Now(), time.Now(), time.Now().Add(time.Hour))
	tk.Done()
	short.Gate, long.Gate = "hold-short", "hold-long"
	b.Refused(short)
	b.Refused(long)
	watchEnd := time.Now().Add(time.Minute)
	claimed, released := b.ClaimGated("primary", func(c *Code) bool { return c.UsableUntil.After(watchEnd) })
	if len(claimed) != 1 || claimed[0] != short {
		t.Fatalf("claimed %v, want the short-lived code only", claimed)
	}
	if len(released) != 1 || released[0] != "hold-long" || long.Gate != nil {
		t.Fatalf("released %v (long's gate %v), want the long-lived code's hold", released, long.Gate)
	}
	if c := b.TakeCode(context.Background(), "primary", CodeWant{Link: true}); c != long {
		t.Fatal("the long-lived code did not stay in the pool for the next negative check")
	}
}
