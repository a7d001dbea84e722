package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/state"
)

// registerRefresh gives the sentences of refresh.feature their code.
func (w *World) registerRefresh(sc sentences) {
	sc.Step(`^the primary TPP refreshes the access token without a scope$`, w.refreshWithoutScope)
	sc.Step(`^the bank answers 200 with a new Bearer access token$`, w.newBearerToken)
	sc.Step(`^the primary TPP has refreshed its access token$`, func(ctx context.Context) error {
		return w.hasRefreshed(ctx, w.named("primary"))
	})
	sc.Step(`^the `+tpp+` TPP holds tokens from the PSU's consent$`, func(ctx context.Context, c string) error {
		return w.holdsTokens(ctx, w.named(c))
	})
	sc.Step(`^the primary TPP refreshes again with the previous refresh token$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.refreshSpent = true // a replay may revoke the whole family (RFC 6749 section 10.4)
		w.postToken(ctx, c, refreshForm(w.previous.refresh, c.ClientID))
		return nil
	})
	sc.Step(`^the bank treats the previous refresh token as its declared rotation says$`, w.rotationAsDeclared)
	sc.Step(`^the second TPP refreshes the primary TPP's refresh token with its own certificate and client_id$`, func(ctx context.Context) error {
		if w.tokens.refresh == "" {
			return w.noRefreshToken()
		}
		b := w.named("second")
		w.refreshSpent = true // a bank may revoke a refresh token another TPP presented
		w.postToken(ctx, b, refreshForm(w.tokens.refresh, b.ClientID))
		return nil
	})
	sc.Step(`^the bank refuses the refresh token to the second TPP, with invalid_grant or, while it authenticates that TPP, invalid_client$`, w.foreignRefreshRefused)
	sc.Step(`^the primary TPP refreshes the access token asking for a scope the PSU never granted$`, func(ctx context.Context) error {
		c := w.named("primary")
		if w.tokens.refresh == "" {
			return w.noRefreshToken()
		}
		// The only scope the suite ever sends: pisp is a payment role the PSU did not grant.
		f := refreshForm(w.tokens.refresh, c.ClientID)
		f.Set("scope", w.p.Scopes.AISP+" pisp")
		w.refreshSpent = true // a widened grant, if the bank gives one, is not kept
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the bank refuses the wider scope, or ignores it and says so$`, w.widerScopeRefused)
	sc.Step(`^the primary TPP refreshes an unknown refresh token$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.postToken(ctx, c, refreshForm("unknown-"+newUUID(), c.ClientID))
		return nil
	})
}

func (w *World) refreshWithoutScope(ctx context.Context) error {
	c := w.tokens.owner
	if w.tokens.refresh == "" {
		return w.noRefreshToken()
	}
	w.beforeRefresh = w.tokens.access
	if a := w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID)); a.err == nil && a.status == http.StatusOK {
		_ = w.keepRefreshed(c, a) // the checks read the answer itself
	}
	return nil
}

// keepRefreshed records a refresh response as the current tokens; without a new refresh
// token in it, the one used stays the current one (RFC 6749 section 6).
func (w *World) keepRefreshed(c *profile.Client, a *answer) error {
	used := w.tokens
	if err := w.keepTokens(c, a); err != nil {
		return err
	}
	if c.Name == "primary" {
		w.env.observe(controlRefresh)
	}
	if used != nil {
		w.tokens.consentAt, w.tokens.consentFrom = used.consentAt, used.consentFrom // a refresh renews the tokens, not the consent
		if w.tokens.refresh == "" {
			w.tokens.refresh = used.refresh
		}
	}
	return nil
}

// holdsTokens is the precondition of the refresh checks: tokens from the PSU's consent.
// With a state file, a refresh token kept by an earlier run stands in for a new PSU
// journey while the bank still honours it; otherwise, or when it does not, the PSU
// consents again. Either way, the refresh token the scenario ends with is kept for the
// next run unless the scenario spent it.
func (w *World) holdsTokens(ctx context.Context, c *profile.Client) error {
	w.keepRefreshAtEnd = true
	if st := w.env.State; st != nil {
		// Said before the state file is looked at: a check leasing meanwhile must see a
		// grant coming, or it asks for a consent (the state test saw that race).
		b := w.env.Consents
		if b != nil && w.making == "" {
			b.Making(c.Name) // the other checks wait for this grant rather than a consent
			w.making = c.Name
		}
		kept, ok := st.TakeRefresh(w.p.Endpoints.Token, c.ClientID)
		if !ok && b != nil && w.making == c.Name {
			b.Unmake(c.Name)
			w.making = ""
		}
		if ok {
			w.env.Redactor.Add(kept.RefreshToken)
			w.tokens = &tokenSet{owner: c, refresh: kept.RefreshToken, consentAt: kept.ConsentAt, consentFrom: kept.ConsentAt}
			a := w.postToken(ctx, c, refreshForm(kept.RefreshToken, c.ClientID))
			if err := w.keepRefreshed(c, a); err == nil {
				w.previous = nil
				w.note("tokens obtained without a PSU journey, by refreshing a refresh token kept by run %s", kept.KeptByRun)
				w.poolKept(c)
				return nil
			}
			w.note("the refresh token kept by run %s no longer works (%s): the PSU consents again", kept.KeptByRun, a)
			w.tokens = nil
			if b != nil && w.making == c.Name {
				b.Unmake(c.Name) // the consent below says it again
				w.making = ""
			}
		}
	}
	return w.hasTokens(ctx, c)
}

