package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
)

// cbpiiNotDeclared is why the @option:cbpii scenarios do not apply to a bank (applies).
const cbpiiNotDeclared = "the bank profile does not declare the cbpii role (roles)"

// registerCBPII gives the sentences of cbpii.feature their code. The scenarios of a role
// the bank does not declare are not applicable (applies, @option:cbpii).
func (w *World) registerCBPII(sc sentences) {
	sc.Step(`^the `+tpp+` TPP holds a cbpii token from the PSU's consent$`, func(ctx context.Context, c string) error {
		w.role = profile.RoleCBPII
		return w.hasTokens(ctx, w.named(c))
	})
	sc.Step(`^the primary TPP asks the funds-confirmations resource to confirm funds with that access token$`, func(ctx context.Context) error {
		w.confirmFunds(ctx, w.named("primary"), w.tokens.access)
		return nil
	})
	sc.Step(`^the access token still confirms funds shortly before it expires$`, w.stillValidBeforeExpiry)
	sc.Step(`^the second TPP asks the funds-confirmations resource to confirm funds with the primary TPP's access token$`, func(ctx context.Context) error {
		w.confirmFunds(ctx, w.named("second"), w.tokens.access)
		return nil
	})
	sc.Step(`^the second TPP's own cbpii access token confirms funds$`, w.ownTokenOpens)
	sc.Step(`^the bank answers 200 with the request and a boolean result$`, w.fundsConfirmed)
	sc.Step(`^the new access token confirms the availability of funds$`, w.refreshedConfirmsFunds)
	sc.Step(`^the bank refuses it for its scope$`, w.refusedForScope)
	sc.Step(`^the TPP without the CBPII role asks for cbpii access with the PSU's approval$`, func(ctx context.Context) error {
		return w.roleAsksAccess(ctx, w.named("without_cbpii_role"), roleCBPII)
	})
	sc.Step(`^the bank gives it no access token that confirms funds$`, func() error {
		return w.roleGetsNoAccess(roleCBPII)
	})
	sc.Step(`^the PSU goes through the authorization request of the primary TPP for the aisp and cbpii scopes at once$`, w.asksBothRoles)
	sc.Step(`^the bank refuses the request, or grants one of the two roles only$`, w.bothRolesNeverGranted)
	sc.Step(`^the primary TPP refreshes (?:the access|the cbpii) token asking for the (?:aisp|cbpii) scope as well$`, w.refreshAddsOtherRole)
	sc.Step(`^the bank refuses to add the other role's scope$`, w.otherRoleRefused)
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
	a := w.do(ctx, w.client(c), req)
	if a.err == nil && a.status == http.StatusOK && c.Name == "primary" && w.role == profile.RoleCBPII {
		w.env.observe(controlFunds)
	}
	return a
}

// fundsConfirmed is CBPII-01: a cbpii token opens funds-confirmations, answered 200 with
// STET's PaymentCoverageReportResource: the request echoed, and result a JSON boolean.
func (w *World) fundsConfirmed() error {
	a := w.last
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK {
		return fmt.Errorf("expected HTTP 200 from the funds-confirmations resource for a cbpii token of the PSU's consent; %s", a)
	}
	if a.fields == nil {
		return fmt.Errorf("expected a JSON PaymentCoverageReportResource (STET 1.4.2); the body does not parse: %v", a.jsonErr)
	}
	result, ok := a.fields["result"]
	if !ok {
		return errors.New("expected a result in the answer (STET 1.4.2 PaymentCoverageReportResource); there is none")
	}
	if _, isBool := result.(bool); !isBool {
		return fmt.Errorf("expected result to be a JSON boolean (STET 1.4.2 PaymentCoverageReportResource); it is a %s: %v", jsonType(result), result)
	}
	echo, ok := a.fields["request"].(map[string]any)
	if !ok {
		return fmt.Errorf("expected the payment coverage request echoed as request (STET 1.4.2 PaymentCoverageReportResource); it is %s", jsonType(a.fields["request"]))
	}
	if id, _ := echo["paymentCoverageRequestId"].(string); id != "stetconform-coverage" {
		w.warn("the echoed request carries paymentCoverageRequestId %q, not the %q sent", id, "stetconform-coverage")
	}
	if !a.isJSON() {
		w.warn("the answer's Content-Type is %q, not JSON", a.header.Get("Content-Type"))
	}
	w.note("the bank answered result %v for 12.25 EUR", result)
	return nil
}

// refreshedConfirmsFunds is REFRESH-01 for the cbpii role: the refreshed access token is
// served at funds-confirmations (what the answer holds is CBPII-01's check).
func (w *World) refreshedConfirmsFunds(ctx context.Context) error {
	a := w.confirmFunds(ctx, w.named("primary"), w.tokens.access)
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK {
		return fmt.Errorf("expected the refreshed cbpii access token to be served at funds-confirmations (HTTP 200); %s", a)
	}
	return nil
}

