// The consent plan in the steps: what each scenario asks of the PSU (internal/consent
// lends it), read from its sentences, and the scenario's side of the loans.

package steps

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/consent"
	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/state"
)

// demand is what one scenario asks of the PSU's consents.
type demand struct {
	link      string // a negative check on a code, then "the code still works for" this TPP
	pkceLink  bool   // on a code under a PKCE challenge
	codeCheck string // a check about the code exchange itself: a code no check has sent
	grant     string // the TPP whose grant (token pair) the scenario's precondition needs
	use       consent.Use
	exchanger bool // it exchanges its code successfully: the grant is left for others
	// scopeAtToken: it exchanges its code with a scope, against STET's rule (TOKEN-15).
	scopeAtToken bool
	needsCode    bool // it replays the code of its grant
	young        bool // it watches a refresh token young (REFRESH-13); old: REFRESH-10
	old          bool
	// watchesExpiry: it watches its grant's access token expire (BEARER-04), which must
	// have time left for that.
	watchesExpiry bool

	// reads: the grants of other keys it reads as well (BEARER-06's control, the second
	// TPP's own token).
	reads []string

	approve, refuse string // a When journey that others with the same key share
	pkceJourney     bool   // a When approval with a PKCE challenge
	abandon, wrong  bool   // a When abandon, a deliberately wrong request
	role            bool   // the TPP lacking a role asks with the PSU's approval
}

// The sentences that say what a scenario does with a consent. They are the features'
// words (their code is in each feature's steps file); here only what they cost the PSU.
var (
	linkRe     = regexp.MustCompile(`^the code still works for the ` + tpp + ` TPP`)
	approvedRe = regexp.MustCompile(`^the PSU has approved the authorization request of the ` + tpp + ` TPP`)
	grantRe    = regexp.MustCompile(`^the ` + tpp + ` TPP (?:has exchanged a code for tokens|holds tokens from the PSU's consent|has refreshed its access token|holds a refresh token (younger|older) than)`)
	// A grant of the PSU's consent for the cbpii scope: kept apart from the TPP's aisp
	// grants (consent.Key).
	cbpiiGrantRe = regexp.MustCompile(`^the ` + tpp + ` TPP holds a cbpii token from the PSU's consent`)
	ownTokenRe   = regexp.MustCompile(`^the ` + tpp + ` TPP's own (cbpii )?access token`)
	consumeRe    = regexp.MustCompile(`revokes its refresh token$|has revoked its access token$|refreshes again with the previous refresh token$|exchanges the same code again$|holds a refresh token (?:younger|older) than|refreshes the primary TPP's refresh token`)
	mutateRe     = regexp.MustCompile(`refreshes|has refreshed|shortly before it expires|has expired|revokes the primary TPP's refresh token`)
	// A code exchanged with a scope, against STET's rule (TOKEN-15), leaves no grant to
	// others: a bank that serves only such requests must not seem to serve the checks
	// that need a grant.
	exchangeRe  = regexp.MustCompile(`exchanges the code at the token endpoint without a scope$|exchanges the code with its code_verifier$`)
	whenJourney = regexp.MustCompile(`^the PSU (approves|refuses) the authorization request of the (primary|second) TPP$`)
)

// leavesGrant says whether the scenario's exchange of its code leaves a grant the other
// checks may use: an exchange the STET way, or one with a scope the bank declares it
// ignores (TOKEN-15; lent once an exchange without a scope has worked).
func (d demand) leavesGrant(p *profile.Profile) bool {
	return d.exchanger || d.scopeAtToken && p.Options.ScopeAtToken == "ignored"
}

