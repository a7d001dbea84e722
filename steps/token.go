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

	"github.com/stetconform/stetconform/internal/evidence"
	"github.com/stetconform/stetconform/internal/profile"
)

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
	return w.do(ctx, w.client(cert), req)
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
	return w.postToken(ctx, cert, f)
}

// keepTokens records a successful token response as the current tokens of owner.
func (w *World) keepTokens(owner *profile.Client, a *answer) error {
	if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		return fmt.Errorf("expected HTTP 200 with an access_token; %s", a)
	}
	t := &tokenSet{owner: owner, access: a.str("access_token"), refresh: a.str("refresh_token"),
		// Counted from the answer's arrival: the bank issued the token before, so waiting
		// expires_in from here never checks a token that has not yet expired.
		tokenType: a.str("token_type"), received: time.Now(), answer: a}
	if v, ok := a.fields["expires_in"]; ok {
		t.expiresIn, t.hasExpires = toSeconds(v)
	}
	w.previous, w.tokens = w.tokens, t
	return nil
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
func (w *World) hasTokens(ctx context.Context, c *profile.Client) error {
	if err := w.psuApproved(ctx, c); err != nil {
		return err
	}
	return w.keepTokens(c, w.exchange(ctx, c, c.ClientID, c.RedirectURI))
}

// hasRefreshed is the precondition "the TPP has refreshed its access token".
func (w *World) hasRefreshed(ctx context.Context, c *profile.Client) error {
	if err := w.holdsTokens(ctx, c); err != nil {
		return err
	}
	if w.tokens.refresh == "" {
		return errors.New("expected a refresh_token in the token response; there is none")
	}
	return w.keepRefreshed(c, w.postToken(ctx, c, refreshForm(w.tokens.refresh, c.ClientID)))
}

func (w *World) issuesAccessToken() error {
	if a := w.last; a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		return fmt.Errorf("expected an access token for a code exchange without scope (STET: the request shall be sent WITHOUT scope); %s", a)
	}
	return nil
}

