package steps

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
)

// The refresh token's lifetime (REFRESH-10, REFRESH-13): it counts from the PSU's consent,
// not from the last refresh, and is 90 days (STET, the seeds) or 180 (EU Delegated
// Regulation 2022/2360), as the bank declares in options.refresh_token_lifetime. A grant
// is kept in the state file to watch it: refreshed by every run while it is young (it must
// keep working), left alone once it nears the end, and refreshed once more after the end
// (it must be refused). A lifetime short enough to wait for is watched within one run.

// registerRefreshLifetime gives the sentences of refresh_lifetime.feature their code.
func (w *World) registerRefreshLifetime(sc sentences) {
	sc.Step(`^the primary TPP holds a refresh token younger than the lifetime the bank declares$`, func(ctx context.Context) error {
		return w.holdsYoungRefresh(ctx, w.named("primary"))
	})
	sc.Step(`^the primary TPP holds a refresh token older than the lifetime the bank declares$`, func(ctx context.Context) error {
		return w.holdsOldRefresh(ctx, w.named("primary"))
	})
	sc.Step(`^the bank honours it, as it must for the whole lifetime it declares$`, w.honouredWhileYoung)
	sc.Step(`^the bank refuses it with "invalid_grant": the PSU must consent again$`, w.refusedWhenOld)
}

// lifetimeMargin is how far from the declared end of a refresh token's life the suite
// keeps, either side, before it expects it to work or to be refused: a tenth of the
// lifetime, at most a day, plus the declared clock skew.
func (w *World) lifetimeMargin() time.Duration { return lifetimeMargin(w.p) }

func lifetimeMargin(p *profile.Profile) time.Duration {
	return min(p.Options.RefreshTokenLifetime/10, 24*time.Hour) + p.Options.ExpirySkew
}

// holdsYoungRefresh takes the newest kept grant still well within its lifetime, or starts
// one with a new PSU consent.
func (w *World) holdsYoungRefresh(ctx context.Context, c *profile.Client) error {
	w.keepRefreshAtEnd, w.watchLifetime = true, true
	life, margin := w.p.Options.RefreshTokenLifetime, w.lifetimeMargin()
	if st := w.env.State; st != nil {
		kept, ok := st.TakeLifetime(w.p.Endpoints.Token, c.ClientID, time.Now(), func(age time.Duration) bool { return age < life-margin })
		if ok {
			w.env.Redactor.Add(kept.RefreshToken)
			w.tokens = &tokenSet{owner: c, refresh: kept.RefreshToken, consentAt: kept.ConsentAt, consentFrom: kept.ConsentAt, seen: kept.SeenWorkingAt}
			w.note("the grant watched for its lifetime comes from a consent of %s (run %s)", kept.ConsentAt.Format(time.RFC3339), kept.KeptByRun)
			return nil
		}
	}
	if err := w.hasTokens(ctx, c); err != nil {
		return err
	}
	if life+margin > w.p.Options.MaxExpiryWait {
		return nil // a later run refreshes it when it is older
	}
	// A lifetime the run may wait for: the refresh comes shortly before its end. (No gate:
	// a bank that revokes the grant for a later consent before its declared end fails
	// here unless it declares token_pairs: one_per_psu.)
	return w.sleep(ctx, time.Until(w.tokens.consentFrom.Add(life-margin)), "the end of the refresh token's lifetime")
}

func (w *World) honouredWhileYoung() error {
	a, t := w.last, w.tokens
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	age, life := time.Since(t.consentAt), w.p.Options.RefreshTokenLifetime
	if a.err == nil && a.status == http.StatusOK && a.str("access_token") != "" {
		w.note("a refresh token %s after the consent still works, as it must until %s (declared lifetime %s)",
			age.Round(time.Second), t.consentAt.Add(life).Format(time.RFC3339), life)
		return nil
	}
	w.refreshSpent = true
	if err := w.refreshTooLate(a); err != nil {
		return err
	}
	if w.p.Options.TokenPairs == "one_per_psu" {
		return w.inconclusive("the refresh token was refused %s after the consent, before its declared lifetime of %s (%s); the bank declares one token pair per PSU, so a later consent may have superseded it",
			age.Round(time.Second), life, a)
	}
	return fmt.Errorf("expected the refresh token to keep working for the declared lifetime of %s (options.refresh_token_lifetime) from the consent of %s; it was refused %s after it: %s (if a new consent of the same PSU supersedes earlier tokens, declare options.token_pairs: one_per_psu)",
		life, t.consentAt.Format(time.RFC3339), age.Round(time.Second), a)
}

