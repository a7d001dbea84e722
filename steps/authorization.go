package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
)

// authorizeURL builds GET /authorize for client c as a TPP sends the PSU there.
func (w *World) authorizeURL(clientID, redirectURI, responseType string) string {
	q := url.Values{
		"response_type": {responseType},
		"client_id":     {clientID},
		"redirect_uri":  {redirectURI},
		"scope":         {w.p.Scopes.AISP},
		"state":         {w.sentState},
	}
	u := w.p.Endpoints.Authorize
	if strings.Contains(u, "?") {
		return u + "&" + q.Encode()
	}
	return u + "?" + q.Encode()
}

// journey sends the PSU through the bank's pages with script, watching for callback.
func (w *World) journey(ctx context.Context, authorizeURL, callback string, script psu.Script) {
	drv := w.env.NewPSUDriver(w.browser())
	// The journey itself is bounded by Journey.Timeout; the margin lets a driver take its
	// screenshot of where the journey stopped.
	ctx, cancel := context.WithTimeout(ctx, w.p.Timeouts.PSUJourney+10*time.Second)
	defer cancel()
	w.outcome, w.journeyErr = drv.Drive(ctx, psu.Journey{
		AuthorizeURL:   authorizeURL,
		CallbackPrefix: callback,
		Script:         script,
		Timeout:        w.p.Timeouts.PSUJourney,
	})
	if w.outcome == nil {
		w.outcome = &psu.Outcome{}
	}
	if o := w.outcome; len(o.Screenshot) > 0 {
		w.res.Screenshots = append(w.res.Screenshots, report.Screenshot{URL: o.LastURL, Title: o.LastTitle, PNG: o.Screenshot})
	}
	if cb := w.outcome.Callback; cb != nil {
		if code := cb.Query().Get("code"); code != "" {
			w.env.Redactor.Add(code)
		}
	}
}

// psuDecides runs the approving or refusing journey for client c and requires that it
// ends on c's callback.
func (w *World) psuDecides(ctx context.Context, c *profile.Client, approve bool) error {
	w.sentState, w.authClient, w.redirectURI = newState(), c, c.RedirectURI
	script := w.p.PSU.Refuse
	if approve {
		script = w.p.PSU.Approve
	}
	w.journey(ctx, w.authorizeURL(c.ClientID, c.RedirectURI, "code"), c.RedirectURI, script)
	if w.outcome.Callback == nil {
		return fmt.Errorf("the PSU journey for %s never reached the callback %s: %v", c.Describe(), c.RedirectURI, w.journeyErr)
	}
	return nil
}

// psuApproved is the precondition of the token checks: a code for client c.
func (w *World) psuApproved(ctx context.Context, c *profile.Client) error {
	if err := w.psuDecides(ctx, c, true); err != nil {
		return err
	}
	q := w.outcome.Callback.Query()
	if q.Get("code") == "" {
		return fmt.Errorf("the bank called the callback without a code (error=%q, error_description=%q)", q.Get("error"), q.Get("error_description"))
	}
	w.code, w.codeOwner = q.Get("code"), c
	return nil
}

func (w *World) browserOpensAuthorization(ctx context.Context, c *profile.Client) error {
	w.sentState, w.authClient, w.redirectURI = newState(), c, c.RedirectURI
	req, err := http.NewRequest(http.MethodGet, w.authorizeURL(c.ClientID, c.RedirectURI, "code"), nil)
	if err != nil {
		return err
	}
	w.firstAnswer = w.do(ctx, w.browser(), req)
	return nil
}

func (w *World) bankStartsAuthentication() error {
	a := w.firstAnswer
	switch {
	case a.err != nil:
		return fmt.Errorf("expected the authorization endpoint to answer a browser that presents no client certificate; %s", a)
	case a.status >= 300 && a.status < 400:
		loc := a.header.Get("Location")
		if strings.HasPrefix(loc, w.redirectURI) {
			u, _ := url.Parse(loc)
			return fmt.Errorf("expected the PSU's authentication to start; the bank sent the browser straight back to the callback (error=%q, error_description=%q)",
				u.Query().Get("error"), u.Query().Get("error_description"))
		}
		if loc == "" {
			return fmt.Errorf("expected a login page or a redirect to it; the bank answered HTTP %d without a Location", a.status)
		}
		return nil
	case a.status == http.StatusOK:
		return nil
	default:
		return fmt.Errorf("expected a login page (200) or a redirect to it (3xx); %s", a)
	}
}

