package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/httpsig"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/state"
)

// registerBearerToken gives the sentences of bearer_token.feature their code.
func (w *World) registerBearerToken(sc sentences) {
	sc.Step(`^the access token still opens the accounts resource shortly before it expires$`, w.stillValidBeforeExpiry)
	sc.Step(`^the access token has expired$`, w.waitForExpiry)
	sc.Step(`^the bank refuses the expired access token with 401 and the error "([^"]*)"$`, w.refusedAsExpired)
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
	sc.Step(`^the access token as issued still opens the accounts resource$`, func(ctx context.Context) error {
		refused := w.last
		a := w.callAccounts(ctx, w.named("primary"), "Bearer", w.tokens.access)
		if err := w.notAnAnswer(a); err != nil {
			return err
		}
		if a.err != nil || a.status != http.StatusOK {
			return w.inconclusive("positive control failed: the access token as issued does not open the accounts resource either (%s), so the refusal (%s) proves nothing about the altered token", a, refused)
		}
		w.note("positive control: the access token as issued opens the accounts resource")
		return nil
	})
	sc.Step(`^the bank answers 401 with a Bearer challenge$`, w.answers401Challenge)
	sc.Step(`^the bank answers 401 with a Bearer challenge carrying the error "([^"]*)"$`, w.answers401Error)
	sc.Step(`^the bank refuses the access token$`, w.tokenRefused)
	sc.Step(`^the second TPP's own access token opens the accounts resource$`, w.ownTokenOpens)
	sc.Step(`^the primary TPP calls the accounts resource with an unknown access token and an X-Request-ID$`, func(ctx context.Context) error {
		return w.callWithRequestID(ctx, w.named("primary"))
	})
	sc.Step(`^the bank answers 401 with a STET error body and echoes the X-Request-ID$`, w.stetErrorBody)
}

// callAccounts calls the bank's Bearer-protected accounts resource as cert, with
// "Authorization: <scheme> <token>" (no header when token is "").
func (w *World) callAccounts(ctx context.Context, cert *profile.Client, scheme, token string) *answer {
	req, err := http.NewRequest(http.MethodGet, w.p.Endpoints.Accounts, nil)
	if err != nil {
		return &answer{err: err}
	}
	req.Header.Set("Accept", w.p.Options.ResourceMediaType)
	if token != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	if err := w.apiHeaders(req, nil, cert, true); err != nil {
		return &answer{err: err}
	}
	a := w.do(ctx, w.client(cert), req)
	if a.err == nil && a.status == http.StatusOK && token != "" && cert != nil && cert.Name == "primary" && w.role == "" {
		w.env.observe(controlResource)
	}
	// When the request left, not when it was made: the run's rate limit may hold it back
	// past the token's expiry.
	if t := w.tokens; t != nil && token != "" && token == t.access {
		sent, exp := a.sent, t.expiresAt()
		if !exp.IsZero() && sent.After(exp.Add(-w.p.Options.ExpirySkew)) {
			w.lateToken = fmt.Sprintf("the request left %s after the access token arrived, with expires_in %gs (less the declared skew of %s)",
				sent.Sub(t.received).Round(time.Millisecond), t.expiresIn, w.p.Options.ExpirySkew)
		}
	}
	return a
}

// callResource calls the resource of the scenario's role with token as cert: the accounts
// resource for aisp, funds-confirmations for cbpii.
func (w *World) callResource(ctx context.Context, cert *profile.Client, token string) *answer {
	if w.role == profile.RoleCBPII {
		return w.confirmFunds(ctx, cert, token)
	}
	return w.callAccounts(ctx, cert, "Bearer", token)
}

// resource names the resource of the scenario's role.
func (w *World) resource() string {
	if w.role == profile.RoleCBPII {
		return roleCBPII.resource
	}
	return roleAISP.resource
}