// keepRefreshToken hands the scenario's refresh token to the state file for the next
// run, unless the scenario spent it (replayed it, or gave it to another TPP).
func (w *World) keepRefreshToken() {
	st, t := w.env.State, w.tokens
	// A grant that went back to the run's pool is kept, once, when the run ends (Finish).
	if st == nil || !w.keepRefreshAtEnd || w.refreshSpent || w.pooled || t == nil || t.refresh == "" {
		return
	}
	st.KeepRefresh(state.Refresh{Bank: w.p.Endpoints.Token, ClientID: t.owner.ClientID, RefreshToken: t.refresh,
		KeptAt: time.Now(), KeptByRun: w.env.RunID, ConsentAt: t.consentAt, Lifetime: w.watchLifetime, SeenWorkingAt: t.seen})
}

// refreshTooLate makes a refused refresh inconclusive when it left too close to the end of
// the refresh token's declared lifetime (options.refresh_token_lifetime, from the PSU's
// consent) to tell its end from the refusal a check is about: after a wait for a rate
// limit, or on a loaded machine. nil: the refusal counts.
func (w *World) refreshTooLate(a *answer) error {
	t, life := w.tokens, w.p.Options.RefreshTokenLifetime
	if t == nil || t.consentFrom.IsZero() || life <= 0 || a.sent.Before(t.consentFrom.Add(life-w.p.Options.ExpirySkew)) {
		return nil
	}
	return w.inconclusive("the refresh was sent %s after the consent, too close to the end of the refresh token's declared lifetime of %s to tell its end from what this check is about (%s)",
		a.sent.Sub(t.consentAt).Round(time.Millisecond), life, a)
}

func (w *World) newBearerToken() error {
	a := w.last
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK {
		if err := w.refreshTooLate(a); err != nil {
			return err
		}
		return fmt.Errorf("expected HTTP 200 to the refresh; %s", a)
	}
	tok := a.str("access_token")
	switch {
	case tok == "":
		return errors.New("expected a new access_token in the refresh response; there is none")
	case tok == w.beforeRefresh:
		return errors.New("expected a new access token; the bank returned the one being refreshed")
	case !strings.EqualFold(a.str("token_type"), "Bearer"):
		return fmt.Errorf("expected token_type Bearer in the refresh response; it is %q", a.str("token_type"))
	}
	return nil
}

// rotationAsDeclared replays the refresh token that was used for the last refresh and
// checks the outcome against options.refresh_rotation.
func (w *World) rotationAsDeclared() error {
	prev, cur := w.previous.refresh, w.tokens.refresh
	rotated := cur != "" && cur != prev
	replay := w.last
	if err := w.notARefusal(replay); err != nil {
		return err
	}
	refused := replay.err == nil && replay.status == http.StatusBadRequest && replay.str("error") == "invalid_grant"
	accepted := replay.err == nil && replay.status == http.StatusOK && replay.str("access_token") != ""
	switch mode := w.p.Options.RefreshRotation; {
	case mode == "rotate" && !rotated:
		return errors.New("expected a new refresh token on refresh (the profile declares refresh_rotation: rotate); the bank returned none or the same one")
	case mode == "reuse" && rotated:
		return errors.New("expected the refresh token to be kept (the profile declares refresh_rotation: reuse); the bank returned a new one")
	case rotated && !refused && mode == "rotate":
		return fmt.Errorf("expected the replaced refresh token to be refused with invalid_grant once a new one was issued (the profile declares refresh_rotation: rotate); %s", replay)
	case rotated && accepted:
		// RFC 6749 section 6: the bank MAY revoke the old refresh token. Allowed, but two
		// live refresh tokens per grant is worth a look.
		w.warn("the bank issued a new refresh token and the replaced one still works (allowed by RFC 6749 section 6; declare refresh_rotation: rotate to require its revocation)")
	case rotated && !refused:
		return fmt.Errorf("expected the replaced refresh token to be refused with invalid_grant, or to keep working; %s", replay)
	case !rotated && !accepted:
		return fmt.Errorf("expected the refresh token to keep working, since the bank issued no new one; %s", replay)
	}
	return nil
}