// demandOf reads a scenario's sentences.
func demandOf(texts []string) demand {
	var d demand
	approved := ""
	for _, t := range texts {
		if m := linkRe.FindStringSubmatch(t); m != nil {
			d.link = m[1]
		}
		if m := approvedRe.FindStringSubmatch(t); m != nil {
			approved = m[1]
			d.pkceLink = strings.HasSuffix(t, "with a PKCE challenge")
		}
		if m := grantRe.FindStringSubmatch(t); m != nil && d.grant == "" {
			d.grant = m[1]
			d.young, d.old = m[2] == "younger", m[2] == "older"
		}
		if m := cbpiiGrantRe.FindStringSubmatch(t); m != nil && d.grant == "" {
			d.grant = consent.Key(m[1], profile.RoleCBPII)
		}
		if m := ownTokenRe.FindStringSubmatch(t); m != nil {
			role := ""
			if m[2] != "" {
				role = profile.RoleCBPII
			}
			d.reads = append(d.reads, consent.Key(m[1], role))
		}
		if m := whenJourney.FindStringSubmatch(t); m != nil {
			if m[1] == "approves" {
				d.approve = m[2]
			} else {
				d.refuse = m[2]
			}
		}
		switch {
		case strings.HasPrefix(t, "the PSU approves the authorization request of the primary TPP with a PKCE challenge"):
			d.pkceJourney, d.exchanger = true, true
		case strings.HasPrefix(t, "the PSU abandons"):
			d.abandon = true
		case strings.HasPrefix(t, "the PSU goes through"):
			// A deliberately wrong request, or AUTHZ-10's for both roles at once, which a
			// bank refuses at its first page (one that splits it lets the PSU authenticate:
			// the plan then counts one SCA short).
			d.wrong = true
		case strings.HasPrefix(t, "the TPP without the AISP role asks"), strings.HasPrefix(t, "the TPP without the CBPII role asks"):
			d.role = true
		}
		if exchangeRe.MatchString(t) && !d.pkceJourney {
			d.exchanger = true
		}
		if strings.Contains(t, "exchanges the same code again") {
			d.needsCode = true
		}
		if strings.Contains(t, "shortly before it expires") {
			d.watchesExpiry = true
		}
	}
	if d.grant != "" {
		for _, t := range texts {
			switch {
			case strings.Contains(t, "exchanges the same code again"):
				d.use = consent.Replay
			case consumeRe.MatchString(t) && d.use != consent.Replay:
				d.use = consent.Consume
			case mutateRe.MatchString(t) && d.use < consent.Mutate:
				d.use = consent.Mutate
			}
		}
	}
	if approved != "" && d.link == "" {
		d.codeCheck = approved
	}
	if d.link != "" {
		d.exchanger = false
	}
	for _, t := range texts {
		if strings.Contains(t, "outlived the code lifetime") || strings.Contains(t, "with the scope it asked for") {
			d.exchanger = false
		}
		if strings.Contains(t, "with the scope it asked for") {
			d.scopeAtToken = true
		}
	}
	return d
}

// Plan works out, before the first request, what the selected scenarios will ask of the
// PSU. scenarios are those the run selected; those that do not apply to the bank are left
// out as the run leaves them out.
func Plan(p *profile.Profile, scenarios []features.Scenario) consent.Plan {
	plan := consent.Plan{Remaining: map[string]*consent.Remaining{}, CodeChecks: map[string]int{},
		Exchangers: map[string]int{}, Donated: map[string]int{}, ScopeGrants: map[string]int{}, Burned: p.Options.CodeAfterRefusal == "burned"}
	// A refresh token's end that the run cannot wait for is watched by a later run, from
	// the state file: no grant of this run goes to it.
	endInThisRun := p.Options.RefreshTokenLifetime+lifetimeMargin(p) <= p.Options.MaxExpiryWait
	rem := func(tpp string) *consent.Remaining {
		if plan.Remaining[tpp] == nil {
			plan.Remaining[tpp] = &consent.Remaining{}
		}
		return plan.Remaining[tpp]
	}
	approvals, refusals := map[string]bool{}, map[string]bool{}
	for _, s := range scenarios {
		if na, skip := applies(p, s.Tags); na != "" || skip != "" {
			continue
		}
		d := demandOf(s.Steps)
		if d.link != "" {
			rem(consent.LinkKey(d.link, d.pkceLink)).Links++
		}
		if d.grant != "" && (!d.old || endInThisRun) {
			rem(d.grant).Uses[d.use]++
		}
		for _, k := range d.reads {
			rem(k).Uses[consent.Read]++
		}
		if d.leavesGrant(p) && !d.exchanger {
			plan.ScopeGrants[cmpOr(d.codeCheck, "primary")]++
		}
		if d.codeCheck != "" {
			plan.CodeChecks[d.codeCheck]++
			rem(d.codeCheck).CodeChecks++
		}
		if d.exchanger {
			plan.Exchangers[cmpOr(d.codeCheck, "primary")]++
		}
		if d.leavesGrant(p) {
			rem(cmpOr(d.codeCheck, "primary")).Exchangers++ // its grant is worth waiting for
		}
		if d.approve != "" && !approvals[d.approve] {
			approvals[d.approve] = true
			plan.Approvals++
			plan.Donated[d.approve]++
		}
		if d.refuse != "" && !refusals[d.refuse] {
			refusals[d.refuse] = true
			plan.Refusals++
		}
		switch {
		case d.pkceJourney, d.role:
			plan.Approvals++
		case d.abandon:
			plan.Abandons++
		case d.wrong:
			plan.Wrong++
		}
	}
	return plan
}