// holdsOldRefresh takes a kept grant whose consent is older than the declared lifetime.
// Without one, a lifetime short enough is waited for within the run; otherwise the check
// is skipped, with when the first kept grant comes due.
func (w *World) holdsOldRefresh(ctx context.Context, c *profile.Client) error {
	life, margin := w.p.Options.RefreshTokenLifetime, w.lifetimeMargin()
	st := w.env.State
	if st != nil {
		kept, ok := st.TakeLifetime(w.p.Endpoints.Token, c.ClientID, time.Now(), func(age time.Duration) bool { return age > life+margin })
		if ok {
			w.env.Redactor.Add(kept.RefreshToken)
			w.tokens = &tokenSet{owner: c, refresh: kept.RefreshToken, consentAt: kept.ConsentAt, consentFrom: kept.ConsentAt, seen: kept.SeenWorkingAt}
			w.keptRun = kept.KeptByRun
			w.note("checked with the refresh token of a consent of %s (run %s), %s old", kept.ConsentAt.Format(time.RFC3339), kept.KeptByRun, time.Since(kept.ConsentAt).Round(time.Second))
			return nil
		}
	}
	if life+margin <= w.p.Options.MaxExpiryWait {
		// Within the run: consent, refresh half-way (a bank must not restart the lifetime
		// on each refresh: the PSU's SCA is renewed every 90 or 180 days, not never), then
		// wait for the end of the consent's lifetime.
		if err := w.hasTokens(ctx, c); err != nil {
			return err
		}
		if err := w.sleep(ctx, time.Until(w.tokens.consentAt.Add(life/2)), "half the refresh token's lifetime"); err != nil {
			return err
		}
		if err := w.keepRefreshed(c, w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))); err != nil {
			return fmt.Errorf("expected the refresh token to work half-way through its declared lifetime of %s: %w", life, err)
		}
		// Shortly before the end, with the TPP's gate closed until the check is done: the
		// refusal after the end can then only be the end (not a later consent superseding
		// the grant, as a bank with one token pair per PSU does).
		if err := w.sleep(ctx, time.Until(w.tokens.consentFrom.Add(life-margin))-w.env.gateLead(), "the end of the refresh token's lifetime"); err != nil {
			return err
		}
		w.closeGate(c.ClientID, w.tokens.consentAt.Add(life+margin+w.watchRequest()))
		if err := w.sleep(ctx, time.Until(w.tokens.consentFrom.Add(life-margin)), "the end of the refresh token's lifetime"); err != nil {
			return err
		}
		sent := time.Now()
		if err := w.keepRefreshed(c, w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))); err != nil {
			w.openGate()
			if sent.After(w.tokens.consentFrom.Add(life - w.p.Options.ExpirySkew)) {
				return w.inconclusive("the refresh before the end of the declared lifetime of %s could only be sent %s after the journey began (consents under way held it back): its refusal may be the end (%v)",
					life, sent.Sub(w.tokens.consentFrom).Round(time.Millisecond), err)
			}
			return w.inconclusive("the refresh token was refused shortly before the end of its declared lifetime of %s (%v): superseded or revoked, so its refusal after the end would prove nothing", life, err)
		}
		return w.sleep(ctx, time.Until(w.tokens.consentAt.Add(life+margin)), "the refresh token's lifetime to end")
	}
	if st == nil {
		return w.skipBecause("the refresh token lives %s (options.refresh_token_lifetime), longer than the run may wait (options.max_expiry_wait %s); run with a state file (--state), kept between runs, to check it once a kept grant is that old", life, w.p.Options.MaxExpiryWait)
	}
	due := time.Now().Add(life + margin) // the grant REFRESH-13 keeps in this run, at the latest
	if consents := st.Lifetimes(w.p.Endpoints.Token, c.ClientID); len(consents) > 0 {
		due = slices.MinFunc(consents, func(a, b time.Time) int { return a.Compare(b) }).Add(life + margin)
	}
	return w.skipBecause("no kept grant is older than the declared refresh token lifetime of %s yet: the first run after %s with the same state file (%s) checks it", life, due.Format(time.RFC3339), st.Path())
}

func (w *World) refusedWhenOld() error {
	defer w.openGate()
	w.refreshSpent = true
	a, t := w.last, w.tokens
	age := time.Since(t.consentAt).Round(time.Second)
	if a.err == nil && a.status == http.StatusOK && a.str("access_token") != "" {
		return fmt.Errorf("expected the refresh token of a consent %s old to be refused (declared lifetime %s, options.refresh_token_lifetime): the bank refreshed it, so the PSU's strong authentication is never renewed", age, w.p.Options.RefreshTokenLifetime)
	}
	a.refresh = false // past the lifetime on purpose: the refusal is what this check is about
	if err := w.refusedWith("invalid_grant"); err != nil {
		return err
	}
	if err := w.seenNearItsEnd(); err != nil {
		return err
	}
	w.note("the refresh token of a consent %s old is refused (declared lifetime %s)", age, w.p.Options.RefreshTokenLifetime)
	return nil
}

// seenNearItsEnd says why a kept refresh token's refusal after its declared end proves
// nothing (nil: it proves the end): the run that kept it last saw it working too long
// before that end, in the last tenth of its lifetime, so it may have been revoked or
// superseded by a later consent (a bank with one token pair per PSU, TPP and role) long
// before, and never have lived to its end. Within a run, the refresh shortly before the end
// is that sight.
func (w *World) seenNearItsEnd() error {
	if w.keptRun == "" {
		return nil
	}
	life, seen := w.p.Options.RefreshTokenLifetime, w.tokens.seen
	end := w.tokens.consentAt.Add(life)
	if seen.IsZero() {
		return w.inconclusive("the state file does not say when the refresh token kept by run %s was last seen working (a state file of an earlier version): its refusal after its declared end (%s) may be an earlier revocation, not the end of its lifetime",
			w.keptRun, end.Format(time.RFC3339))
	}
	if before := end.Sub(seen); before > life/10+w.p.Options.ExpirySkew {
		return w.inconclusive("the refresh token kept by run %s was last seen working %s before its declared end (%s): its refusal now may be an earlier revocation or a later consent superseding it, not the end of its lifetime. Runs with the same state file at least every %s see a kept grant working in the last tenth of its life",
			w.keptRun, before.Round(time.Second), end.Format(time.RFC3339), (life / 10).Round(time.Second))
	}
	w.note("the refresh token kept by run %s was seen working %s before its declared end", w.keptRun, end.Sub(seen).Round(time.Second))
	return nil
}
