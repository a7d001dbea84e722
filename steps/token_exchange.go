package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/consent"
	"github.com/stetconform/stetconform/internal/profile"
)

// registerTokenExchange gives the sentences of token_exchange.feature their code.
func (w *World) registerTokenExchange(sc sentences) {
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
	sc.Step(`^the `+tpp+` TPP has exchanged a code for tokens$`, func(ctx context.Context, c string) error {
		return w.hasTokens(ctx, w.named(c))
	})
	sc.Step(`^the primary TPP exchanges the code at the token endpoint without a scope$`, func(ctx context.Context) error {
		c := w.named("primary")
		if a := w.exchange(ctx, c, c.ClientID, c.RedirectURI); a.err == nil && a.status == http.StatusOK && a.str("access_token") != "" {
			w.env.observe(controlCodeExchange)
		}
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
	sc.Step(`^the code still works for the (primary|second) TPP with its own certificate$`, func(ctx context.Context, c string) error {
		return w.codeStillWorks(ctx, w.named(c))
	})
	sc.Step(`^a fresh code, exchanged at once, works$`, func(ctx context.Context) error {
		if w.env.Consents != nil {
			// Another check of the run exchanges a fresh code at once; it is the control.
			w.res.Tags = append(w.res.Tags, "@control:"+controlCodeExchange)
			w.note("positive control: a fresh code of the primary TPP, exchanged at once by another check of this run, gets tokens (the run is inconclusive here if none does)")
			return nil
		}
		return w.freshCodeWorks(ctx, w.named("primary"), "the expired code's refusal")
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
	sc.Step(`^the primary TPP sends the code exchange as a GET with the parameters in the query$`, func(ctx context.Context) error {
		return w.getToken(ctx, w.named("primary"))
	})
	sc.Step(`^the bank refuses the GET without issuing a token$`, w.getRefused)
	sc.Step(`^the code has outlived the code lifetime the bank declares$`, w.waitForCodeExpiry)
}

// rfc6749Errors are the error codes of RFC 6749 section 5.2.
var rfc6749Errors = []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope"}

// postToken sends a token request over TLS as cert (nil: no client certificate). The form
// never carries scope: STET forbids it on the code exchange, and the suite does not need
// it on refresh.
func (w *World) postToken(ctx context.Context, cert *profile.Client, form url.Values) *answer {
	req, err := http.NewRequest(http.MethodPost, w.p.Endpoints.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return &answer{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	w.lateCode = false // a refresh or another request: no code to have expired
	if err := w.apiHeaders(req, []byte(form.Encode()), cert, false); err != nil {
		return &answer{err: err}
	}
	a := w.do(ctx, w.client(cert), req)
	a.refresh = form.Get("grant_type") == "refresh_token" && w.tokens != nil && form.Get("refresh_token") != ""
	w.codeSent(form.Get("code"), cert, a)
	return a
}

// codeForm is the STET code exchange: grant_type, code, redirect_uri and client_id, and
// no scope.
func codeForm(code, redirectURI, clientID string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "client_id": {clientID}}
}

func refreshForm(refreshToken, clientID string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID}}
}

// exchange sends the current code as cert under clientID with redirectURI, and the PKCE
// code_verifier when the authorization request carried a challenge (also when another TPP
// presents the code: as if stolen with it, so that only what is under test differs).
func (w *World) exchange(ctx context.Context, cert *profile.Client, clientID, redirectURI string) *answer {
	f := codeForm(w.code, redirectURI, clientID)
	if w.verifier != "" {
		f.Set("code_verifier", w.verifier)
	}
	// A code sent when it may have expired makes a refusal ambiguous: its expiry, or what
	// the check altered (TOKEN-08 lets its code expire on purpose).
	var a *answer
	w.sharingGate(clientID, func() { a = w.postToken(ctx, cert, f) })
	if w.heldCode == nil || w.heldCode.Value != w.code {
		// The code is spent. A code refused and still held stays a consent under way: its
		// next exchange, here or in the next check of its chain, must not wait for a watch
		// (and expire meanwhile); a watch waiting for it ends the chain (deferControl).
		w.leaveConsent()
	}
	// When the request left, not when it was made: the run's rate limit may hold it back.
	sent, life := time.Now().Add(-a.took), w.p.Options.CodeLifetime
	// postToken cleared lateCode: it is about this request only.
	w.lateCode = life > 0 && !w.codeLeftToExpire && !w.codeReceived.IsZero() &&
		sent.Sub(w.codeReceived) > life-w.p.Options.ExpirySkew
	return a
}

// codeMayHaveExpired says why a refused code exchange proves nothing: the code was sent
// when it may already have expired.
func (w *World) codeMayHaveExpired() error {
	if !w.lateCode {
		return nil
	}
	return w.inconclusive("the code was sent %s after the callback brought it, past its declared lifetime of %s (less the skew): its refusal may be its expiry, not what this check altered",
		time.Since(w.codeReceived).Round(time.Millisecond), w.p.Options.CodeLifetime)
}

// codeStillWorks is the positive control of a refused code exchange: the same code, sent
// as it should be by the TPP it was issued to (its certificate, client_id, redirect_uri
// and verifier), gets tokens. Then the refusal was for what the check altered. A bank may
// burn a code on a refused exchange: then a fresh code stands in for it.
func (w *World) codeStillWorks(ctx context.Context, c *profile.Client) error {
	refused := w.last
	if b := w.env.Consents; b != nil && w.heldCode != nil && !w.linkDone {
		w.linkDone = true
		hc := w.heldCode
		chain := consent.LinkKey(c.Name, hc.Verifier != "")
		b.LinkDone(chain)
		nearEnd := !hc.UsableUntil.IsZero() && time.Until(hc.UsableUntil) < 2*w.codeMargin()
		if w.p.Options.CodeAfterRefusal == "survives" && !b.LastLink(chain) && !nearEnd && w.deferControl(c) {
			return nil
		}
		if w.making == "" {
			// The last check of the chain exchanges the code: a grant for the pool.
			b.Making(c.Name)
			w.making = c.Name
		}
	}
	a := w.exchange(ctx, c, c.ClientID, c.RedirectURI)
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err == nil && a.status == http.StatusOK && a.str("access_token") != "" {
		w.note("positive control: the same code, sent as it should be by %s, got tokens", c.Describe())
		return nil
	}
	if w.heldCode != nil {
		w.env.Consents.Dead(w.heldCode, fmt.Sprintf("scenario %s: %s", w.res.ID, a))
		w.heldCode = nil
		w.leaveConsent() // the code is spent: no consent under way is left to protect
		if c.Name == "primary" {
			// The run's other checks show that a fresh code of the primary TPP, sent as
			// it should be, gets tokens: no PSU journey for it here.
			w.res.Tags = append(w.res.Tags, "@control:"+controlCodeExchange)
			w.note("the code no longer works after the refused exchange (%s): the bank burns it (options.code_after_refusal: burned says so); the positive control is a fresh code of the primary TPP exchanged by another check of this run", a)
			return nil
		}
	}
	w.note("the code no longer works after the refused exchange (%s): the bank burns it; a fresh code is the positive control", a)
	return w.freshCodeWorks(ctx, c, fmt.Sprintf("the refusal (%s)", refused))
}

// freshCodeWorks is a positive control by a new PSU journey: a fresh code of c, exchanged
// at once as it should be, gets tokens. If it does not, refused (what the check saw) is
// not attributable to what the check is about.
func (w *World) freshCodeWorks(ctx context.Context, c *profile.Client, refused string) error {
	w.verifier = ""
	if err := w.psuApproved(ctx, c, true); err != nil {
		w.inconclusiveWhy = ""
		return w.inconclusive("positive control failed: a fresh PSU journey for %s gave no code (%v), so %s cannot be attributed to what this check is about", c.Describe(), err, refused)
	}
	a := w.exchange(ctx, c, c.ClientID, c.RedirectURI)
	if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		if err := w.notAnAnswer(a); err != nil {
			return err
		}
		return w.inconclusive("positive control failed: a fresh code of %s, exchanged at once as it should be, is refused too (%s), so %s cannot be attributed to what this check is about", c.Describe(), a, refused)
	}
	w.note("positive control: a fresh code of %s, exchanged at once, got tokens", c.Describe())
	return nil
}

// keepTokens records a successful token response as the current tokens of owner.
func (w *World) keepTokens(owner *profile.Client, a *answer) error {
	if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		return fmt.Errorf("expected HTTP 200 with an access_token; %s", a)
	}
	w.previous, w.tokens = w.tokens, newTokenSet(owner, a)
	return nil
}

// newTokenSet reads a successful token response of owner.
func newTokenSet(owner *profile.Client, a *answer) *tokenSet {
	t := &tokenSet{owner: owner, access: a.str("access_token"), refresh: a.str("refresh_token"),
		// Counted from the answer's arrival: the bank issued the token before, so waiting
		// expires_in from here never checks a token that has not yet expired.
		tokenType: a.str("token_type"), received: time.Now(), sent: time.Now().Add(-a.took), answer: a, seen: time.Now()}
	if v, ok := a.fields["expires_in"]; ok {
		t.expiresIn, t.hasExpires = toSeconds(v)
	}
	return t
}

// toSeconds reads expires_in as a JSON number or, leniently, a numeric string.
func toSeconds(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		var f float64
		if err := json.Unmarshal([]byte(x), &f); err == nil {
			return f, true
		}
	}
	return 0, false
}