// widerScopeRefused checks REFRESH-07: a scope the PSU never granted (pisp) is refused
// with invalid_scope, or ignored with the granted scope stated in the answer (RFC 6749
// section 3.3 lets a bank ignore part of a requested scope if it says so).
func (w *World) widerScopeRefused(ctx context.Context) error {
	return w.addedScopeRefused(ctx, "pisp", "pisp")
}

// addedScopeRefused is the verdict of a refresh that asked for the scope added on top of
// its grant's (named for people by what): refused with invalid_scope, or the scope ignored
// and the granted scope stated. A refusal with invalid_grant counts only once the same
// refresh token, without the scope, is seen working (refreshTokenAlive).
func (w *World) addedScopeRefused(ctx context.Context, added, what string) error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if w.refusedWith("invalid_scope") == nil {
		w.refreshSpent = false // refused: the grant is as it was, and can serve another check
		return nil
	}
	if a.err == nil && a.status == http.StatusOK && a.str("access_token") != "" {
		sc, ok := a.fields["scope"].(string)
		switch {
		case !ok:
			return fmt.Errorf("expected invalid_scope; the bank issued a token without saying its scope, which means the scope asked for (RFC 6749 section 5.1), %s included", added)
		case slices.Contains(strings.Fields(sc), added):
			return fmt.Errorf("expected invalid_scope; the bank widened the grant to %q, adding %s", sc, what)
		}
		w.warn("the bank ignored %s it was asked to add, and answered with scope %q (allowed by RFC 6749 section 3.3; invalid_scope is clearer)", what, sc)
		return nil
	}
	if err := w.refreshTokenAlive(ctx, a); err != nil {
		return err
	}
	return w.refusedWith("invalid_scope")
}

// foreignRefreshRefused is REFRESH-05: another TPP's refresh with the primary TPP's refresh
// token is refused with invalid_grant (RFC 6749 section 5.2: issued to another client), or
// with invalid_client. invalid_client counts only when the bank authenticates the second
// TPP otherwise: its refresh of an unknown token of its own is refused with invalid_grant,
// not as a client. A bank that refuses that TPP as a client at every refresh says nothing
// of the refresh token's binding.
func (w *World) foreignRefreshRefused(ctx context.Context) error {
	if err := w.refusedWith("invalid_grant", "invalid_client"); err != nil {
		return err
	}
	refused := w.last
	if refused.str("error") != "invalid_client" {
		return nil
	}
	b := w.named("second")
	a := w.postToken(ctx, b, refreshForm("unknown-"+newUUID(), b.ClientID))
	w.last = refused
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err == nil && a.status == http.StatusBadRequest && a.str("error") == "invalid_grant" {
		w.note("positive control: the bank authenticates the second TPP at refresh (its refresh of an unknown token is refused with invalid_grant, not as a client), so its invalid_client was about the primary TPP's refresh token")
		return nil
	}
	return w.inconclusive("positive control failed: the bank refuses the second TPP as a client at refresh even with a request of its own (an unknown refresh token: %s), so its invalid_client says nothing of the primary TPP's refresh token; if the bank should know that TPP, check clients.second in the bank profile", a)
}

// refreshTokenAlive is the positive control of a refresh refused with another error than
// invalid_scope when it asked for more scope (invalid_grant, invalid_client): the same
// refresh token, without the scope, must work. Then the bank refused the scope (with the
// wrong error); otherwise the refresh token itself was dead (revoked, superseded by
// another consent) or the bank refuses the TPP at every refresh, and the refusal says
// nothing of the scope. refused is the refusal; it stays the scenario's last answer.
func (w *World) refreshTokenAlive(ctx context.Context, refused *answer) error {
	if refused.err != nil || refused.status != http.StatusBadRequest && refused.status != http.StatusUnauthorized ||
		refused.str("error") == "" || refused.str("error") == "invalid_scope" || w.tokens == nil || w.tokens.owner == nil {
		return nil
	}
	c := w.tokens.owner
	w.refreshSpent = true
	a := w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))
	w.last = refused
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		return w.inconclusive("positive control failed: the same refresh token, without the added scope, is refused too (%s), so its refusal with %s says nothing of the scope", a, refused.str("error"))
	}
	w.note("positive control: the same refresh token, without the added scope, works: the bank refused the scope itself")
	return nil
}

// noRefreshToken is the verdict of a refresh check when the bank issued no refresh token:
// nothing to check here (TOKEN-01 fails for it).
func (w *World) noRefreshToken() error {
	return w.inconclusive("the bank issued no refresh token with the access token, so there is none to check here (see TOKEN-01)")
}