// applies says why a scenario with these tags does not apply to the bank (na) or cannot
// be checked with this profile (skip); both empty: it runs.
func applies(p *profile.Profile, tags []string) (na, skip string) {
	for _, t := range tags {
		// @client:NAME needs the profile's client NAME; @client:NAME:ROLE, one whose
		// certificate carries the PSD2 role ROLE as well.
		if name, ok := strings.CutPrefix(t, "@client:"); ok {
			name, role, _ := strings.Cut(name, ":")
			switch c := p.ClientByName(name); {
			case c == nil:
				// A missing optional client is the profile's gap, not the bank's choice: the
				// check is skipped (a required one leaves the run incomplete), with what to add.
				skip = fmt.Sprintf("the bank profile has no clients.%s: add one to check this (see fixtures/banks/template.yaml)", name)
			case role != "" && c.Leaf != nil && !eidas.HasRole(c.Leaf, eidas.Role(role)):
				skip = fmt.Sprintf("the certificate of clients.%s lacks the PSD2 role %s that this check needs: give it the QWAC of a TPP that holds %s to check this", name, role, role)
			}
		}
		if t == "@client:expired" {
			if e, pr := p.ClientByName("expired"), p.ClientByName("primary"); e != nil && pr != nil &&
				(e.Leaf == nil || time.Now().Before(e.Leaf.NotAfter) || e.OrganizationIdentifier() != pr.OrganizationIdentifier()) {
				skip = "clients.expired is not an expired certificate carrying the primary TPP's organizationIdentifier: replace it to check this (see stetconform profile check)"
			}
		}
		if t == "@option:revoke" && p.Endpoints.Revoke == "" {
			na = "the bank profile declares no revocation endpoint (endpoints.revoke)"
		}
		if t == "@option:signing" && (p.Signing == nil || !p.Signing.Required) {
			na = "the bank profile does not declare signing.required (that the bank refuses unsigned requests)"
		}
		if t == "@option:abandon" && len(p.PSU.Abandon) == 0 && p.PSU.Driver != "manual" {
			na = "the bank profile declares no psu.abandon script (how the PSU interrupts the journey)"
		}
		if t == "@option:cbpii" && !p.HasRole(profile.RoleCBPII) {
			na = cbpiiNotDeclared
		}
		if t == "@pkce" && p.Options.PKCE == "none" {
			na = "the bank profile declares options.pkce: none"
		}
	}
	return na, skip
}

// beginJourney waits for a PSU of the pool free to consent for the TPP whose callback the
// journey ends on, before the journey counts as a consent under way (the expiry gate).
func (w *World) beginJourney(ctx context.Context, callback string) error {
	b := w.env.Consents
	if b == nil {
		return nil
	}
	w.endJourney()
	if w.heldCode == nil {
		// Waiting for a free PSU must not hold the expiry gate (a PSU's holder may wait
		// for a watch that waits for this consent); a live code keeps its consent.
		w.leaveConsent()
	}
	name := "primary"
	for _, n := range []string{"primary", "second", "without_aisp_role", "without_cbpii_role"} {
		if c := w.p.ClientByName(n); c != nil && c.RedirectURI == callback {
			name = n
			break
		}
	}
	t, err := b.Journey(ctx, consent.Key(name, w.role))
	if err != nil {
		return w.inconclusive("%v", err)
	}
	w.ticket = t
	return nil
}

// endJourney frees the PSU of the scenario's last journey, if it still holds it.
func (w *World) endJourney() {
	w.lastTicket.Done()
	w.lastTicket = nil
}