// hasTokens is the precondition "the TPP has exchanged a code for tokens".
// A grant of an earlier consent of the run stands in for a new one where the consent plan
// allows (consent.go).
func (w *World) hasTokens(ctx context.Context, c *profile.Client) error {
	if w.lease(ctx, c) {
		return nil
	}
	w.verifier = ""
	if err := w.psuApproved(ctx, c, true); err != nil {
		return err
	}
	if err := w.keepTokens(c, w.exchange(ctx, c, c.ClientID, c.RedirectURI)); err != nil {
		return err
	}
	w.tokens.consentAt, w.tokens.consentFrom = w.codeReceived, w.journeyStarted
	if c.Name == "primary" {
		w.env.observe(controlCodeExchange)
	}
	w.registerGrant(c)
	return nil
}

// hasRefreshed is the precondition "the TPP has refreshed its access token".
func (w *World) hasRefreshed(ctx context.Context, c *profile.Client) error {
	if err := w.holdsTokens(ctx, c); err != nil {
		return err
	}
	if w.tokens.refresh == "" {
		return w.noRefreshToken()
	}
	return w.keepRefreshed(c, w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID)))
}

func (w *World) issuesAccessToken() error {
	if err := w.notAnAnswer(w.last); err != nil {
		return err
	}
	if a := w.last; a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		return fmt.Errorf("expected an access token for a code exchange without scope (STET: the request shall be sent WITHOUT scope); %s", a)
	}
	return nil
}

