package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cucumber/godog"
	messages "github.com/cucumber/messages/go/v21"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/report"
)

// tpp is the Gherkin phrase that names a TPP client of the bank profile.
const tpp = `(primary|second)`

// Initialize gives one scenario its World, its steps and its hooks. It is godog's
// ScenarioInitializer, closed over the run's Env.
func (e *Env) Initialize(sc *godog.ScenarioContext) {
	w := newWorld(e)
	e.mu.Lock()
	e.worlds = append(e.worlds, w)
	e.mu.Unlock()

	sc.Before(w.before)
	sc.StepContext().Before(func(ctx context.Context, _ *godog.Step) (context.Context, error) {
		w.stepStart, w.stepExch = time.Now(), w.rec.Len()
		return ctx, nil
	})
	sc.StepContext().After(w.afterStep)
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		w.keepRefreshToken()
		w.closeIdle()
		return ctx, nil
	})
	w.register(sc)
}

func (w *World) named(name string) *profile.Client { return w.p.ClientByName(name) }

func (w *World) register(sc *godog.ScenarioContext) {
	// Authorization.
	sc.Step(`^the PSU's browser opens the authorization request of the `+tpp+` TPP$`, func(ctx context.Context, c string) error {
		return w.browserOpensAuthorization(ctx, w.named(c))
	})
	sc.Step(`^the bank starts the PSU's authentication instead of answering with an error$`, w.bankStartsAuthentication)
	sc.Step(`^the PSU (approves|refuses) the authorization request of the `+tpp+` TPP$`, func(ctx context.Context, decision, c string) error {
		return w.psuDecides(ctx, w.named(c), decision == "approves")
	})
	sc.Step(`^the PSU has approved the authorization request of the `+tpp+` TPP$`, func(ctx context.Context, c string) error {
		return w.psuApproved(ctx, w.named(c))
	})
	sc.Step(`^the PSU (?:approves|has approved) the authorization request of the primary TPP with a PKCE challenge$`, func(ctx context.Context) error {
		w.verifier = newVerifier()
		return w.psuApproved(ctx, w.named("primary"))
	})
	sc.Step(`^the primary TPP exchanges the code with its code_verifier$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.exchange(ctx, c, c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP exchanges the code with (a wrong|no) code_verifier$`, func(ctx context.Context, which string) error {
		c := w.named("primary")
		f := codeForm(w.code, c.RedirectURI, c.ClientID)
		if which == "a wrong" {
			f.Set("code_verifier", newVerifier())
		}
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the bank calls the registered callback with a code$`, w.callbackHasCode)
	sc.Step(`^the callback carries the state exactly as the TPP sent it$`, w.callbackHasState)
	sc.Step(`^the bank calls the registered callback with an error and without a code$`, w.callbackHasErrorNoCode)
	sc.Step(`^the PSU goes through the authorization request of the primary TPP with (the redirect_uri "[^"]*"|its redirect_uri with an extra path segment|its redirect_uri on another port)$`, func(ctx context.Context, how string) error {
		c := w.named("primary")
		uri := alteredRedirect(c.RedirectURI, how)
		return w.psuGoesThrough(ctx, c.ClientID, uri, "code", uri)
	})
	sc.Step(`^the PSU's browser is never sent to that redirect_uri$`, func() error {
		return w.neverSentTo(w.redirectURI)
	})
	sc.Step(`^the PSU goes through the authorization request of the unknown TPP "([^"]*)" with the primary TPP's redirect_uri$`, func(ctx context.Context, id string) error {
		c := w.named("primary")
		return w.psuGoesThrough(ctx, id, c.RedirectURI, "code", c.RedirectURI)
	})
	sc.Step(`^the PSU goes through the authorization request of the primary TPP with the response_type "([^"]*)"$`, func(ctx context.Context, rt string) error {
		c := w.named("primary")
		return w.psuGoesThrough(ctx, c.ClientID, c.RedirectURI, rt, c.RedirectURI)
	})
	sc.Step(`^the PSU's browser is never sent to the primary TPP's callback$`, func() error {
		return w.neverSentTo(w.named("primary").RedirectURI)
	})
	sc.Step(`^no access token reaches the PSU's browser$`, w.noAccessTokenInBrowser)

	// Code exchange.
	sc.Step(`^the `+tpp+` TPP has exchanged a code for tokens$`, func(ctx context.Context, c string) error {
		return w.hasTokens(ctx, w.named(c))
	})
	sc.Step(`^the primary TPP exchanges the code at the token endpoint without a scope$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.exchange(ctx, c, c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the bank issues an access token$`, w.issuesAccessToken)
	sc.Step(`^the primary TPP exchanges the code with the scope it asked for, against STET's rule$`, func(ctx context.Context) error {
		c := w.named("primary")
		f := codeForm(w.code, c.RedirectURI, c.ClientID)
		if w.verifier != "" {
			f.Set("code_verifier", w.verifier)
		}
		f.Set("scope", w.p.Scopes.AISP) // the only code exchange of the suite with a scope
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the bank treats the scope as its declared option says$`, w.scopeAtTokenAsDeclared)
	sc.Step(`^the bank answers 200 with a JSON token response$`, w.answers200JSON)
	sc.Step(`^the token response has an access_token, a token_type and a refresh_token$`, w.tokenResponseComplete)
	sc.Step(`^the token_type is Bearer, compared case-insensitively$`, w.tokenTypeBearer)
	sc.Step(`^the token response forbids caching with Cache-Control no-store$`, w.tokenNotCached)
	sc.Step(`^expires_in is a positive whole number of seconds$`, w.expiresInPositive)
	sc.Step(`^the primary TPP exchanges the same code again$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.exchange(ctx, c, c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP exchanges the code with another redirect_uri$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.exchange(ctx, c, c.ClientID, alteredURI(c.RedirectURI))
		return nil
	})
	sc.Step(`^the primary TPP exchanges the code without the redirect_uri$`, func(ctx context.Context) error {
		c := w.named("primary")
		f := codeForm(w.code, "", c.ClientID)
		f.Del("redirect_uri")
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the second TPP exchanges the primary TPP's code with its own certificate and client_id$`, func(ctx context.Context) error {
		b := w.named("second")
		// The primary TPP's redirect_uri, as a thief of the code would send it: only the
		// binding of the code to its client is under test.
		w.exchange(ctx, b, b.ClientID, w.named("primary").RedirectURI)
		return nil
	})
	sc.Step(`^the bank refuses the token request with the error "([^"]*)"$`, func(code string) error { return w.refusedWith(code) })
	sc.Step(`^the bank refuses the token request with one of the errors "([^"]*)"$`, func(list string) error {
		return w.refusedWith(splitList(list)...)
	})
	sc.Step(`^the primary TPP sends a token request with an unknown code$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.postToken(ctx, c, codeForm("unknown-"+newUUID(), c.RedirectURI, c.ClientID))
		return nil
	})
	sc.Step(`^the primary TPP sends a token request without grant_type$`, func(ctx context.Context) error {
		c := w.named("primary")
		f := codeForm("unknown-"+newUUID(), c.RedirectURI, c.ClientID)
		f.Del("grant_type")
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the primary TPP sends a token request without the code$`, func(ctx context.Context) error {
		c := w.named("primary")
		f := codeForm("", c.RedirectURI, c.ClientID)
		f.Del("code")
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the primary TPP sends a token request with the grant_type "([^"]*)"$`, func(ctx context.Context, gt string) error {
		c := w.named("primary")
		f := codeForm("unknown-"+newUUID(), c.RedirectURI, c.ClientID)
		f.Set("grant_type", gt)
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the error response is JSON with HTTP status 400 and an RFC 6749 error code$`, w.errorResponseIsRFC)

	// Client certificate.
	sc.Step(`^the code is exchanged without a client certificate$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.exchange(ctx, nil, c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the code is exchanged with the primary TPP's expired certificate$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.exchange(ctx, w.named("expired"), c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP exchanges the second TPP's code under the second TPP's client_id$`, func(ctx context.Context) error {
		b := w.named("second")
		w.exchange(ctx, w.named("primary"), b.ClientID, b.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP refreshes the second TPP's token under the second TPP's client_id$`, func(ctx context.Context) error {
		if w.tokens.refresh == "" {
			return errors.New("expected a refresh_token for the second TPP; the bank gave none")
		}
		w.postToken(ctx, w.named("primary"), refreshForm(w.tokens.refresh, w.named("second").ClientID))
		return nil
	})
	sc.Step(`^the code is exchanged with a certificate carrying the primary TPP's identity from an untrusted issuer$`, func(ctx context.Context) error {
		c := w.named("primary")
		twin, err := untrustedTwin(c)
		if err != nil {
			return err
		}
		w.exchange(ctx, twin, c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP connects to the token endpoint with TLS 1.2 and then with TLS 1.1$`, func(ctx context.Context) error {
		return w.probeTLSVersions(ctx, w.named("primary"))
	})
	sc.Step(`^the bank accepts TLS 1.2 and refuses TLS 1.1$`, w.tlsLegacyRefused)
	sc.Step(`^the primary TPP sends the code exchange as a GET with the parameters in the query$`, func(ctx context.Context) error {
		return w.getToken(ctx, w.named("primary"))
	})
	sc.Step(`^the bank refuses the GET without issuing a token$`, w.getRefused)
	sc.Step(`^the bank refuses to authenticate the client$`, func() error { return w.clientRefused(false) })
	sc.Step(`^the bank refuses the client_id with invalid_client$`, func() error { return w.clientRefused(true) })
	sc.Step(`^the TPP without the AISP role asks for AISP access with the PSU's approval$`, func(ctx context.Context) error {
		return w.roleAsksAccess(ctx, w.named("without_aisp_role"))
	})
	sc.Step(`^the bank gives it no access token that opens the accounts resource$`, w.roleGetsNoAccess)

	// Bearer use.
	sc.Step(`^the access token has expired$`, w.waitForExpiry)
	sc.Step(`^the code has outlived the code lifetime the bank declares$`, w.waitForCodeExpiry)
	sc.Step(`^the `+tpp+` TPP calls the accounts resource with the access token$`, func(ctx context.Context, c string) error {
		w.callAccounts(ctx, w.named(c), "Bearer", w.tokens.access)
		return nil
	})
	sc.Step(`^the primary TPP calls the accounts resource with the access token under the scheme "([^"]*)"$`, func(ctx context.Context, scheme string) error {
		w.callAccounts(ctx, w.named("primary"), scheme, w.tokens.access)
		return nil
	})
	sc.Step(`^the primary TPP calls the accounts resource without an access token$`, func(ctx context.Context) error {
		w.callAccounts(ctx, w.named("primary"), "", "")
		return nil
	})
	sc.Step(`^the primary TPP calls the accounts resource with a (tampered|unknown) access token$`, func(ctx context.Context, kind string) error {
		tok := "unknown-" + newUUID()
		if kind == "tampered" {
			var err error
			if tok, err = tampered(w.tokens.access); err != nil {
				return err
			}
		}
		w.env.Redactor.Add(tok) // a tampered token is still mostly the real one
		w.callAccounts(ctx, w.named("primary"), "Bearer", tok)
		return nil
	})
	sc.Step(`^the second TPP calls the accounts resource with the primary TPP's access token$`, func(ctx context.Context) error {
		w.callAccounts(ctx, w.named("second"), "Bearer", w.tokens.access)
		return nil
	})
	sc.Step(`^the bank answers 200$`, w.answers200)
	sc.Step(`^the bank answers 401 with a Bearer challenge$`, w.answers401Challenge)
	sc.Step(`^the bank answers 401 with a Bearer challenge carrying the error "([^"]*)"$`, w.answers401Error)
	sc.Step(`^the bank refuses the access token$`, w.tokenRefused)
	sc.Step(`^the primary TPP calls the accounts resource with an unknown access token and an X-Request-ID$`, func(ctx context.Context) error {
		return w.callWithRequestID(ctx, w.named("primary"))
	})
	sc.Step(`^the bank answers 401 with a STET error body and echoes the X-Request-ID$`, w.stetErrorBody)

	// Refresh.
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
			return errors.New("expected a refresh_token for the primary TPP; the bank gave none")
		}
		b := w.named("second")
		w.refreshSpent = true // a bank may revoke a refresh token another TPP presented
		w.postToken(ctx, b, refreshForm(w.tokens.refresh, b.ClientID))
		return nil
	})
	sc.Step(`^the primary TPP refreshes the access token asking for a scope the PSU never granted$`, func(ctx context.Context) error {
		c := w.named("primary")
		if w.tokens.refresh == "" {
			return errors.New("expected a refresh_token for the primary TPP; the bank gave none")
		}
		// The only scope the suite ever sends: pisp is a payment role the PSU did not grant.
		f := refreshForm(w.tokens.refresh, c.ClientID)
		f.Set("scope", w.p.Scopes.AISP+" pisp")
		w.refreshSpent = true // a widened grant, if the bank gives one, is not kept
		w.postToken(ctx, c, f)
		return nil
	})
	sc.Step(`^the bank refuses the wider scope, or ignores it and says so$`, w.widerScopeRefused)
	sc.Step(`^the (primary|second) TPP revokes (its|the primary TPP's) (refresh|access) token$`, func(ctx context.Context, who, _, kind string) error {
		return w.revoke(ctx, w.named(who), kind)
	})
	sc.Step(`^the bank confirms the revocation$`, w.revocationConfirmed)
	sc.Step(`^the primary TPP's refresh with that token is refused with "([^"]*)"$`, func(ctx context.Context, code string) error {
		c := w.named("primary")
		w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))
		return w.refusedWith(code)
	})
	sc.Step(`^the primary TPP can still refresh its access token$`, func(ctx context.Context) error {
		c := w.named("primary")
		a := w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID))
		if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
			return fmt.Errorf("expected the primary TPP's refresh token to survive another TPP's revocation request (RFC 7009 section 2.1); the refresh got %s", a)
		}
		return nil
	})
	sc.Step(`^the primary TPP refreshes an unknown refresh token$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.postToken(ctx, c, refreshForm("unknown-"+newUUID(), c.ClientID))
		return nil
	})
}

// alteredURI is the registered redirect_uri with one more path segment: close enough to
// pass a sloppy prefix comparison, different enough to be another URI.
func alteredURI(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u + "/altered"
	}
	p.Path = strings.TrimSuffix(p.Path, "/") + "/altered"
	return p.String()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// before starts the scenario's result and decides whether it applies to this bank: a
// scenario tagged @client:NAME needs that client in the bank profile.
func (w *World) before(ctx context.Context, sc *godog.Scenario) (context.Context, error) {
	feature, line := "", 0
	if w.env.Locate != nil {
		feature, line = w.env.Locate(sc)
	}
	w.res = report.ScenarioResult{
		ID: fmt.Sprintf("%s:%d", strings.TrimPrefix(sc.Uri, "features/"), line), Feature: feature,
		Name: sc.Name, URI: sc.Uri, Line: line, Started: time.Now(),
	}
	for _, t := range sc.Tags {
		w.res.Tags = append(w.res.Tags, t.Name)
		if id := features.RequirementID(t.Name); id != "" {
			w.res.Requirements = append(w.res.Requirements, id)
		}
		if name, ok := strings.CutPrefix(t.Name, "@client:"); ok && w.p.ClientByName(name) == nil {
			w.na = fmt.Sprintf("the bank profile has no clients.%s", name)
		}
		if t.Name == "@client:expired" {
			if e, p := w.p.ClientByName("expired"), w.p.ClientByName("primary"); e != nil && p != nil &&
				(e.Leaf == nil || time.Now().Before(e.Leaf.NotAfter) || e.OrganizationIdentifier() != p.OrganizationIdentifier()) {
				w.na = "clients.expired is not an expired certificate carrying the primary TPP's organizationIdentifier (see stetconform profile check)"
			}
		}
		if t.Name == "@option:revoke" && w.p.Endpoints.Revoke == "" {
			w.na = "the bank profile declares no revocation endpoint (endpoints.revoke)"
		}
		if t.Name == "@pkce" && w.p.Options.PKCE == "none" {
			w.na = "the bank profile declares options.pkce: none"
		}
	}
	if w.na != "" {
		return ctx, godog.ErrSkip
	}
	return ctx, nil
}

func (w *World) afterStep(ctx context.Context, st *godog.Step, status godog.StepResultStatus, err error) (context.Context, error) {
	sr := report.StepResult{Keyword: keyword(st), Text: st.Text, Status: status.String(), Duration: time.Since(w.stepStart)}
	if err != nil && !errors.Is(err, godog.ErrSkip) {
		sr.Error = err.Error()
	}
	for i := w.stepExch; i < w.rec.Len(); i++ {
		sr.Exchanges = append(sr.Exchanges, i)
	}
	w.res.Steps = append(w.res.Steps, sr)
	return ctx, nil
}

// keyword names a pickle step by its type; And and But inherit the type of the step before.
func keyword(st *godog.Step) string {
	switch st.Type {
	case messages.PickleStepType_CONTEXT:
		return "Given"
	case messages.PickleStepType_ACTION:
		return "When"
	case messages.PickleStepType_OUTCOME:
		return "Then"
	}
	return "*"
}

// result is the scenario as it ran, with its verdict.
func (w *World) result() report.ScenarioResult {
	r := w.res
	r.Exchanges = w.rec.Exchanges()
	if !r.Started.IsZero() {
		r.Duration = 0
		for _, s := range r.Steps {
			r.Duration += s.Duration
		}
	}
	for _, s := range r.Steps {
		if s.Status == "failed" || s.Status == "undefined" || s.Status == "pending" || s.Status == "ambiguous" {
			r.Verdict = report.Failed
			r.Reason = s.Keyword + " " + s.Text + ": " + s.Error
			if s.Error == "" {
				r.Reason = s.Keyword + " " + s.Text + ": step is " + s.Status
			}
			return r
		}
	}
	switch {
	case w.na != "":
		r.Verdict, r.Reason = report.NotApplicable, w.na
	case w.skip != "":
		r.Verdict, r.Reason = report.Skipped, w.skip
	case len(r.Steps) == 0:
		r.Verdict, r.Reason = report.Skipped, "the scenario did not run"
	case len(r.Warnings) > 0:
		r.Verdict = report.Warning
	default:
		r.Verdict = report.Passed
	}
	return r
}
