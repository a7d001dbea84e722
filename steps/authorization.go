package steps

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"github.com/stetconform/stetconform/internal/evidence"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
)

// registerAuthorization gives the sentences of authorization.feature their code.
func (w *World) registerAuthorization(sc sentences) {
	sc.Step(`^the PSU's browser opens the authorization request of the `+tpp+` TPP$`, func(ctx context.Context, c string) error {
		return w.browserOpensAuthorization(ctx, w.named(c))
	})
	sc.Step(`^the bank starts the PSU's authentication instead of answering with an error$`, w.bankStartsAuthentication)
	sc.Step(`^the PSU (approves|refuses) the authorization request of the `+tpp+` TPP$`, func(ctx context.Context, decision, c string) error {
		return w.sharedDecision(ctx, w.named(c), decision == "approves")
	})
	sc.Step(`^the PSU abandons the authorization request of the primary TPP midway$`, func(ctx context.Context) error {
		return w.psuAbandons(ctx, w.named("primary"))
	})
	sc.Step(`^the PSU has approved the authorization request of the `+tpp+` TPP$`, func(ctx context.Context, c string) error {
		return w.psuApproved(ctx, w.named(c), false)
	})
	sc.Step(`^the PSU (approves|has approved) the authorization request of the primary TPP with a PKCE challenge$`, func(ctx context.Context, how string) error {
		w.verifier = newVerifier()
		if how == "approves" {
			w.demand.codeCheck = "primary" // the journey is what the check is about
		}
		return w.psuApproved(ctx, w.named("primary"), false)
	})
	sc.Step(`^the bank calls the registered callback with a code$`, w.callbackHasCode)
	sc.Step(`^the callback carries the state exactly as the TPP sent it$`, w.callbackHasState)
	sc.Step(`^the bank calls the registered callback with an error and without a code$`, w.callbackHasErrorNoCode)
	sc.Step(`^the PSU goes through the authorization request of the primary TPP with (the redirect_uri "[^"]*"|its redirect_uri with an extra path segment|its redirect_uri on another port)$`, func(ctx context.Context, how string) error {
		c := w.named("primary")
		if how == "its redirect_uri on another port" && loopbackIP(c.RedirectURI) {
			// RFC 8252 section 7.3: the port of a loopback IP redirect URI is the client's
			// to choose at request time; a bank may legally accept any.
			w.na = "the registered redirect_uri is a loopback IP address, whose port a bank may ignore (RFC 8252 section 7.3)"
			return godog.ErrSkip
		}
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
}

// authorizeURL builds GET /authorize for client c as a TPP sends the PSU there, for the
// scope of the scenario's role.
func (w *World) authorizeURL(clientID, redirectURI, responseType string) string {
	return w.authorizeURLFor(clientID, redirectURI, responseType, w.roleScope())
}

// roleScope is the scope value of the scenario's role, as the bank names it.
func (w *World) roleScope() string {
	if w.role == profile.RoleCBPII {
		return w.p.Scopes.CBPII
	}
	return w.p.Scopes.AISP
}

// authorizeURLFor builds GET /authorize with the given scope.
func (w *World) authorizeURLFor(clientID, redirectURI, responseType, scope string) string {
	if w.p.Options.PKCE == "required" && w.verifier == "" {
		w.verifier = newVerifier() // the bank serves no code flow without PKCE
	}
	q := url.Values{
		"response_type": {responseType},
		"client_id":     {clientID},
		"redirect_uri":  {redirectURI},
		"scope":         {scope},
		"state":         {w.sentState},
	}
	if w.verifier != "" {
		q.Set("code_challenge", pkceChallenge(w.verifier))
		q.Set("code_challenge_method", "S256")
	}
	u := w.p.Endpoints.Authorize
	if strings.Contains(u, "?") {
		return u + "&" + q.Encode()
	}
	return u + "?" + q.Encode()
}

// journey sends the PSU through the bank's pages with script, watching for callback.
func (w *World) journey(ctx context.Context, authorizeURL, callback string, script psu.Script, instruction string) {
	w.journeyStarted = time.Now()
	if w.ticket == nil {
		if err := w.beginJourney(ctx, callback); err != nil {
			w.outcome, w.journeyErr = &psu.Outcome{}, err
			return
		}
	}
	t := w.ticket
	// The PSU stays this journey's until its code is kept (keepCode), the next journey or
	// the scenario's end: with one token pair per PSU, no other consent of the PSU may
	// begin between the callback and the moment the code counts as held.
	defer func() { w.ticket, w.lastTicket = nil, t }()
	var number, total int
	var who string
	if t != nil {
		script = script.WithVars(t.Identity.Vars)
		number, total, who = t.Number, t.Total, t.Identity.Label
		w.note("PSU journey %d of the run%s", number, map[bool]string{true: ", by " + who, false: ""}[who != ""])
	}
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
		Instruction:    instruction,
		StopAt:         w.journeyStopAt,
		Number:         number,
		Total:          total,
		PSU:            who,
	})
	if w.outcome == nil {
		w.outcome = &psu.Outcome{}
	}
	if oos := (*OutOfService)(nil); errors.As(w.journeyErr, &oos) && w.outcome.Redirects == 0 && w.outcome.LastURL == authorizeURL {
		t.NotSent() // its first request, GET /authorize, was never sent
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
	w.sentState, w.redirectURI = newState(), c.RedirectURI
	script, instruction := w.p.PSU.Refuse, "REFUSE the consent request."
	if approve {
		script, instruction = w.p.PSU.Approve, "APPROVE the consent request."
	}
	run := func() {
		w.journey(ctx, w.authorizeURL(c.ClientID, c.RedirectURI, "code"), c.RedirectURI, script, instruction)
	}
	// The PSU first: waiting for a free PSU of the pool must not hold the expiry gate.
	if err := w.beginJourney(ctx, c.RedirectURI); err != nil {
		return err
	}
	if approve {
		w.enterConsent(c.ClientID) // until the code is exchanged
	}
	run()
	if w.outcome.Callback != nil {
		return nil
	}
	if why := w.journeyBusy(); why != "" {
		return w.inconclusive("%s", why)
	}
	if errors.Is(w.journeyErr, psu.ErrNoCallback) && !w.outcome.Reported {
		// The PSU did everything the script says and the bank never called back: the
		// bank's doing (STET 3.4 step 3: the callback is called on approval and refusal).
		return fmt.Errorf("the PSU journey for %s never reached the callback %s: %s", c.Describe(), c.RedirectURI, journeyError(w.journeyErr))
	}
	// A journey that broke off (no answer, 5xx, 429) or whose script stopped matching the
	// bank's pages proves nothing about the bank: the script or the credentials may be
	// wrong, or the bank was not serving.
	return w.inconclusive("the PSU journey for %s did not reach the callback %s: %s; check psu.%s in the bank profile (the script, the PSU credentials) against the bank's pages",
		c.Describe(), c.RedirectURI, journeyError(w.journeyErr), map[bool]string{true: "approve", false: "refuse"}[approve])
}

// psuAbandons runs the profile's abandon script (the PSU cancels on the bank's login or
// SCA page) and requires that the journey ends on c's callback (AUTHZ-05: the seeds ask
// the bank to call the callback when the journey is interrupted, not only on a refusal).
func (w *World) psuAbandons(ctx context.Context, c *profile.Client) error {
	w.sentState, w.redirectURI = newState(), c.RedirectURI
	if err := w.beginJourney(ctx, c.RedirectURI); err != nil {
		return err
	}
	w.journey(ctx, w.authorizeURL(c.ClientID, c.RedirectURI, "code"), c.RedirectURI, w.p.PSU.Abandon,
		"ABANDON the journey midway: cancel on the bank's login or authentication page.")
	switch {
	case w.outcome.Callback != nil:
		return nil
	case w.journeyBusy() != "":
		return w.inconclusive("%s", w.journeyBusy())
	case errors.Is(w.journeyErr, psu.ErrNoCallback) && !w.outcome.Reported:
		return fmt.Errorf("expected the bank to call the callback %s with an error when the PSU abandons the journey (the profile declares psu.abandon); the PSU did every step of the abandon script and %s",
			c.RedirectURI, journeyError(w.journeyErr))
	}
	return w.inconclusive("the abandoned journey for %s did not reach the callback %s: %s; check psu.abandon in the bank profile against the bank's pages",
		c.Describe(), c.RedirectURI, journeyError(w.journeyErr))
}

// journeyError says why a PSU journey stopped, in words: a transport failure is named
// ("connection reset by peer") with the request it hit, not as a raw Go error.
func journeyError(err error) string {
	if err == nil {
		return "the journey ended without reaching it"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		where := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			where = u.Scheme + "://" + u.Host + u.Path
		}
		msg := fmt.Sprintf("%s %s: %s", ue.Op, where, evidence.Describe(ue.Err))
		if s := err.Error(); !strings.HasPrefix(s, ue.Error()) {
			// The driver said where it was before the request failed.
			prefix, _, _ := strings.Cut(s, ue.Error())
			msg = prefix + msg
		}
		return msg
	}
	return err.Error()
}

