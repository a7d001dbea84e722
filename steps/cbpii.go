package steps

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/internal/profile"
)

// beforeCBPII makes the @option:cbpii scenarios not applicable to a bank that does not
// declare the cbpii role.
func (w *World) beforeCBPII(ctx context.Context, sc *godog.Scenario) (context.Context, error) {
	if hasTag(sc, "@option:cbpii") && !w.p.HasRole(profile.RoleCBPII) {
		w.na = "the bank profile does not declare the cbpii role (roles)"
		return ctx, godog.ErrSkip
	}
	return ctx, nil
}

// registerCBPII gives the sentences of cbpii.feature their code, and its hook: the
// scenarios of a role the bank does not declare are not applicable.
func (w *World) registerCBPII(sc sentences) {
	sc.Before(w.beforeCBPII)
	sc.Step(`^the primary TPP asks the funds-confirmations resource to confirm funds with that access token$`, func(ctx context.Context) error {
		w.confirmFunds(ctx, w.named("primary"), w.tokens.access)
		return nil
	})
	sc.Step(`^the bank refuses it for its scope$`, w.fundsRefusedForScope)
}

// coverageRequest is a STET 1.4.2 PaymentCoverageRequestResource. The account is an
// example: a token that does not grant cbpii must be refused before it is looked at.
const coverageRequest = `{"paymentCoverageRequestId":"stetconform-coverage","instructedAmount":{"currency":"EUR","amount":"12.25"},"accountId":{"iban":"FR7630006000011234567890189"}}`

// confirmFunds posts a payment coverage request as TPP c with token, signed where the
// bank declares signing.
func (w *World) confirmFunds(ctx context.Context, c *profile.Client, token string) *answer {
	body := []byte(coverageRequest)
	req, err := http.NewRequest(http.MethodPost, w.p.Endpoints.FundsConfirmations, strings.NewReader(coverageRequest))
	if err != nil {
		return &answer{err: err}
	}
	req.Header.Set("Accept", w.p.Options.ResourceMediaType)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if err := w.apiHeaders(req, body, c, true); err != nil {
		return &answer{err: err}
	}
	return w.do(ctx, w.client(c), req)
}

// fundsRefusedForScope is CBPII-02: a valid token without cbpii gets 403 insufficient_scope
// (RFC 6750 section 3.1: the token is valid, its privileges do not cover the resource).
// A 401 is a refusal too, with a warning; another 4xx is a refusal of something else.
func (w *World) fundsRefusedForScope() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	challenge := strings.Join(a.header.Values("WWW-Authenticate"), ", ")
	insufficient := strings.Contains(challenge, "insufficient_scope") || a.str("error") == "insufficient_scope"
	switch {
	case a.err != nil && a.status == 0:
		return w.inconclusive("the funds-confirmations resource did not answer (%s): nothing can be said of the scope check", a)
	case a.status >= 200 && a.status < 300:
		return fmt.Errorf("expected HTTP 403 with error insufficient_scope for an access token that grants %s, not cbpii (RFC 6750 section 3.1); %s", w.p.Scopes.AISP, a)
	case a.status == http.StatusForbidden:
		if !insufficient {
			w.warn("the bank refused with 403 but without error insufficient_scope (RFC 6750 section 3.1): %s", a)
		}
		return nil
	case a.status == http.StatusUnauthorized:
		w.warn("the bank refused with 401; RFC 6750 section 3.1 answers a valid token whose scope is not enough with 403 insufficient_scope: %s", a)
		return nil
	}
	return w.inconclusive("the funds-confirmations resource refused the request for another reason than its scope, as far as can be told (%s): the scope check cannot be told apart", a)
}