// codeMargin is how long a code must stay usable for a check to take it: a request or two.
func (w *World) codeMargin() time.Duration {
	m := min(w.p.Timeouts.Request, 2*time.Second)
	if life := w.p.Options.CodeLifetime - w.p.Options.ExpirySkew; life > 0 {
		m = min(m, life/4) // a short-lived code is passed on for a quarter of its life
	}
	return max(200*time.Millisecond, m)
}

// key names c's codes and grants of the role the scenario's consents are for: a check of
// one role never borrows a code or a grant of the other (consent.Key).
func (w *World) key(c *profile.Client) string { return consent.Key(c.Name, w.role) }

// roleOf is the World's role for a key's role: "" for aisp.
func roleOf(role string) string {
	if role == consent.RoleAISP {
		return ""
	}
	return role
}

// takeCode lends the scenario a code of c from the pool when one suits it; false: the
// scenario runs a journey.
func (w *World) takeCode(ctx context.Context, c *profile.Client, final bool) bool {
	b := w.env.Consents
	if b == nil {
		return false
	}
	key := w.key(c)
	want := consent.CodeWant{PKCE: w.verifier != "", Pristine: w.demand.codeCheck == key, Margin: w.codeMargin(), Final: final}
	switch {
	case w.demand.link == key && w.p.Options.CodeAfterRefusal == "burned":
		want.Pristine = true // its refusal may be the code's own fault otherwise
	case w.demand.link == key && !final:
		want.Link = true
	}
	want.Wait = w.p.Timeouts.PSUJourney + w.p.Timeouts.Request
	code := b.TakeCode(ctx, key, want)
	if code == nil {
		if want.Link {
			w.fetching = key // until keepCode, or the scenario's end
		}
		if want.Pristine {
			b.CodeCheckStarted(key)
		}
		return false
	}
	w.heldCode, w.code, w.verifier, w.codeReceived, w.codeLeftToExpire = code, code.Value, code.Verifier, code.At, false
	w.inheritGate(code)
	w.journeyStarted = code.Began
	how := "a code no check has sent yet"
	if !code.Pristine {
		how = "a code earlier checks of this run sent and saw refused"
	}
	w.note("no new PSU journey: %s of %s, from a journey of this run %s ago", how, c.Describe(), time.Since(code.At).Round(time.Millisecond))
	return true
}

// keepCode records the code a journey of this scenario brought, for the pool.
func (w *World) keepCode(value string) {
	t := w.lastTicket
	if t == nil {
		return
	}
	w.lastTicket = nil
	defer t.Done() // once the code counts as held: the PSU is free for another consent
	var until time.Time
	if life := w.p.Options.CodeLifetime; life > 0 {
		until = time.Now().Add(life - w.p.Options.ExpirySkew)
	}
	w.heldCode = t.NewCode(value, w.verifier, w.journeyStarted, time.Now(), until)
	if w.fetching != "" {
		w.env.Consents.Fetched(w.fetching, w.heldCode)
		w.fetching = ""
	}
}

// codeSent notes a token request that carried the held code, and whether it got tokens:
// then the code worked, and every refusal of it before had a live code.
func (w *World) codeSent(code string, cert *profile.Client, a *answer) {
	hc := w.heldCode
	if hc == nil || code != hc.Value {
		return
	}
	w.heldCodeSent = true
	if a != nil && a.err == nil && a.status == http.StatusOK && a.str("access_token") != "" {
		b := w.env.Consents
		if cert != nil && w.key(cert) == hc.TPP {
			// The grant counts as the scenario's from the answer on, before the code stops
			// counting as held: no new consent of its PSU may supersede it in between.
			t := newTokenSet(cert, a)
			t.consentAt, t.consentFrom = hc.At, hc.Began
			w.spentLease = b.Add(hc, t, consent.Mutate)
		}
		b.Exchanged(hc, "scenario "+w.res.ID)
		w.heldCode = nil
	}
}