// stillValidBeforeExpiry is the first half of the expiry check (BEARER-04): the token is
// seen opening the accounts resource shortly before it expires, with the TPP's expiry gate
// closed from then on, so that a refusal after the expiry can only be the expiry. A token
// that lives longer than the run may wait is replaced by one an earlier run kept, when
// that one expires within the wait; otherwise the check is skipped with when to run it.
func (w *World) stillValidBeforeExpiry(ctx context.Context) error {
	t := w.tokens
	if t.expiresAt().IsZero() {
		return w.skipBecause("the bank gave no usable expires_in, so the suite cannot know when the access token expires (see TOKEN-05)")
	}
	if t.expiresIn > (24 * time.Hour * 365 * 100).Seconds() {
		t.expiresIn = (24 * time.Hour * 365 * 100).Seconds() // no overflow: longer than any wait anyway
	}
	if time.Until(t.expiresAt().Add(w.p.Options.ExpirySkew)) > w.p.Options.MaxExpiryWait {
		if err := w.expiryAcrossRuns(); err != nil {
			return err
		}
		t = w.tokens
	}
	// "Shortly before" the earliest moment the token may expire: the bank issued it after
	// the request was sent and may round expires_in up by a second; less the declared
	// clock skew.
	expiry := t.expiresAt()
	earliest := t.expiresAt().Add(-t.received.Sub(t.sent) - time.Second)
	if t.sent.IsZero() {
		earliest = expiry.Add(-time.Second)
	}
	checkAt := earliest.Add(-w.p.Options.ExpirySkew - shortlyBefore(t))
	if err := w.sleep(ctx, time.Until(checkAt)-w.env.gateLead(), "the moment to watch the access token expire"); err != nil {
		return err
	}
	closing := time.Now()
	// The watch ends once the token is seen refused after its expiry: a request after it.
	w.closeGate(t.owner.ClientID, t.expiresAt().Add(w.p.Options.ExpirySkew+w.watchRequest()))
	if err := w.sleep(ctx, time.Until(checkAt), "the moment to watch the access token expire"); err != nil {
		return err
	}
	if !time.Now().Before(earliest.Add(-w.p.Options.ExpirySkew)) {
		w.openGate()
		return w.inconclusive("the suite could not call the accounts resource before the access token's earliest expiry: it waited %s for consents under way to finish; run the expiry checks alone (--tags @expiry)", time.Since(closing).Round(time.Millisecond))
	}
	at := time.Now()
	a := w.callResource(ctx, t.owner, t.access)
	if a.err != nil || a.status != http.StatusOK {
		w.openGate()
		if err := w.notAnAnswer(a); err != nil {
			return err
		}
		if !at.Before(earliest.Add(-w.p.Options.ExpirySkew)) {
			return w.inconclusive("the access token could not be seen working before its expiry: called at %s, it may already have expired (earliest %s, given expires_in rounded up and the request's transit): %s",
				at.Format(time.RFC3339Nano), earliest.Format(time.RFC3339Nano), a)
		}
		return w.inconclusive("the access token was refused %s BEFORE its expiry (%s): it was superseded or revoked, not expired, so its refusal after the expiry would prove nothing. A bank that keeps one token pair per PSU and TPP revokes a token when the PSU consents again: run the expiry checks alone (--tags @expiry)",
			earliest.Sub(at).Round(time.Millisecond), a)
	}
	w.seenValidAt = at
	return nil
}

// shortlyBefore is how long before its earliest expiry (less the skew) the expiry check
// sees the token working: an eighth of its life, from 100 ms to 2 s, so that a loaded
// machine waking late still calls in time.
func shortlyBefore(t *tokenSet) time.Duration {
	return min(max(time.Duration(t.expiresIn*float64(time.Second))/8, 100*time.Millisecond), 2*time.Second)
}

// watchable says whether the expiry check can still watch t: see it working shortly
// before its earliest expiry (expires_in rounded up by a second, less the skew), with the
// gate's least lead to spare. A grant lent with less is refreshed first.
func (w *World) watchable(t *tokenSet) bool {
	exp := t.expiresAt()
	return exp.IsZero() || time.Until(exp) > time.Second+w.p.Options.ExpirySkew+shortlyBefore(t)+minGateLead
}

// minGateLead is how long, at least, before the check the expiry gate starts closing:
// journeys and code exchanges under way finish first (the gate's lead grows with the
// longest consent seen, gateLead). 200 ms, not 500: with 2 s tokens, a watch starting at
// the run's start closed the gate at once, and every consent of the TPP, the other
// role's grant the other expiry check needs among them, waited out the whole watch.
const minGateLead = 200 * time.Millisecond

// waitForExpiry waits until the access token has expired, plus the declared skew.
func (w *World) waitForExpiry(ctx context.Context) error {
	if w.seenValidAt.IsZero() {
		return errors.New("the suite's own error: the access token was not seen working before its expiry")
	}
	return w.sleep(ctx, time.Until(w.tokens.expiresAt().Add(w.p.Options.ExpirySkew)), "the access token to expire")
}

