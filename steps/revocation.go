package steps

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/stetconform/stetconform/internal/profile"
)

// registerRevocation gives the sentences of revocation.feature their code.
func (w *World) registerRevocation(sc sentences) {
	sc.Step(`^the (primary|second) TPP revokes (its|the primary TPP's) (refresh|access) token$`, func(ctx context.Context, who, _, kind string) error {
		return w.revoke(ctx, w.named(who), kind)
	})
	sc.Step(`^the bank confirms the revocation$`, w.revocationConfirmed)
	sc.Step(`^the primary TPP has revoked its access token$`, func(ctx context.Context) error {
		if err := w.revoke(ctx, w.named("primary"), "access"); err != nil {
			return err
		}
		return w.revocationConfirmed()
	})
	sc.Step(`^the primary TPP's refresh with that token is refused with "([^"]*)"$`, func(ctx context.Context, code string) error {
		c := w.named("primary")
		w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))
		if err := w.refusedWith(code); err != nil {
			return err
		}
		w.env.observe(controlRevoke) // REVOKE-02's control: a revocation by the owner works
		return nil
	})
	sc.Step(`^the primary TPP can still refresh its access token$`, func(ctx context.Context) error {
		c := w.named("primary")
		a := w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))
		if err := w.notARefusal(a); err != nil {
			return err
		}
		if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
			if err := w.refreshTooLate(a); err != nil {
				return err
			}
			if a.err == nil && a.str("error") == "invalid_client" {
				// Refused as a client, not as a dead token? The same TPP's refresh of an
				// unknown token tells: refused as a client too, the bank refuses the TPP's
				// refreshes whatever the token. Any other error is about the token: failed.
				probe := w.postToken(ctx, c, refreshForm("unknown-"+newUUID(), c.ClientID))
				w.last = a
				if probe.err == nil && probe.str("error") == "invalid_client" {
					return w.inconclusive("the primary TPP's refresh was refused with invalid_client, as is its refresh of an unknown token (%s): the bank refuses its refreshes whatever the token, so whether the refresh token survived the other TPP's revocation request cannot be told (%s)", probe, a)
				}
			}
			return fmt.Errorf("expected the primary TPP's refresh token to survive another TPP's revocation request (RFC 7009 section 2.1); the refresh got %s", a)
		}
		w.refreshSpent = false // it survived: the grant can serve another check
		return w.keepRefreshed(c, a)
	})
}

// revoke asks the bank's revocation endpoint (RFC 7009) to revoke the current refresh or
// access token, as TPP c (its own certificate and client_id).
func (w *World) revoke(ctx context.Context, c *profile.Client, kind string) error {
	tok := w.tokens.access
	if kind == "refresh" {
		tok = w.tokens.refresh
		w.refreshSpent = true
	}
	if tok == "" {
		if kind == "refresh" {
			return w.noRefreshToken()
		}
		return fmt.Errorf("expected an access token to revoke; the bank gave none")
	}
	form := url.Values{"token": {tok}, "token_type_hint": {kind + "_token"}, "client_id": {c.ClientID}}
	req, err := http.NewRequest(http.MethodPost, w.p.Endpoints.Revoke, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := w.apiHeaders(req, []byte(form.Encode()), c, false); err != nil {
		return err
	}
	a := w.do(ctx, w.client(c), req)
	if c != w.tokens.owner {
		// Another TPP's revocation request must have reached the bank for the owner's
		// token surviving it to mean anything.
		return w.notARefusal(a)
	}
	return w.notAnAnswer(a)
}

func (w *World) revocationConfirmed() error {
	if err := w.notAnAnswer(w.last); err != nil {
		return err
	}
	if a := w.last; a.err != nil || (a.status != http.StatusOK && a.status != http.StatusNoContent) {
		return fmt.Errorf("expected HTTP 200 (or 204, as many banks answer) to the revocation (RFC 7009 section 2.2); %s", a)
	}
	return nil
}