// refusedForScope is CBPII-02 and CBPII-03: a valid token of one role gets 403
// insufficient_scope at the other role's resource (RFC 6750 section 3.1: the token is
// valid, its privileges do not cover the resource). A 401 is a refusal too, with a
// warning; another 4xx is a refusal of something else.
func (w *World) refusedForScope() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	granted, needed, resource := w.p.Scopes.AISP, w.p.Scopes.CBPII, "funds-confirmations resource"
	if w.role == profile.RoleCBPII {
		granted, needed, resource = w.p.Scopes.CBPII, w.p.Scopes.AISP, "accounts resource"
	}
	challenge := strings.Join(a.header.Values("WWW-Authenticate"), ", ")
	insufficient := strings.Contains(challenge, "insufficient_scope") || a.str("error") == "insufficient_scope"
	switch {
	case a.err != nil && a.status == 0:
		return w.inconclusive("the %s did not answer (%s): nothing can be said of the scope check", resource, a)
	case a.status >= 200 && a.status < 300:
		return fmt.Errorf("expected HTTP 403 with error insufficient_scope for an access token that grants %s, not %s (RFC 6750 section 3.1); %s", granted, needed, a)
	case a.status == http.StatusForbidden:
		if !insufficient {
			w.warn("the bank refused with 403 but without error insufficient_scope (RFC 6750 section 3.1): %s", a)
		}
		return nil
	case a.status == http.StatusUnauthorized:
		w.warn("the bank refused with 401; RFC 6750 section 3.1 answers a valid token whose scope is not enough with 403 insufficient_scope: %s", a)
		return nil
	}
	return w.inconclusive("the %s refused the request for another reason than its scope, as far as can be told (%s): the scope check cannot be told apart", resource, a)
}

// asksBothRoles is AUTHZ-10's request: the primary TPP asks for the aisp and the cbpii
// scopes in one authorization request. Its first page is compared with the one of the
// same request for cbpii alone (the positive control, which costs no authentication);
// only a bank that shows the PSU its login page as for one role sees the journey go on,
// and the code it gives, if any, is exchanged to see what one grant holds.
func (w *World) asksBothRoles(ctx context.Context) error {
	c := w.named("primary")
	both := w.p.Scopes.AISP + " " + w.p.Scopes.CBPII
	w.sentState, w.redirectURI = newState(), c.RedirectURI
	w.control = w.firstPage(ctx, w.authorizeURLFor(c.ClientID, c.RedirectURI, "code", w.p.Scopes.CBPII), c.RedirectURI)
	w.altered = w.firstPage(ctx, w.authorizeURLFor(c.ClientID, c.RedirectURI, "code", both), c.RedirectURI)
	if !samePage(w.control, w.altered) {
		return nil // told apart at the first page: the Then says how
	}
	if err := w.beginJourney(ctx, c.RedirectURI); err != nil {
		return err
	}
	// A consent, were the bank to grant it: an expiry check must not watch meanwhile.
	// The code's exchange runs inside it (w.consentGate), and ends it.
	w.enterConsent(c.ClientID)
	defer w.leaveConsent()
	w.journey(ctx, w.authorizeURLFor(c.ClientID, c.RedirectURI, "code", both), c.RedirectURI, w.p.PSU.Approve,
		"This request asks for AISP and CBPII access at once: try to APPROVE it; the bank should refuse it, or grant one of the two only.")
	if cb := w.outcome.Callback; cb != nil && cb.Query().Get("code") != "" {
		w.code, w.codeReceived = cb.Query().Get("code"), time.Now()
		w.bothExchange = w.exchange(ctx, c, c.ClientID, c.RedirectURI)
	}
	return nil
}