// refusedAsExpired is the second half of BEARER-04: the same token, refused after its
// expiry with 401 and invalid_token. invalid_token carried only in the body (the STET
// error model or an OAuth error member), not in WWW-Authenticate, is a warning.
func (w *World) refusedAsExpired(want string) error {
	w.openGate()
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	seen := fmt.Sprintf("the same token opened the %s %s before its expiry", w.resource(), w.tokens.expiresAt().Sub(w.seenValidAt).Round(time.Millisecond))
	switch {
	case a.err != nil || a.status != http.StatusUnauthorized:
		return fmt.Errorf("expected HTTP 401 with WWW-Authenticate: Bearer error=%q for the expired access token (%s); %s", want, seen, a)
	}
	if found, code := bearerChallenge(a.header); found && code == want {
		w.note("%s, and was refused %s after it", seen, time.Since(w.tokens.expiresAt()).Round(time.Millisecond))
		return nil
	}
	if a.str("error") == want || strings.Contains(a.str("message"), want) {
		w.warn("the expired token's 401 says %s only in its body, not in WWW-Authenticate: Bearer error=%q (RFC 6750 section 3.1)", want, want)
		return nil
	}
	return fmt.Errorf("expected WWW-Authenticate: Bearer error=%q for the expired access token (RFC 6750 section 3.1; %s); %s", want, seen, a)
}

func (w *World) answers200() error {
	if err := w.notAnAnswer(w.last); err != nil {
		return err
	}
	if a := w.last; w.lateToken != "" && a.err == nil && a.status == http.StatusUnauthorized {
		// Held back by the run's rate limit or a Retry-After: a refusal then may be the
		// token's expiry.
		return w.inconclusive("%s: its refusal may be the token's expiry, which proves nothing here; %s", w.lateToken, a)
	}
	if a := w.last; a.err != nil || a.status != http.StatusOK {
		return fmt.Errorf("expected HTTP 200 from the accounts resource; %s", a)
	}
	return nil
}

// bearerChallenge finds the Bearer challenge in WWW-Authenticate and its error parameter.
func bearerChallenge(h http.Header) (found bool, errCode string) {
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, params, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		for _, p := range httpsig.SplitParams(params) {
			k, val, ok := strings.Cut(p, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "error") {
				errCode = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
		return true, errCode
	}
	return false, ""
}

func (w *World) answers401Challenge() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusUnauthorized {
		return fmt.Errorf("expected HTTP 401 with a Bearer challenge; %s", a)
	}
	found, code := bearerChallenge(a.header)
	if !found {
		return fmt.Errorf("expected a WWW-Authenticate: Bearer challenge with the 401 (RFC 6750 section 3); %s", a)
	}
	if code != "" {
		w.warn("the challenge to a request without a token carries error=%q; RFC 6750 section 3.1 says it should not", code)
	}
	return nil
}

func (w *World) answers401Error(want string) error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusUnauthorized {
		return fmt.Errorf("expected HTTP 401 with WWW-Authenticate: Bearer error=%q; %s", want, a)
	}
	found, code := bearerChallenge(a.header)
	if !found || code != want {
		return fmt.Errorf("expected WWW-Authenticate: Bearer error=%q (RFC 6750 section 3.1); %s", want, a)
	}
	return nil
}

func (w *World) tokenRefused() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	switch {
	case a.err != nil:
		return fmt.Errorf("expected HTTP 401 or 403; %s", a)
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return nil
	default:
		return fmt.Errorf("expected the bank to refuse an access token presented over another TPP's certificate with HTTP 401 or 403; %s", a)
	}
}

// ownTokenOpens is the positive control of BEARER-06: the second TPP's own token opens the
// accounts resource over its certificate, so its refusal of the primary TPP's token was
// for the token, not for the second TPP.
func (w *World) ownTokenOpens(ctx context.Context) error {
	refused, primary := w.last, w.tokens
	second := w.named("second")
	if err := w.hasTokens(ctx, second); err != nil {
		w.inconclusiveWhy = ""
		return w.inconclusive("positive control failed: the second TPP could not get its own access token (%v), so the refusal (%s) may be the second TPP's, not the token's", err, refused)
	}
	a := w.callResource(ctx, second, w.tokens.access)
	w.tokens = primary
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK {
		return w.inconclusive("positive control failed: the second TPP's own access token does not open the %s either (%s), so the refusal of the primary TPP's token proves nothing", w.resource(), a)
	}
	w.note("positive control: the second TPP's own access token opens the %s over its certificate", w.resource())
	return nil
}

// tampered returns the access token with a character in its middle changed. Not the last
// one: in base64url the last character of a signature carries unused bits, and a lenient
// decoder would read the tampered token as the real one.
func tampered(tok string) (string, error) {
	if len(tok) < 2 {
		return "", errors.New("no access token to tamper with")
	}
	i := len(tok) / 2
	if tok[i] == '.' {
		i++
	}
	repl := byte('A')
	if tok[i] == 'A' {
		repl = 'B'
	}
	return tok[:i] + string(repl) + tok[i+1:], nil
}