// journeyInconclusive says why a journey that never reached a callback proves nothing:
// the PSU's browser never got an answer from the bank, or went round in a redirect loop.
// A journey the bank stopped on one of its own pages is conclusive.
func (w *World) journeyInconclusive() error {
	o, err := w.outcome, w.journeyErr
	var ue *url.Error
	var ne net.Error
	switch {
	case o.Callback != nil, o.Reported:
		return nil
	case w.journeyBusy() != "":
		return errors.New(w.journeyBusy())
	case o.LastStatus == 0:
		return fmt.Errorf("the PSU's browser never got a page from the bank, so this proves nothing: %s", journeyError(err))
	case o.Redirects >= 20 || err != nil && strings.Contains(err.Error(), "redirect loop"):
		return fmt.Errorf("the PSU's browser went round a redirect loop, so this proves nothing: %s", journeyError(err))
	case errors.As(err, &ue), errors.As(err, &ne), err != nil && strings.Contains(err.Error(), "net::ERR_"):
		return fmt.Errorf("the PSU's journey broke off without an answer, so this proves nothing: %s", journeyError(err))
	}
	if o.LastStatus >= 500 {
		w.warn("the bank answered HTTP %d where an error page was expected", o.LastStatus)
	}
	return nil
}

// psuApproved is the precondition of the token checks: a code for client c.
// A code of an earlier journey of the run stands in for a new one where the consent plan
// allows (consent.go); final: the scenario exchanges it for a grant of its own.
func (w *World) psuApproved(ctx context.Context, c *profile.Client, final bool) error {
	if w.takeCode(ctx, c, final) {
		return nil
	}
	if err := w.psuDecides(ctx, c, true); err != nil {
		return err
	}
	q := w.outcome.Callback.Query()
	if q.Get("code") == "" {
		return fmt.Errorf("the bank called the callback without a code (error=%q, error_description=%q)", q.Get("error"), q.Get("error_description"))
	}
	w.code, w.codeReceived, w.codeLeftToExpire = q.Get("code"), time.Now(), false
	w.keepCode(w.code)
	return nil
}