func (w *World) answers200JSON() error {
	a := w.last
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK {
		return fmt.Errorf("expected HTTP 200; %s", a)
	}
	if !a.isJSON() {
		return fmt.Errorf("expected a JSON token response (Content-Type application/json); Content-Type is %q", a.header.Get("Content-Type"))
	}
	if a.fields == nil {
		return fmt.Errorf("expected a JSON object; the body does not parse: %v", a.jsonErr)
	}
	return nil
}

func (w *World) tokenResponseComplete() error {
	var missing []string
	for _, f := range []string{"access_token", "token_type", "refresh_token"} {
		if w.last.str(f) == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("expected access_token, token_type and refresh_token in the token response; missing or not a string: %s", strings.Join(missing, ", "))
	}
	return nil
}

func (w *World) tokenTypeBearer() error {
	tt := w.tokens.tokenType
	if !strings.EqualFold(tt, "Bearer") {
		return fmt.Errorf("expected token_type Bearer (any case); the bank answered token_type=%q", tt)
	}
	if tt != "Bearer" {
		w.warn("token_type is %q: accepted (RFC 6749 section 5.1 compares it case-insensitively), but STET banks such as BPCE document it as \"Bearer\"", tt)
	}
	return nil
}

func (w *World) tokenNotCached() error {
	h := w.tokens.answer.header
	if !hasDirective(h.Values("Cache-Control"), "no-store") {
		return fmt.Errorf("expected Cache-Control: no-store on the token response (RFC 6749 section 5.1); Cache-Control is %q", strings.Join(h.Values("Cache-Control"), ", "))
	}
	if !hasDirective(h.Values("Pragma"), "no-cache") {
		w.warn("no Pragma: no-cache on the token response (RFC 6749 section 5.1 asks for it; it is obsolete in HTTP/1.1 caches)")
	}
	return nil
}

