package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/state"
)

// registerBearerToken gives the sentences of bearer_token.feature their code.
func (w *World) registerBearerToken(sc *godog.ScenarioContext) {
	sc.Step(`^the access token has expired$`, w.waitForExpiry)
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
}

// callAccounts calls the bank's Bearer-protected accounts resource as cert, with
// "Authorization: <scheme> <token>" (no header when token is "").
func (w *World) callAccounts(ctx context.Context, cert *profile.Client, scheme, token string) *answer {
	req, err := http.NewRequest(http.MethodGet, w.p.Endpoints.Accounts, nil)
	if err != nil {
		return &answer{err: err}
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range w.p.Headers {
		req.Header.Set(k, expandHeader(v))
	}
	if token != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	return w.do(ctx, w.client(cert), req)
}

// waitForExpiry waits until the current access token has expired, when the bank profile
// allows waiting that long; otherwise the scenario is skipped with the reason.
func (w *World) waitForExpiry(ctx context.Context) error {
	t := w.tokens
	if !t.hasExpires || t.expiresIn <= 0 {
		return w.skipBecause("the bank gave no usable expires_in, so the suite cannot know when the access token expires (see TOKEN-05)")
	}
	if t.expiresIn > (24 * time.Hour * 365 * 100).Seconds() {
		t.expiresIn = (24 * time.Hour * 365 * 100).Seconds() // no overflow: longer than any wait anyway
	}
	lifetime := time.Duration(t.expiresIn * float64(time.Second))
	wait := time.Until(t.received.Add(lifetime + w.p.Options.ExpirySkew))
	if max := w.p.Options.MaxExpiryWait; lifetime+w.p.Options.ExpirySkew > max {
		return w.expiryAcrossRuns(lifetime, max)
	}
	return w.sleep(ctx, wait, "the access token to expire")
}

func (w *World) answers200() error {
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
		for _, p := range splitParams(params) {
			k, val, ok := strings.Cut(p, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "error") {
				errCode = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
		return true, errCode
	}
	return false, ""
}

// splitParams splits auth-params on commas outside quoted strings (RFC 7235 section 2.1).
func splitParams(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quoted:
			escaped = true
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(out, cur.String())
}

func (w *World) answers401Challenge() error {
	a := w.last
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
	switch {
	case a.err != nil:
		return fmt.Errorf("expected HTTP 401 or 403; %s", a)
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return nil
	default:
		return fmt.Errorf("expected the bank to refuse an access token presented over another TPP's certificate with HTTP 401 or 403; %s", a)
	}
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

// expiryAcrossRuns handles a token that lives longer than the run may wait: the check uses
// a token kept by an earlier run once it has expired, and this run's token is kept for a
// later run. Without a state file, the check is skipped with the reason.
func (w *World) expiryAcrossRuns(lifetime, max time.Duration) error {
	t, st := w.tokens, w.env.State
	too := fmt.Sprintf("the access token lives %s (expires_in %.0f), more than options.max_expiry_wait %s allows the suite to wait", lifetime, t.expiresIn, max)
	if st == nil {
		return w.skipBecause("%s; run with a state file (--state) to check it in a later run", too)
	}
	bank, client := w.p.Endpoints.Token, t.owner.ClientID
	fresh := state.Token{Bank: bank, ClientID: client, AccessToken: t.access, IssuedAt: t.received,
		ExpiresAt: t.received.Add(lifetime), IssuedByRun: w.env.RunID}
	old, ok := st.TakeExpired(bank, client, time.Now(), w.p.Options.ExpirySkew)
	if ok {
		w.env.Redactor.Add(old.AccessToken)
		w.tokens = &tokenSet{owner: t.owner, access: old.AccessToken, tokenType: t.tokenType, received: old.IssuedAt}
		w.note("checked with an access token issued by run %s at %s, expired at %s", old.IssuedByRun,
			old.IssuedAt.Format(time.RFC3339), old.ExpiresAt.Format(time.RFC3339))
		st.Keep(fresh) // for the next run after this one's token expires
		return nil
	}
	if exp, ok := st.Pending(bank, client); ok {
		return w.skipBecause("%s; a token kept by an earlier run in %s expires at %s: the first run after that checks it",
			too, st.Path(), exp.Add(w.p.Options.ExpirySkew).Format(time.RFC3339))
	}
	st.Keep(fresh)
	return w.skipBecause("%s; the token is kept in %s and the first run after %s checks it",
		too, st.Path(), fresh.ExpiresAt.Add(w.p.Options.ExpirySkew).Format(time.RFC3339))
}

// callWithRequestID calls the accounts resource with an unknown token and a fresh
// X-Request-ID (BEARER-09).
func (w *World) callWithRequestID(ctx context.Context, c *profile.Client) error {
	req, err := http.NewRequest(http.MethodGet, w.p.Endpoints.Accounts, nil)
	if err != nil {
		return err
	}
	for k, v := range w.p.Headers {
		req.Header.Set(k, expandHeader(v))
	}
	w.requestID = newUUID()
	req.Header.Set("X-Request-ID", w.requestID)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer unknown-"+newUUID())
	w.do(ctx, w.client(c), req)
	return nil
}

// stetErrorBody checks the STET error model (Part III ErrorModel: integer status and
// message required) and the echo of X-Request-ID.
func (w *World) stetErrorBody() error {
	a := w.last
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