// maxAuthRedirects bounds the redirects followed from GET /authorize to the login page.
const maxAuthRedirects = 10

// browserOpensAuthorization opens GET /authorize as the PSU's browser (no client
// certificate) and follows the bank's redirects to the first page it shows, stopping at
// a redirect to the callback.
func (w *World) browserOpensAuthorization(ctx context.Context, c *profile.Client) error {
	w.sentState, w.redirectURI = newState(), c.RedirectURI
	w.authStart = w.firstPage(ctx, w.authorizeURL(c.ClientID, c.RedirectURI, "code"), c.RedirectURI)
	return nil
}

// firstPage opens an authorization URL as the PSU's browser and follows the bank's
// redirects to the first page it shows, stopping at a redirect to callback. No PSU
// credentials are used: it costs no strong customer authentication.
func (w *World) firstPage(ctx context.Context, authorizeURL, callback string) authStart {
	var st authStart
	next := authorizeURL
	jar, _ := cookiejar.New(nil)
	hc := *w.browser()
	hc.Jar = jar
	for hop := 0; ; hop++ {
		req, err := http.NewRequest(http.MethodGet, next, nil)
		if err != nil {
			st.page = &answer{err: err}
			return st
		}
		a := w.do(ctx, &hc, req)
		st.page, st.url = a, req.URL
		if a.err != nil || a.status < 300 || a.status >= 400 {
			return st
		}
		loc, err := req.URL.Parse(a.header.Get("Location"))
		switch {
		case err != nil || a.header.Get("Location") == "":
			return st
		case strings.HasPrefix(loc.String(), callback):
			st.callback = loc
			return st
		case hop >= maxAuthRedirects:
			st.loop = true
			return st
		}
		next = loc.String()
	}
}