func (w *World) answers200JSON() error {
	a := w.last
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
	want := strings.Join(codes, " or ")
	switch {
	case a.err != nil:
		return fmt.Errorf("expected HTTP 400 with error %s; %s", want, a)
	case a.status >= 200 && a.status < 300:
		return fmt.Errorf("expected the bank to refuse with error %s; it answered %s%s", want, a, tokenHint(a))
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

// clientRefused checks that the bank refused to authenticate the TPP, the way the bank
// profile declares: by ending the TLS handshake, by HTTP invalid_client, or either. A
// certificate the bank cannot accept at all (none, expired, untrusted) may also be refused
// by a TLS front end with its own 4xx page: allowed, with a warning. A client_id that
// does not match a valid certificate is the OAuth server's to refuse: strict.
func (w *World) clientRefused(strict bool) error {
	a := w.last
	mode := w.p.Options.ClientMismatch
	if a.err != nil && a.status == 0 { // no HTTP answer at all: a TLS-level refusal?
		if mode == "http" {
			return fmt.Errorf("expected HTTP 400 or 401 with error invalid_client (the profile declares client_mismatch: http); %s", a)
		}
		if !isTLSRefusal(a.err) {
			return fmt.Errorf("expected the bank to refuse the client in the TLS handshake or with invalid_client; the request failed otherwise: %s", evidence.Describe(a.err))
		}
		return nil
	}
	if a.err != nil || a.status >= 200 && a.status < 300 {
		return fmt.Errorf("expected the bank to refuse the client; it answered %s%s", a, tokenHint(a))
	}
	if mode == "tls" {
		return fmt.Errorf("expected the TLS handshake to fail (the profile declares client_mismatch: tls); the bank answered %s", a)
	}
	if a.str("error") != "invalid_client" || (a.status != http.StatusBadRequest && a.status != http.StatusUnauthorized) {
		if !strict && a.status >= 400 && a.status < 500 && a.str("access_token") == "" {
			w.warn("the bank refused the client with %s, not the RFC 6749 invalid_client error (a TLS front end's page?)", a)
			return nil
		}
		return fmt.Errorf("expected HTTP 400 or 401 with error invalid_client (RFC 6749 section 5.2, RFC 8705 section 2); %s", a)
	}
	return nil
}

// roleAsksAccess runs the whole flow for the TPP lacking the AISP role, noting where the
// bank refused it. Only a refusal counts: an OAuth error, an error page of the bank, or
// 401/403 on the accounts. A bank that fails (no answer, 5xx) has refused nothing, and the
// check says it cannot conclude.
func (w *World) roleAsksAccess(ctx context.Context, c *profile.Client) error {
	if err := w.psuDecides(ctx, c, true); err != nil {
		if w.journeyInconclusive() == nil { // stopped on one of the bank's own pages
			w.roleRefusedAt = "the authorization journey (" + journeyError(w.journeyErr) + ")"
			return nil
		}
		return fmt.Errorf("cannot tell whether the bank refuses the TPP without the AISP role: %w", err)
	}
	q := w.outcome.Callback.Query()
	if q.Get("code") == "" {
		if e := q.Get("error"); e != "" {
			w.roleRefusedAt = fmt.Sprintf("the callback (error=%q)", e)
			return nil
		}
		return fmt.Errorf("cannot tell whether the bank refuses the TPP without the AISP role: the callback has neither a code nor an error")
	}
	w.code = q.Get("code")
	a := w.exchange(ctx, c, c.ClientID, c.RedirectURI)
	switch {
	case a.status == 0 && a.err != nil && isTLSRefusal(a.err):
		w.roleRefusedAt = "the TLS handshake of the token endpoint (" + evidence.Describe(a.err) + ")"
		return nil
	case a.err != nil || a.status >= 500:
		return fmt.Errorf("cannot tell whether the bank refuses the TPP without the AISP role: the token endpoint failed: %s", a)
	case a.status >= 400 && (a.str("error") != "" || a.status == http.StatusUnauthorized || a.status == http.StatusForbidden),
		a.str("error") != "" && a.str("access_token") == "": // an OAuth error, even under a wrong status (TOKEN-13's business)
		w.roleRefusedAt = "the token endpoint (" + a.String() + ")"
		return nil
	case a.status != http.StatusOK || a.str("access_token") == "":
		return fmt.Errorf("cannot tell whether the bank refuses the TPP without the AISP role: %s", a)
	}
	if err := w.keepTokens(c, a); err != nil {
		return err
	}
	// A token may still be issued (without the aisp scope, say): what matters is that it
	// does not open the accounts.
	r := w.callAccounts(ctx, c, "Bearer", w.tokens.access)
	switch {
	case r.err == nil && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
		w.roleRefusedAt = fmt.Sprintf("the accounts resource (HTTP %d)", r.status)
	case r.err != nil || r.status != http.StatusOK:
		return fmt.Errorf("cannot tell whether the bank refuses the TPP without the AISP role: the accounts resource answered %s", r)
	}
	return nil
}

func (w *World) roleGetsNoAccess() error {
	if w.roleRefusedAt == "" {
		return fmt.Errorf("expected no usable AISP access for a certificate without the PSP_AI role; the bank issued a token and the accounts resource answered %s", w.last)
	}
	return nil
}

// scopeAtTokenAsDeclared checks TOKEN-15 against options.scope_at_token: ignored (a token
// is issued), rejected (an RFC 6749 error), or either (noted, never failed).
func (w *World) scopeAtTokenAsDeclared() error {
	a := w.last
	issued := a.err == nil && a.status == http.StatusOK && a.str("access_token") != ""
	refused := a.err == nil && a.status >= 400 && a.status < 500 && a.str("error") != ""
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