// deferControl hands the code on to the next check after a refusal, with this check's
// positive control waiting for the code's next exchange.
func (w *World) deferControl(c *profile.Client) bool {
	code := w.heldCode
	// A code alive in the pool is a consent under way: an expiry check must not watch a
	// token of the TPP meanwhile (expiry_gate.go), nor hold back the code's exchange. When
	// an expiry check watches, or waits to, the code goes on only if it outlives the watch,
	// without a hold on the gate (its exchange waits for the watch); otherwise this check
	// exchanges it now, within the consent it holds, which the watch waits for.
	g := w.env.gate(c.ClientID)
	if w.consentGate == nil {
		since, ok := g.tryEnterConsent()
		if ok {
			w.consentGate, w.consentSince = g, since
		}
	}
	if watchesUntil, watching := g.watching(); watching {
		if !outlives(code, watchesUntil.Add(2*w.codeMargin())) {
			return false
		}
		w.leaveConsent()
	}
	if w.consentGate != nil {
		code.Gate = &gateHold{w.consentGate, w.consentSince}
		w.consentGate = nil
	}
	w.deferred = w.env.Consents.Refused(code)
	w.heldCode = nil
	// If no check takes the code on before it is about to expire, the run exchanges it
	// then: the refusals' positive control, and a grant for the checks still to come.
	wait := 30 * time.Second
	if !code.UsableUntil.IsZero() {
		wait = time.Until(code.UsableUntil) - 2*w.codeMargin()
	}
	time.AfterFunc(max(wait, 0), func() {
		w.env.lastExchange(context.Background(), code, "before it expired, no other check having taken it")
	})
	w.note("positive control: the same code goes on to the next check of %s; its next exchange, which must succeed, tells whether it still worked after this refusal", c.Describe())
	return true
}

// gateHold is a consent of the expiry gate that goes with a code from check to check.
type gateHold struct {
	g     *gate
	since time.Time
}

// inheritGate takes over the gate consent a code carries, if any. It counts from now:
// a watch flushes the codes in the pool (flushCodes), so what it waits for is the exchange
// under way, not the code's time in the pool.
func (w *World) inheritGate(code *consent.Code) {
	if h, ok := code.Gate.(*gateHold); ok {
		code.Gate = nil
		w.leaveConsent()
		w.consentGate, w.consentSince = h.g, time.Now()
	}
}

// flushCodes lets go of the holds that codes in the pool keep on clientID's gate (codes of
// either role), so that an expiry check about to watch a token of that TPP, until
// watchEnd, does not wait for them: a code that outlives the watch stays in the pool for
// the checks still to come (its exchange will wait for the watch); any other is exchanged
// at once.
func (e *Env) flushCodes(clientID string, watchEnd time.Time) {
	if e.Consents == nil {
		return
	}
	for _, key := range []string{"primary", "second", consent.Key("primary", profile.RoleCBPII), consent.Key("second", profile.RoleCBPII)} {
		n, _ := consent.SplitKey(key)
		if c := e.Profile.ClientByName(n); c != nil && c.ClientID == clientID {
			flush, released := e.Consents.ClaimGated(key, func(code *consent.Code) bool { return outlives(code, watchEnd) })
			for _, h := range released {
				if h, ok := h.(*gateHold); ok {
					// Ended now, not timed: its time in the pool is no consent's length, and
					// would stretch the gate's lead (gateLead).
					h.g.leaveConsent(time.Now())
				}
			}
			for _, code := range flush {
				go e.exchangeFor(context.Background(), code, "when an expiry check began, no other check having taken it")
			}
		}
	}
}

// outlives says whether code may still be sent after t.
func outlives(code *consent.Code, t time.Time) bool {
	return code.UsableUntil.IsZero() || code.UsableUntil.After(t)
}

// withDeferred turns a passed scenario whose deferred positive control did not succeed
// into an inconclusive one.
func (w *World) withDeferred(r report.ScenarioResult) report.ScenarioResult {
	if w.deferred == nil || (r.Verdict != report.Passed && r.Verdict != report.Warning) {
		return r
	}
	resolved, ok, how := w.deferred.Result()
	switch {
	case resolved && ok:
		r.Notes = append(r.Notes, "positive control: the same code, exchanged later as it should be ("+how+"), got tokens: it still worked after this refusal")
	case resolved:
		r.Verdict = report.Inconclusive
		r.Reason = "positive control failed: the same code did not work at its next exchange (" + how + "), so the refusal may have been the code's end, not what this check altered; if the bank burns a code on a refused exchange, declare options.code_after_refusal: burned"
	default:
		r.Verdict = report.Inconclusive
		r.Reason = "positive control missing: the same code was never exchanged again in this run"
	}
	return r
}