// authStart is where the authorization request led the PSU's browser.
type authStart struct {
	page     *answer  // the last answer: the login page, or why there is none
	url      *url.URL // the URL of that answer
	callback *url.URL // a redirect to the callback instead of a login page
	loop     bool     // more than maxAuthRedirects redirects
}

// isPage says whether the bank showed a page (any status but a redirect, an answer).
func (st authStart) isPage() bool {
	return st.callback == nil && !st.loop && st.page != nil && st.page.err == nil && (st.page.status < 300 || st.page.status >= 400)
}

// where names the first page for a message: URL without its query, and status.
func (st authStart) where() string {
	switch {
	case st.callback != nil:
		return "a redirect to the callback " + redactQuery(st.callback)
	case st.loop:
		return fmt.Sprintf("a redirect loop (more than %d redirects)", maxAuthRedirects)
	case st.page == nil || st.url == nil:
		return "no page"
	case st.page.err != nil && st.page.status == 0:
		return st.page.String()
	}
	return fmt.Sprintf("%s://%s%s (HTTP %d)", st.url.Scheme, st.url.Host, st.url.Path, st.page.status)
}

// samePage says whether two first pages are the same page of the bank: same status and
// same URL path. A refusal shows another page than the login page of a correct request.
func samePage(a, b authStart) bool {
	return a.isPage() && b.isPage() && a.page.status == b.page.status &&
		a.url.Host == b.url.Host && a.url.Path == b.url.Path
}

// notAnAuthorizationRefusal says why a first page cannot be the bank refusing what an
// authorization check is about: an authentication wall (401, 403), a rate limit or a
// server failure stops every request, the correct ones too.
func notAnAuthorizationRefusal(st authStart) string {
	switch {
	case st.page == nil:
		return "the bank was not asked"
	case st.page.err != nil && st.page.status == 0:
		return "the bank did not answer: " + st.page.String()
	case busy(st.page):
		return fmt.Sprintf("the bank would not serve the authorization request (%s), which refuses every request, not this one; if it is a rate limit, declare the bank's rate in the profile (rate_limit: requests_per_second)", st.page.rateLimitWhy())
	case st.page.status == http.StatusUnauthorized, st.page.status == http.StatusForbidden, st.page.status >= 500:
		return fmt.Sprintf("the bank answered the authorization request with HTTP %d, which refuses every request, not this one", st.page.status)
	}
	return ""
}

func (w *World) bankStartsAuthentication() error {
	st, a := w.authStart, w.authStart.page
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	switch {
	case st.callback != nil:
		q := st.callback.Query()
		return fmt.Errorf("expected the PSU's authentication to start; the bank sent the browser straight back to the callback (error=%q, error_description=%q)",
			q.Get("error"), q.Get("error_description"))
	case st.loop:
		return fmt.Errorf("expected a login page; the bank sent the PSU's browser through more than %d redirects (redirect loop)", maxAuthRedirects)
	case a.err != nil:
		return fmt.Errorf("expected the authorization endpoint to answer a browser that presents no client certificate; %s", a)
	case a.status >= 300 && a.status < 400:
		return fmt.Errorf("expected a login page or a redirect to it; the bank answered HTTP %d without a usable Location", a.status)
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
		return fmt.Errorf("expected no code after the PSU refused or abandoned; the callback carries a code (error=%q)", q.Get("error"))
	}
	switch e := q.Get("error"); e {
	case "":
		return fmt.Errorf("expected an error on the callback after the PSU refused or abandoned; it has none (query parameters: %s)", paramNames(q))
	case "access_denied":
	case "server_error", "temporarily_unavailable":
		// The bank says it is not serving (RFC 6749 section 4.1.2.1): not the PSU's answer.
		return w.inconclusive("the callback carries error=%s: the bank was not serving, so this says nothing of how it signals the PSU's refusal", e)
	default:
		w.warn("the PSU's refusal is signalled with error=%q; RFC 6749 section 4.1.2.1 names access_denied for it", e)
	}
	return nil
}