// hasDirective looks for a comma-separated directive in header values, ignoring case.
func hasDirective(values []string, want string) bool {
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(name, want) {
				return true
			}
		}
	}
	return false
}

func (w *World) expiresInPositive() error {
	v, ok := w.tokens.answer.fields["expires_in"]
	if !ok {
		return errors.New("expected expires_in in the token response; there is none, so the TPP cannot know when the access token expires")
	}
	switch x := v.(type) {
	case float64:
		if x <= 0 || x != math.Trunc(x) {
			return fmt.Errorf("expected expires_in to be a positive whole number of seconds; it is %v", x)
		}
	case string:
		f, ok := toSeconds(x)
		if !ok || f <= 0 || f != math.Trunc(f) {
			return fmt.Errorf("expected expires_in to be a positive whole number of seconds; it is the string %q", x)
		}
		w.warn("expires_in is the string %q; RFC 6749 section 5.1 makes it a JSON number", x)
	default:
		return fmt.Errorf("expected expires_in to be a number of seconds; it is %v", v)
	}
	return nil
}

// refusedWith checks an RFC 6749 section 5.2 refusal with one of the given error codes.
func (w *World) refusedWith(codes ...string) error {
	a := w.last
	if a.status != http.StatusOK {
		if err := w.codeMayHaveExpired(); err != nil {
			return err
		}
	}
	if err := w.notARefusal(a); err != nil {
		return err
	}
	want := strings.Join(codes, " or ")
	switch {
	case a.err != nil:
		return fmt.Errorf("expected HTTP 400 with error %s; %s", want, a)
	case a.status >= 200 && a.status < 300:
		return fmt.Errorf("expected the bank to refuse with error %s; it answered %s%s", want, a, tokenHint(a))
	case a.refresh:
		// A refresh refused past its consent's declared lifetime says nothing of the check.
		if err := w.refreshTooLate(a); err != nil {
			return err
		}
	}
	got := a.str("error")
	if !slices.Contains(codes, got) {
		return fmt.Errorf("expected error %s; %s", want, a)
	}
	if a.status != http.StatusBadRequest && !(got == "invalid_client" && a.status == http.StatusUnauthorized) {
		return fmt.Errorf("expected HTTP 400 for error %s (RFC 6749 section 5.2); the bank answered HTTP %d", got, a.status)
	}
	return nil
}

func tokenHint(a *answer) string {
	if a.str("access_token") != "" {
		return ", with an access token"
	}
	return ""
}

func (w *World) errorResponseIsRFC() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if a.err != nil {
		return fmt.Errorf("expected an HTTP error response; %s", a)
	}
	var problems []string
	if a.status != http.StatusBadRequest {
		problems = append(problems, fmt.Sprintf("status is %d, not 400", a.status))
	}
	if !a.isJSON() {
		problems = append(problems, fmt.Sprintf("Content-Type is %q, not application/json", a.header.Get("Content-Type")))
	}
	if a.fields == nil {
		problems = append(problems, fmt.Sprintf("the body is not a JSON object (%v)", a.jsonErr))
	} else if e := a.str("error"); !slices.Contains(rfc6749Errors, e) {
		problems = append(problems, fmt.Sprintf("error %q is not one of %s", e, strings.Join(rfc6749Errors, ", ")))
	}
	if len(problems) > 0 {
		return fmt.Errorf("expected an RFC 6749 section 5.2 error response: %s; %s", strings.Join(problems, "; "), a)
	}
	return nil
}