// expiryAcrossRuns handles a token that lives longer than the run may wait. This run's
// token is kept in the state file; the check is made, with all its proof, by a run that
// finds a kept token expiring within the wait: it watches that token expire instead. A
// kept token that expired before any run could watch it is dropped: seen refused after
// its expiry but not working shortly before, it could have been superseded.
func (w *World) expiryAcrossRuns() error {
	t, st := w.tokens, w.env.State
	wait := w.p.Options.MaxExpiryWait
	too := fmt.Sprintf("the access token lives %s (expires_in %.0f), more than options.max_expiry_wait %s allows the suite to wait",
		time.Until(t.expiresAt()).Round(time.Second), t.expiresIn, wait)
	if st == nil {
		return w.skipBecause("%s; run with a state file (--state) to check it in a later run", too)
	}
	bank, client := w.p.Endpoints.Token, t.owner.ClientID
	fresh := state.Token{Bank: bank, ClientID: client, AccessToken: t.access, IssuedAt: t.received,
		ExpiresAt: t.expiresAt(), IssuedByRun: w.env.RunID, Role: w.role}
	defer st.Keep(fresh)
	w.keptAccess = true // a refresh or a revocation by another check would end it early
	window := func(exp time.Time) string {
		return fmt.Sprintf("a run started between %s and %s with the same state file (%s) completes this check; raise options.max_expiry_wait to widen that window",
			exp.Add(w.p.Options.ExpirySkew-wait).Format(time.RFC3339), exp.Add(-time.Second-w.p.Options.ExpirySkew).Format(time.RFC3339), st.Path())
	}
	for {
		kept, ok := st.TakeNext(bank, client, w.role)
		switch {
		case !ok:
			return w.skipBecause("%s; it is kept for a later run: %s", too, window(fresh.ExpiresAt))
		case time.Now().After(kept.ExpiresAt.Add(-time.Second - w.p.Options.ExpirySkew)):
			w.note("the access token kept by run %s expired at %s before a run could watch it expire: dropped", kept.IssuedByRun, kept.ExpiresAt.Format(time.RFC3339))
			continue
		case time.Until(kept.ExpiresAt.Add(w.p.Options.ExpirySkew)) > wait:
			st.Keep(kept)
			return w.skipBecause("%s; a token kept by run %s expires at %s: %s", too, kept.IssuedByRun, kept.ExpiresAt.Format(time.RFC3339), window(kept.ExpiresAt))
		}
		w.env.Redactor.Add(kept.AccessToken)
		w.tokens = &tokenSet{owner: t.owner, access: kept.AccessToken, tokenType: t.tokenType, received: kept.IssuedAt,
			expiresIn: kept.ExpiresAt.Sub(kept.IssuedAt).Seconds(), hasExpires: true}
		w.note("checked with the access token issued by run %s at %s, expiring at %s", kept.IssuedByRun,
			kept.IssuedAt.Format(time.RFC3339), kept.ExpiresAt.Format(time.RFC3339))
		return nil
	}
}

// callWithRequestID calls the accounts resource with an unknown token and a fresh
// X-Request-ID (BEARER-09).
func (w *World) callWithRequestID(ctx context.Context, c *profile.Client) error {
	req, err := http.NewRequest(http.MethodGet, w.p.Endpoints.Accounts, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", w.p.Options.ResourceMediaType)
	req.Header.Set("Authorization", "Bearer unknown-"+newUUID())
	if err := w.apiHeaders(req, nil, c, true); err != nil {
		return err
	}
	w.requestID = newUUID()
	req.Header.Set("X-Request-ID", w.requestID)
	if s := w.p.Signer(c); s != nil && w.p.Signing.SignsResourceCalls() {
		if err := s.Sign(req, nil); err != nil { // again: X-Request-ID is signed
			return err
		}
	}
	w.do(ctx, w.client(c), req)
	return nil
}

// stetErrorBody checks the STET error model (Part III ErrorModel: integer status and
// message required) and the echo of X-Request-ID.
func (w *World) stetErrorBody() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusUnauthorized {
		return fmt.Errorf("expected HTTP 401; %s", a)
	}
	var problems []string
	if a.fields == nil {
		problems = append(problems, "the body is not a JSON object")
	} else {
		if st, ok := a.fields["status"].(float64); !ok || int(st) != a.status {
			problems = append(problems, fmt.Sprintf("status is %v, not the integer %d", a.fields["status"], a.status))
		}
		if a.str("message") == "" {
			problems = append(problems, "message is missing")
		}
	}
	if got := a.header.Get("X-Request-ID"); got != w.requestID {
		problems = append(problems, fmt.Sprintf("X-Request-ID is %q, not the %q sent", got, w.requestID))
	}
	if len(problems) > 0 {
		return fmt.Errorf("expected a STET error body {status, message} and the X-Request-ID echoed: %s; %s", strings.Join(problems, "; "), a)
	}
	return nil
}