// bothRolesNeverGranted is AUTHZ-10 (SHOULD): AISP and CBPII rights are never in one
// grant. The bank refuses the request (at its first page, on its pages, on the callback,
// or at the token endpoint for a role reason), or grants one role only: the token
// response's scope, or, where it says none, the resources its token opens.
func (w *World) bothRolesNeverGranted(ctx context.Context) error {
	ctrl, alt := w.control, w.altered
	if err := w.notAnAnswer(ctrl.page); err != nil {
		return err
	}
	if !ctrl.isPage() || ctrl.page.status != http.StatusOK {
		return w.inconclusive("positive control failed: the authorization request for %s alone does not reach a login page either (it gives %s), so a refusal of both scopes at once proves nothing", w.p.Scopes.CBPII, ctrl.where())
	}
	if why := notAnAuthorizationRefusal(alt); why != "" {
		return w.inconclusive("%s (the request for %s alone reaches %s)", why, w.p.Scopes.CBPII, ctrl.where())
	}
	if alt.callback != nil {
		return w.refusedOnCallback(alt.callback.Query(), "at once, at the first page")
	}
	if !samePage(alt, ctrl) {
		w.note("refused at the first page: the bank answered %s, where the request for %s alone reaches the login page %s", alt.where(), w.p.Scopes.CBPII, ctrl.where())
		return nil
	}
	o := w.outcome
	if o.Callback == nil {
		if err := w.journeyInconclusive(); err != nil {
			return w.inconclusive("%v", err)
		}
		return w.stoppedByTheBank("one role", "the two roles")
	}
	q := o.Callback.Query()
	if q.Get("code") == "" {
		return w.refusedOnCallback(q, "after the PSU's journey")
	}
	a := w.bothExchange
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		if a.status >= 400 && slices.Contains(roleRefusals, a.str("error")) {
			w.note("the bank gave a code but refused it at the token endpoint: %s", a)
			return nil
		}
		return w.inconclusive("the bank gave a code for both scopes, and its exchange was refused for another reason than the roles (%s): what one grant holds cannot be told", a)
	}
	if sc, ok := a.fields["scope"].(string); ok {
		aisp, cbpii := w.roleFamilies(strings.Fields(sc))
		if aisp && cbpii {
			return fmt.Errorf("expected AISP and CBPII rights never in one grant (the request refused, or one role granted); the bank granted %q in one grant", sc)
		}
		w.note("the bank split the request: it granted %q only", sc)
		return nil
	}
	// No scope in the answer (RFC 6749 section 5.1: then the scope asked for, both): the
	// resources the token opens say what it holds.
	accounts := w.callAccounts(ctx, w.named("primary"), "Bearer", a.str("access_token"))
	w.role = profile.RoleCBPII // the token is presented as a cbpii one
	funds := w.confirmFunds(ctx, w.named("primary"), a.str("access_token"))
	w.role = ""
	for _, r := range []*answer{accounts, funds} {
		if err := w.notARefusal(r); err != nil {
			return err
		}
	}
	opens := func(a *answer) bool { return a.err == nil && a.status == http.StatusOK }
	refuses := func(a *answer) bool {
		return a.err == nil && (a.status == http.StatusUnauthorized || a.status == http.StatusForbidden)
	}
	switch {
	case opens(accounts) && opens(funds):
		return fmt.Errorf("expected AISP and CBPII rights never in one grant (the request refused, or one role granted); the bank granted %q in one grant: its token, issued without a scope in the answer, opens both the accounts (%s) and the funds-confirmations resources (%s)", w.p.Scopes.AISP+" "+w.p.Scopes.CBPII, accounts, funds)
	case opens(accounts) && refuses(funds), opens(funds) && refuses(accounts):
		w.note("the bank split the request: the token of both scopes opens one role's resource only: accounts %s, funds-confirmations %s", accounts, funds)
		return nil
	}
	// Neither opens, or a probe failed for another reason (5xx, 429, no answer): what the
	// grant holds cannot be told from them.
	return w.inconclusive("the token the bank gave for both scopes, without a scope in its answer, does not show one role granted: accounts %s, funds-confirmations %s", accounts, funds)
}

// refusedOnCallback judges a callback without a code for AUTHZ-10: an error is the bank
// refusing the two roles at once (the same request for one role reached the login page).
func (w *World) refusedOnCallback(q url.Values, when string) error {
	switch e := q.Get("error"); e {
	case "":
		return w.inconclusive("the bank called the callback %s with neither a code nor an error", when)
	case "server_error", "temporarily_unavailable":
		return w.inconclusive("the bank called the callback %s with error=%q, which refuses every request, not this one", when, e)
	case "invalid_scope":
		w.note("refused %s: the callback carries error=invalid_scope", when)
	default:
		w.warn("the bank refused both scopes %s with error=%q; RFC 6749 section 4.1.2.1 names invalid_scope for a scope it will not grant", when, e)
	}
	return nil
}

// roleFamilies says which roles' scopes a list holds, as the bank names them.
func (w *World) roleFamilies(scopes []string) (aisp, cbpii bool) {
	for _, s := range scopes {
		aisp = aisp || s == w.p.Scopes.AISP || s == "extended_transaction_history"
		cbpii = cbpii || s == w.p.Scopes.CBPII
	}
	return aisp, cbpii
}

// refreshAddsOtherRole is REFRESH-07 across roles: the TPP refreshes its grant of one role
// asking for its scope and the other role's.
func (w *World) refreshAddsOtherRole(ctx context.Context) error {
	c := w.named("primary")
	if w.tokens.refresh == "" {
		return w.noRefreshToken()
	}
	f := refreshForm(w.tokens.refresh, c.ClientID)
	f.Set("scope", w.roleScope()+" "+w.otherRoleScope())
	w.refreshSpent = true // a widened grant, if the bank gives one, is not kept
	w.postToken(ctx, c, f)
	return nil
}

// otherRoleScope is the scope of the role the scenario's grant is not for.
func (w *World) otherRoleScope() string {
	if w.role == profile.RoleCBPII {
		return w.p.Scopes.AISP
	}
	return w.p.Scopes.CBPII
}

// otherRoleRefused checks that the refresh did not add the other role's scope, as for any
// wider scope (addedScopeRefused).
func (w *World) otherRoleRefused(ctx context.Context) error {
	other := w.otherRoleScope()
	return w.addedScopeRefused(ctx, other, "the other role's scope "+other)
}