// scopeAtTokenAsDeclared checks TOKEN-15 against options.scope_at_token: ignored (a token
// is issued), rejected (an RFC 6749 error), or either (noted, never failed).
func (w *World) scopeAtTokenAsDeclared() error {
	a := w.last
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if w.p.Options.ScopeAtToken != "ignored" {
		if err := w.notARefusal(a); err != nil {
			return err
		}
	}
	issued := a.err == nil && a.status == http.StatusOK && a.str("access_token") != ""
	refused := a.err == nil && a.status >= 400 && a.status < 500 && a.str("error") != ""
	if refused && w.p.Options.ScopeAtToken != "ignored" {
		// A refusal counts for the scope only when it names a request or scope error, the
		// code was sent in its lifetime, and the run saw a code exchanged without a scope.
		if err := w.codeMayHaveExpired(); err != nil {
			return err
		}
		if e := a.str("error"); e != "invalid_scope" && e != "invalid_request" {
			return w.inconclusive("the code exchange with a scope was refused with error %q, not invalid_scope or invalid_request: a refusal for another reason than the scope, as far as can be told (%s)", e, a)
		}
		w.res.Tags = append(w.res.Tags, "@control:"+controlCodeExchange)
	}
	switch mode := w.p.Options.ScopeAtToken; {
	case mode == "ignored" && !issued:
		return fmt.Errorf("expected a token despite the scope (the profile declares scope_at_token: ignored); %s", a)
	case mode == "rejected" && !refused:
		return fmt.Errorf("expected an RFC 6749 error for the scope (the profile declares scope_at_token: rejected); %s", a)
	case mode == "either" && issued:
		w.note("the bank ignores a scope sent on the code exchange")
	case mode == "either" && refused:
		w.note("the bank refuses a scope sent on the code exchange (%s)", a.str("error"))
	case mode == "either":
		return fmt.Errorf("expected a token or an RFC 6749 error; %s", a)
	}
	return nil
}

// getToken sends the code exchange as GET with its parameters in the query (TOKEN-14).
func (w *World) getToken(ctx context.Context, c *profile.Client) error {
	q := codeForm(w.code, c.RedirectURI, c.ClientID)
	req, err := http.NewRequest(http.MethodGet, w.p.Endpoints.Token+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	w.codeSent(w.code, c, w.do(ctx, w.client(c), req))
	return nil
}

func (w *World) getRefused() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	switch {
	case a.err != nil:
		return fmt.Errorf("expected HTTP 405 (or 400) to GET /token; %s", a)
	case a.str("access_token") != "" || a.status >= 200 && a.status < 300:
		return fmt.Errorf("expected the token endpoint to serve POST only (RFC 6749 section 3.2); it answered the GET with %s%s", a, tokenHint(a))
	case a.status == http.StatusMethodNotAllowed || a.status == http.StatusBadRequest:
		return nil
	case a.status >= 400 && a.status < 500:
		w.warn("the token endpoint refused the GET with HTTP %d; 405 Method Not Allowed says why", a.status)
		return nil
	default:
		return fmt.Errorf("expected HTTP 405 (or 400) to GET /token; %s", a)
	}
}

// waitForCodeExpiry waits out the code lifetime the bank declares (options.code_lifetime),
// counted from the callback, when the profile allows waiting that long.
func (w *World) waitForCodeExpiry(ctx context.Context) error {
	w.codeLeftToExpire = true
	w.leaveConsent() // a code left to expire need not keep expiry checks waiting
	life, skew := w.p.Options.CodeLifetime, w.p.Options.ExpirySkew
	switch {
	case life <= 0:
		return w.skipBecause("the bank profile does not declare options.code_lifetime, so the suite cannot know when a code expires")
	case life+skew > w.p.Options.MaxExpiryWait:
		return w.skipBecause("the code lives %s (options.code_lifetime), more than options.max_expiry_wait %s allows the suite to wait", life, w.p.Options.MaxExpiryWait)
	}
	return w.sleep(ctx, time.Until(w.codeReceived.Add(life+skew)), "the code to expire")
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