// lease gives the scenario a grant of c from the pool, refreshed if its access token is
// near its end; false: the scenario makes one.
func (w *World) lease(ctx context.Context, c *profile.Client) bool {
	b := w.env.Consents
	if b == nil {
		return false
	}
	key := w.key(c)
	use := consent.Read
	if w.demand.grant == key {
		use = w.demand.use
	}
	want := consent.GrantWant{Use: use, Fresh: w.freshTokens, Wait: min(w.p.Timeouts.Request, 10*time.Second)}
	life, margin := w.p.Options.RefreshTokenLifetime, w.lifetimeMargin()
	want.Accept = func(g *consent.Grant) bool {
		t := g.Tokens.(*tokenSet)
		if (use != consent.Read || !w.freshTokens(t)) && time.Since(t.consentFrom) > life/2 {
			// Its refresh token is in the second half of its lifetime: on a loaded machine
			// or a slow bank, a refresh sent now might arrive after its end.
			return false
		}
		switch {
		case w.demand.needsCode && g.Code == nil, t.refresh == "" && use != consent.Read:
			return false
		case w.demand.young:
			return time.Since(t.consentFrom) < life-margin-w.codeMargin()
		case w.demand.old:
			return time.Since(t.consentFrom) < life/2
		}
		return true
	}
	for range 3 {
		l := b.Lease(ctx, key, want)
		if l == nil {
			w.making = key // until registerGrant, or the scenario's end
			return false
		}
		b.Started(key, false, use, true)
		t := *l.Grant.Tokens.(*tokenSet)
		w.tokens, w.previous = &t, nil
		if l.Grant.Code != nil {
			w.code, w.verifier = l.Grant.Code.Value, l.Grant.Code.Verifier
		}
		if l.Refresh || (use != consent.Read && !w.freshTokens(&t)) {
			a := w.postToken(ctx, c, refreshForm(t.refresh, c.ClientID))
			if err := w.keepRefreshed(c, a); err != nil {
				l.Release(false, nil)
				w.note("a grant of this run could not be refreshed (%s): it is not lent again", a)
				continue
			}
			w.previous = nil
			if l.Refresh {
				nt := *w.tokens
				l.Refreshed(&nt)
			}
			w.note("the shared grant's access token was near its end: refreshed (no new consent)")
		}
		w.leases = append(w.leases, l)
		w.note("no new PSU journey: %s the token pair of a consent of this run (%s ago)", map[consent.Use]string{consent.Read: "reads, with other checks,", consent.Mutate: "borrows", consent.Consume: "takes for good", consent.Replay: "replays the code of"}[use], time.Since(t.consentAt).Round(time.Millisecond))
		return true
	}
	return false
}

// freshTokens says whether a grant's access token lives long enough for a check to use it
// (for an expiry check, to watch it expire).
func (w *World) freshTokens(v any) bool {
	t := v.(*tokenSet)
	exp := t.expiresAt()
	if exp.IsZero() {
		return true
	}
	if w.demand.watchesExpiry && !w.watchable(t) {
		return false
	}
	margin := max(500*time.Millisecond, min(time.Duration(t.expiresIn*float64(time.Second))/3, time.Minute))
	return time.Until(exp) > margin
}

// poolKept lends the grant an earlier run kept, revived by this scenario, to the run's
// other checks as well.
func (w *World) poolKept(c *profile.Client) {
	b, key := w.env.Consents, w.key(c)
	if b == nil || w.demand.grant != key {
		return
	}
	b.Started(key, false, w.demand.use, true)
	t := *w.tokens
	w.leases = append(w.leases, b.AddKept(key, &t, w.demand.use))
	if w.making == key {
		b.Unmake(key)
		w.making = ""
	}
}

// registerGrant lends the grant this scenario just made to itself, for the pool.
func (w *World) registerGrant(c *profile.Client) {
	b, l := w.env.Consents, w.spentLease
	if b == nil || l == nil || w.tokens == nil {
		return
	}
	key := w.key(c)
	use := consent.Read
	if w.demand.grant == key {
		use = w.demand.use
	}
	b.Started(key, false, use, true)
	if use != consent.Read {
		l.Become(use) // held alone since the exchange; a reader keeps it so until its end
	}
	w.leases = append(w.leases, l)
	w.spentLease = nil
	if w.making != "" {
		b.Unmake(w.making)
		w.making = ""
	}
}

