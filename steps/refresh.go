package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

func (w *World) refreshWithoutScope(ctx context.Context) error {
	c := w.tokens.owner
	if w.tokens.refresh == "" {
		return errors.New("expected a refresh_token from the code exchange; there is none")
	}
	w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))
	return nil
}

func (w *World) newBearerToken() error {
	a := w.last
	if a.err != nil || a.status != http.StatusOK {
		return fmt.Errorf("expected HTTP 200 to the refresh; %s", a)
	}
	tok := a.str("access_token")
	switch {
	case tok == "":
		return errors.New("expected a new access_token in the refresh response; there is none")
	case tok == w.tokens.access:
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
	refused := replay.err == nil && replay.status == http.StatusBadRequest && replay.str("error") == "invalid_grant"
	accepted := replay.err == nil && replay.status == http.StatusOK && replay.str("access_token") != ""
	switch mode := w.p.Options.RefreshRotation; {
	case mode == "rotate" && !rotated:
		return errors.New("expected a new refresh token on refresh (the profile declares refresh_rotation: rotate); the bank returned none or the same one")
	case mode == "reuse" && rotated:
		return errors.New("expected the refresh token to be kept (the profile declares refresh_rotation: reuse); the bank returned a new one")
	case rotated && !refused:
		return fmt.Errorf("expected the replaced refresh token to be refused with invalid_grant once a new one was issued (RFC 6749 section 10.4); %s", replay)
	case !rotated && !accepted:
		return fmt.Errorf("expected the refresh token to keep working, since the bank issued no new one; %s", replay)
	}
	return nil
}