// psuGoesThrough runs the approving journey with altered parameters; the bank may stop it
// anywhere, and what matters is where the browser is sent. The registered callback also
// ends the journey, unrequested: a code the bank sends there by mistake must not reach
// the TPP.
func (w *World) psuGoesThrough(ctx context.Context, clientID, redirectURI, responseType, watch string) error {
	primary := w.named("primary")
	return w.psuGoesThroughAs(ctx, primary.ClientID, primary.RedirectURI, clientID, redirectURI, responseType, watch)
}

// psuGoesThroughAs is psuGoesThrough with the unaltered request of the positive control
// given: the client and redirect URI that must reach a login page (a registered client's,
// say, REG-01), of which the altered request changes a part.
func (w *World) psuGoesThroughAs(ctx context.Context, controlClientID, controlRedirect, clientID, redirectURI, responseType, watch string) error {
	w.sentState, w.redirectURI = newState(), watch
	var stopAt []string
	if controlRedirect != watch {
		stopAt = append(stopAt, controlRedirect)
	}
	w.journeyStopAt = stopAt
	// The positive control: the same request with nothing altered reaches a login page.
	// And where the altered one leads at first, to say where the bank refused it.
	w.control = w.firstPage(ctx, w.authorizeURL(controlClientID, controlRedirect, "code"), controlRedirect)
	w.altered = w.firstPage(ctx, w.authorizeURL(clientID, redirectURI, responseType), watch)
	if err := w.beginJourney(ctx, controlRedirect); err != nil {
		return err
	}
	w.sharingGate(clientID, func() {
		w.journey(ctx, w.authorizeURL(clientID, redirectURI, responseType), watch, w.p.PSU.Approve,
			"This request is deliberately wrong: try to APPROVE it; the bank should stop you with an error page.")
	})
	if w.outcome.Callback == nil && w.journeyErr != nil {
		w.note("the PSU's journey stopped before any callback: %s", journeyError(w.journeyErr))
	}
	return nil
}

func (w *World) neverSentTo(target string) error {
	cb := w.outcome.Callback
	switch {
	case cb != nil && strings.HasPrefix(cb.String(), target):
		return fmt.Errorf("expected the bank never to send the PSU's browser to %s; it did: %s", target, redactQuery(cb))
	case cb != nil:
		if err := w.callbackRefusal(cmpOr(cb.Query().Get("error"), "none")); err != nil {
			return err
		}
		w.warn("the bank redirected to the registered callback (%s) instead of showing the PSU an error page; RFC 6749 section 4.1.2.1 says not to redirect when the redirect_uri or client_id is invalid", redactQuery(cb))
		return nil
	}
	return w.refusedOnAPage()
}

// refusedOnAPage decides whether a journey of an altered authorization request, which
// reached no callback, was refused by the bank for what was altered. It counts only when
// the positive control (the unaltered request) reaches a login page, and then only:
//   - the altered request's first page is another page (a 400 error page, say), or
//   - the journey went on and ended on an error page of the bank (4xx), or the script ran
//     out with no callback, or a person reported the bank stopped it.
//
// An authentication wall, a rate limit or a 5xx at the first hop, or a script that stopped
// matching the pages, is inconclusive: the bank refused something, not provably this.
func (w *World) refusedOnAPage() error {
	if err := w.journeyInconclusive(); err != nil {
		return w.inconclusive("%v", err)
	}
	ctrl, alt := w.control, w.altered
	if err := w.notAnAnswer(ctrl.page); err != nil {
		return err // the positive control was rate-limited: nothing to compare with
	}
	if !ctrl.isPage() || (ctrl.page.status != http.StatusOK) {
		return w.inconclusive("positive control failed: the same authorization request with nothing altered does not reach a login page either (it gives %s), so the refusal proves nothing", ctrl.where())
	}
	if why := notAnAuthorizationRefusal(alt); why != "" {
		return w.inconclusive("%s (the unaltered request reaches %s)", why, ctrl.where())
	}
	if !samePage(alt, ctrl) {
		w.note("refused at the first page: the bank answered %s, where the unaltered request reaches the login page %s", alt.where(), ctrl.where())
		return nil
	}
	return w.stoppedByTheBank("a correct request", "the altered parameter")
}