// keepsGrant says whether the scenario's tokens of l's grant go to the state file for a
// later run (an access token to watch expire, a refresh token taken for good): no check
// of this run may then refresh, revoke or replay the code of that grant, which would end
// them before the later run looks.
func (w *World) keepsGrant(l *consent.Lease) bool {
	t := w.tokens
	if w.env.State == nil || t == nil || t.owner == nil || w.key(t.owner) != l.Grant.TPP {
		return false
	}
	refreshKept := w.keepRefreshAtEnd && !w.refreshSpent && t.refresh != "" && l.Use == consent.Consume
	return w.keptAccess || refreshKept
}

// settleConsents ends the scenario's loans: codes not spent go back to the pool (or die
// when left to expire), grants go back as the scenario leaves them, and a grant the
// scenario made and did not spend goes to the pool.
func (w *World) settleConsents(passed bool) {
	b := w.env.Consents
	if b == nil {
		return
	}
	w.endJourney()
	if w.demand.link != "" && !w.linkDone {
		w.linkDone = true
		b.LinkDone(consent.LinkKey(w.demand.link, w.demand.pkceLink))
	}
	if hc := w.heldCode; hc != nil {
		w.heldCode = nil
		if w.codeLeftToExpire {
			b.Dead(hc, "it was left to expire")
		} else {
			b.Return(hc, w.heldCodeSent)
		}
	}
	for _, l := range w.leases {
		var tokens any
		if w.tokens != nil && w.tokens.owner != nil && w.key(w.tokens.owner) == l.Grant.TPP {
			t := *w.tokens
			tokens = &t
		}
		if w.keepsGrant(l) {
			l.Void()
			continue
		}
		ok := passed && !w.refreshSpent
		l.Release(ok, tokens)
		w.pooled = w.pooled || (ok && l.Use != consent.Consume && l.Use != consent.Replay)
	}
	w.leases = nil
	// A grant from a code exchanged with a scope, against STET's rule (TOKEN-15), is lent
	// only once a code exchange without one has worked in this run: a bank that serves
	// only such requests must not seem to serve the checks that need a grant.
	lends := w.demand.exchanger || w.demand.link != "" || (w.demand.scopeAtToken && w.env.wasObserved(controlCodeExchange))
	if l := w.spentLease; l != nil {
		var tokens any
		if t := w.tokens; t != nil && t.owner != nil && w.key(t.owner) == l.Grant.TPP {
			c := *t
			if c.consentAt.IsZero() {
				c.consentAt, c.consentFrom = l.Grant.Code.At, l.Grant.Code.Began
			}
			tokens = &c
		}
		ok := passed && !w.refreshSpent && lends
		if lends && !w.keepsGrant(l) {
			l.Release(ok, tokens)
		} else {
			l.Void() // nor is its code replayed (TOKEN-07)
		}
		w.pooled = w.pooled || ok
		w.spentLease = nil
	}
	if w.fetching != "" {
		b.Fetched(w.fetching, nil)
		w.fetching = ""
	}
	if w.making != "" {
		b.Unmake(w.making)
		w.making = ""
	}
	if w.demand.leavesGrant(w.p) {
		b.ExchangerDone(cmpOr(w.demand.codeCheck, "primary"))
	}
}

// Finish exchanges the codes that refusals still wait on when the run's checks are over:
// their positive control. It runs once, after the last scenario.
func (e *Env) Finish(ctx context.Context) {
	b := e.Consents
	if b == nil {
		return
	}
	for _, code := range b.Leftovers() {
		e.exchangeFor(ctx, code, "after the run's last check")
	}
	// The grants still good go to the state file, each once: the next run's checks start
	// from them instead of new consents, while the bank honours them.
	if e.State != nil {
		for _, g := range b.Live() {
			if _, role := consent.SplitKey(g.TPP); role != consent.RoleAISP {
				// The state file lends its refresh tokens to the aisp checks of the next
				// run (holdsTokens): another role's grant would serve them wrongly.
				continue
			}
			t := g.Tokens.(*tokenSet)
			if t.refresh != "" && t.owner != nil {
				e.State.KeepRefresh(state.Refresh{Bank: e.Profile.Endpoints.Token, ClientID: t.owner.ClientID, RefreshToken: t.refresh,
					KeptAt: time.Now(), KeptByRun: e.RunID, ConsentAt: t.consentAt, SeenWorkingAt: t.seen})
			}
		}
	}
}