func (w *World) callbackHasCode() error {
	cb := w.outcome.Callback
	if err := sameEndpoint(cb, w.redirectURI); err != nil {
		return err
	}
	q := cb.Query()
	if q.Get("error") != "" {
		return fmt.Errorf("expected a code on the callback; it carries error=%q (error_description=%q)", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("code") == "" {
		return fmt.Errorf("expected a non-empty code on the callback; it has none (query parameters: %s)", paramNames(q))
	}
	return nil
}

func (w *World) callbackHasState() error {
	q := w.outcome.Callback.Query()
	got, ok := q["state"]
	switch {
	case !ok:
		return fmt.Errorf("expected the callback to carry the state %q; it has no state parameter", w.sentState)
	case len(got) != 1 || got[0] != w.sentState:
		return fmt.Errorf("expected the callback to carry the state %q unchanged; it carries %q", w.sentState, strings.Join(got, ","))
	}
	return nil
}

func (w *World) callbackHasErrorNoCode() error {
	cb := w.outcome.Callback
	if err := sameEndpoint(cb, w.redirectURI); err != nil {
		return err
	}
	q := cb.Query()
	if q.Get("code") != "" {
		return fmt.Errorf("expected no code after the PSU refused; the callback carries a code (error=%q)", q.Get("error"))
	}
	switch e := q.Get("error"); e {
	case "":
		return fmt.Errorf("expected an error on the callback after the PSU refused; it has none (query parameters: %s)", paramNames(q))
	case "access_denied":
	default:
		w.warn("the PSU's refusal is signalled with error=%q; RFC 6749 section 4.1.2.1 names access_denied for it", e)
	}
	return nil
}

// psuGoesThrough runs the approving journey with altered parameters; the bank may stop it
// anywhere, and what matters is where the browser is sent.
func (w *World) psuGoesThrough(ctx context.Context, clientID, redirectURI, responseType, watch string) error {
	w.sentState, w.redirectURI = newState(), watch
	w.journey(ctx, w.authorizeURL(clientID, redirectURI, responseType), watch, w.p.PSU.Approve)
	if w.outcome.Callback == nil && w.journeyErr != nil {
		w.note("the PSU's journey stopped before any callback: %v", w.journeyErr)
	}
	return nil
}

func (w *World) neverSentTo(target string) error {
	if cb := w.outcome.Callback; cb != nil {
		return fmt.Errorf("expected the bank never to send the PSU's browser to %s; it did: %s", target, redactQuery(cb))
	}
	return nil
}

func (w *World) noAccessTokenInBrowser() error {
	cb := w.outcome.Callback
	if cb == nil {
		return nil // an error page: the request was refused without a redirect
	}
	frag, _ := url.ParseQuery(cb.Fragment)
	q := cb.Query()
	if frag.Get("access_token") != "" || q.Get("access_token") != "" {
		return errors.New("expected response_type=token to be refused; the bank returned an access token in the PSU's browser (implicit grant)")
	}
	if q.Get("error") == "" && frag.Get("error") == "" {
		return fmt.Errorf("expected the callback to carry an error such as unsupported_response_type; it carries %s", paramNames(q))
	}
	return nil
}

// sameEndpoint checks that the callback is the registered redirect_uri (scheme, host, path).
func sameEndpoint(cb *url.URL, registered string) error {
	r, err := url.Parse(registered)
	if err != nil {
		return err
	}
	if !strings.EqualFold(cb.Scheme, r.Scheme) || !strings.EqualFold(cb.Host, r.Host) || cb.Path != r.Path {
		return fmt.Errorf("expected the callback %s; the bank sent the browser to %s://%s%s", registered, cb.Scheme, cb.Host, cb.Path)
	}
	return nil
}

func paramNames(q url.Values) string {
	if len(q) == 0 {
		return "none"
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	return strings.Join(names, ", ")
}

// redactQuery shows a callback URL with its parameter values hidden (codes are secrets).
func redactQuery(u *url.URL) string {
	return fmt.Sprintf("%s://%s%s (parameters: %s)", u.Scheme, u.Host, u.Path, paramNames(u.Query()))
}