// stoppedByTheBank decides whether a journey that reached no callback, after a login page
// shown as for startedAs, was stopped by the bank on one of its pages (noted; nil), or
// stopped for all the suite can tell for another reason than what the check is about
// (inconclusive).
func (w *World) stoppedByTheBank(startedAs, about string) error {
	o := w.outcome
	switch {
	case o.Reported:
		w.note("the person driving the journey reported that the bank stopped it on one of its pages")
	case o.LastStatus >= 400 && o.LastStatus < 500 && o.LastStatus != http.StatusTooManyRequests:
		w.note("the bank let the journey start, then stopped it at %s with HTTP %d", o.LastURL, o.LastStatus)
	case errors.Is(w.journeyErr, psu.ErrNoCallback):
		w.note("the bank let the journey start; the PSU went through every step of the script and the bank stopped at %s (HTTP %d) without a redirect", o.LastURL, o.LastStatus)
	default:
		return w.inconclusive("the bank showed its login page as for %s, and the PSU script then stopped matching its pages (%s): the journey may have stopped for another reason than %s", startedAs, journeyError(w.journeyErr), about)
	}
	return nil
}

// loopbackIP says whether a redirect URI's host is a loopback IP literal (127.0.0.1, [::1]).
func loopbackIP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// alteredRedirect names the redirect_uri a negative authorization check sends.
func alteredRedirect(registered, how string) string {
	u, err := url.Parse(registered)
	if err != nil {
		return registered + "/altered"
	}
	switch how {
	case "its redirect_uri with an extra path segment":
		return alteredURI(registered)
	case "its redirect_uri on another port":
		port := 443
		if p := u.Port(); p != "" {
			fmt.Sscan(p, &port)
		} else if u.Scheme == "http" {
			port = 80
		}
		u.Host = net.JoinHostPort(u.Hostname(), fmt.Sprint(port+1))
		return u.String()
	}
	return strings.Trim(strings.TrimPrefix(how, "the redirect_uri "), `"`)
}

func (w *World) noAccessTokenInBrowser() error {
	cb := w.outcome.Callback
	if cb == nil {
		return w.refusedOnAPage() // an error page: refused without a redirect
	}
	frag, _ := url.ParseQuery(cb.Fragment)
	q := cb.Query()
	if frag.Get("access_token") != "" || q.Get("access_token") != "" {
		return errors.New("expected response_type=token to be refused; the bank returned an access token in the PSU's browser (implicit grant)")
	}
	if q.Get("error") == "" && frag.Get("error") == "" {
		return fmt.Errorf("expected the callback to carry an error such as unsupported_response_type; it carries %s", paramNames(q))
	}
	return w.callbackRefusal(cmpOr(q.Get("error"), frag.Get("error")))
}

// callbackRefusal decides whether an altered authorization request refused on the callback
// with error code was refused for what was altered: not when the bank says it is down
// (server_error, temporarily_unavailable: RFC 6749 section 4.1.2.1), nor when the unaltered
// request does not reach a login page either.
func (w *World) callbackRefusal(code string) error {
	if code == "server_error" || code == "temporarily_unavailable" {
		return w.inconclusive("the bank answered the altered request with error=%s on the callback: it was not serving, which proves nothing about what was altered", code)
	}
	if ctrl := w.control; ctrl.page != nil {
		if err := w.notAnAnswer(ctrl.page); err != nil {
			return err
		}
		if !ctrl.isPage() || ctrl.page.status != http.StatusOK {
			return w.inconclusive("positive control failed: the same authorization request with nothing altered does not reach a login page either (it gives %s), so the refusal (error=%s) proves nothing", ctrl.where(), code)
		}
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

// newVerifier returns a PKCE code_verifier: 43 characters of base64url (RFC 7636 section 4.1).
func newVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pkceChallenge is the S256 code_challenge of verifier (RFC 7636 section 4.2).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
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