// FlushCode exchanges a code the broker took from the pool because a new consent of its
// PSU would supersede it.
func (e *Env) FlushCode(code *consent.Code) {
	e.exchangeFor(context.Background(), code, "before a new consent of its PSU superseded it")
}

// lastExchange exchanges a code refusals wait on, if it is still in the pool.
func (e *Env) lastExchange(ctx context.Context, code *consent.Code, when string) {
	if e.Consents.Claim(code) {
		e.exchangeFor(ctx, code, when)
	}
}

// exchangeFor exchanges a code the run holds, as its TPP should, and lends the grant.
func (e *Env) exchangeFor(ctx context.Context, code *consent.Code, when string) {
	name, role := consent.SplitKey(code.TPP)
	b, c := e.Consents, e.Profile.ClientByName(name)
	w := newWorld(e)
	w.role = roleOf(role)
	defer w.closeIdle()
	defer w.leaveConsent()
	w.inheritGate(code)
	w.code, w.verifier, w.codeReceived = code.Value, code.Verifier, code.At
	a := w.exchange(ctx, c, c.ClientID, c.RedirectURI)
	if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		b.Dead(code, fmt.Sprintf("%s: %s", when, a))
		return
	}
	// The grant goes to the pool before the code stops counting as held (Exchanged).
	t := newTokenSet(c, a)
	t.consentAt, t.consentFrom = code.At, code.Began
	b.Donate(code, t)
	b.Exchanged(code, when)
}

// Journeys says how many journeys the run began and how many its plan expected.
func (e *Env) Journeys() (begun, planned int) {
	if e.Consents == nil {
		return 0, 0
	}
	return e.Consents.Counts()
}

// shared is one journey that several scenarios watch: the same PSU decision for the same
// TPP, whose callback each checks in its own way (AUTHZ-02 and AUTHZ-03 read one approval).
type shared struct {
	done                chan struct{}
	by                  string
	err                 error
	outcome             *psu.Outcome
	journeyErr          error
	state, redirectURI  string
	started             time.Time
	inconclusive, fault string
}

// sharedDecision runs the PSU's decision for c once per run and lets every scenario that
// asks for the same decision read its outcome. An approval's code, which none of them
// exchanges, goes to the pool for a check that needs one.
func (w *World) sharedDecision(ctx context.Context, c *profile.Client, approve bool) error {
	e := w.env
	if e.Consents == nil {
		return w.psuDecides(ctx, c, approve)
	}
	key := fmt.Sprintf("%s/%t", c.Name, approve)
	e.mu.Lock()
	if e.shared == nil {
		e.shared = map[string]*shared{}
	}
	sh, seen := e.shared[key]
	if !seen {
		sh = &shared{done: make(chan struct{}), by: w.res.ID}
		e.shared[key] = sh
	}
	e.mu.Unlock()
	if !seen {
		if approve {
			defer e.Consents.Donating(c.Name)()
		}
		sh.err = w.psuDecides(ctx, c, approve)
		sh.outcome, sh.journeyErr, sh.state, sh.redirectURI, sh.started = w.outcome, w.journeyErr, w.sentState, w.redirectURI, w.journeyStarted
		sh.inconclusive = w.inconclusiveWhy
		if approve && w.outcome != nil && w.outcome.Callback != nil {
			if code := w.outcome.Callback.Query().Get("code"); code != "" {
				w.keepCode(code)
				if w.heldCode != nil {
					e.Consents.Return(w.heldCode, false)
					w.heldCode = nil
				}
			}
		}
		close(sh.done)
		return sh.err
	}
	select {
	case <-sh.done:
	case <-ctx.Done():
		return w.skipBecause("the run was stopped while waiting for the journey of scenario %s", sh.by)
	}
	w.outcome, w.journeyErr, w.sentState, w.redirectURI, w.journeyStarted = sh.outcome, sh.journeyErr, sh.state, sh.redirectURI, sh.started
	w.note("no new PSU journey: this check reads the journey of scenario %s (the same decision for %s; its evidence is there)", sh.by, c.Describe())
	if sh.inconclusive != "" {
		w.inconclusiveWhy = sh.inconclusive
	}
	return sh.err
}
