package aspsp

import (
	"context"
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
)

const (
	// journeyTTL bounds how long a PSU may take between the authorization request and
	// the consent.
	journeyTTL = 15 * time.Minute
	// maxJourneys bounds the journeys kept at once; the oldest is dropped beyond it.
	maxJourneys = 10_000
	// maxLoginFailures ends a journey with access_denied after that many wrong passwords.
	maxLoginFailures = 5
)

// journey is one PSU's way through login and consent, kept server-side: the browser only
// carries its unguessable id in a hidden field.
type journey struct {
	id       string
	query    url.Values // the original authorization request
	psu      string     // set once the PSU has logged in
	failures int
	expires  time.Time
}

// journeys is the bounded, expiring set of journeys in progress.
type journeys struct {
	mu  sync.Mutex
	m   map[string]*journey
	now func() time.Time
}

func newJourneys(now func() time.Time) *journeys {
	return &journeys{m: map[string]*journey{}, now: now}
}

func (js *journeys) start(q url.Values) journey {
	js.mu.Lock()
	defer js.mu.Unlock()
	now := js.now()
	if len(js.m) >= maxJourneys {
		var oldest *journey
		for id, j := range js.m {
			if now.After(j.expires) {
				delete(js.m, id)
			} else if oldest == nil || j.expires.Before(oldest.expires) {
				oldest = j
			}
		}
		if len(js.m) >= maxJourneys && oldest != nil {
			delete(js.m, oldest.id)
		}
	}
	j := &journey{id: randomString(24), query: cloneValues(q), expires: now.Add(journeyTTL)}
	js.m[j.id] = j
	return *j
}

// get returns a copy of a live journey.
func (js *journeys) get(id string) (journey, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.m[id]
	if !ok || js.now().After(j.expires) {
		delete(js.m, id)
		return journey{}, false
	}
	return *j, true
}

// update changes a live journey in place and returns the result.
func (js *journeys) update(id string, f func(*journey)) (journey, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.m[id]
	if !ok {
		return journey{}, false
	}
	f(j)
	return *j, true
}

// end removes a journey and returns it: a journey finishes once.
func (js *journeys) end(id string) (journey, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.m[id]
	delete(js.m, id)
	if !ok || js.now().After(j.expires) {
		return journey{}, false
	}
	return *j, true
}

// serveAuthorize is GET /authorize (validate, then the login page) and the POSTs of the
// login and consent forms, which post back to the same URL.
func (b *Bank) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	w = b.callbackWriter(w)
	switch r.Method {
	case http.MethodGet:
		b.startJourney(w, r)
	case http.MethodPost:
		b.continueJourney(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		renderPage(w, http.StatusMethodNotAllowed, errorPage, pageData{Error: "This page accepts GET and POST only."})
	}
}

// authorizeContext tells the store which redirect_uri the request being served names (the
// authorization faults need it to accept unregistered redirect URIs or unknown clients).
func authorizeContext(ctx context.Context, q url.Values) context.Context {
	return context.WithValue(ctx, ctxAuthorizeRedirect, q.Get("redirect_uri"))
}

func (b *Bank) startJourney(w http.ResponseWriter, r *http.Request) {
	b.stats.add("", func(c *Counts) { c.AuthorizeRequests++ })
	if b.faults.has(FaultAuthorizeUnavailable) {
		w.Header().Set("Retry-After", "1")
		renderPage(w, http.StatusServiceUnavailable, errorPage, pageData{Error: "The service is temporarily unavailable. Please try again later."})
		return
	}
	if b.faults.has(FaultAuthorizeRedirectsUnavailable) {
		// Down, but polite: the known client is sent back to its registered callback with
		// error=temporarily_unavailable (RFC 6749 section 4.1.2.1), whatever it asked.
		q := r.URL.Query()
		if c, err := b.store.GetClient(r.Context(), q.Get("client_id")); err == nil && len(c.GetRedirectURIs()) > 0 {
			http.Redirect(w, r, c.GetRedirectURIs()[0]+"?"+url.Values{"error": {"temporarily_unavailable"}, "state": {q.Get("state")}}.Encode(), http.StatusSeeOther)
			return
		}
		w.Header().Set("Retry-After", "1")
		renderPage(w, http.StatusServiceUnavailable, errorPage, pageData{Error: "The service is temporarily unavailable. Please try again later."})
		return
	}
	if b.faults.has(FaultAuthorizeNeedsClientCert) && len(peerCerts(r)) == 0 {
		renderPage(w, http.StatusForbidden, errorPage, pageData{Error: "A client certificate is required."})
		return
	}
	q := r.URL.Query()
	ctx := authorizeContext(r.Context(), q)
	ar, err := b.oauth.NewAuthorizeRequest(ctx, r)
	if err == nil && b.faults.has(FaultPKCEChallengeRejected) && q.Get("code_challenge") != "" {
		err = fosite.ErrInvalidRequest.WithHint("PKCE is not supported.")
	}
	if err == nil {
		err = b.checkRoleMix(ar.GetRequestedScopes())
	}
	if err != nil {
		b.authorizeError(ctx, w, ar, err)
		return
	}
	j := b.jour.start(q)
	b.stats.add("", func(c *Counts) { c.Journeys++ })
	renderPage(w, http.StatusOK, loginPage, pageData{Journey: j.id, Client: ar.GetClient().GetID(), Scope: scopeText(q)})
}

func (b *Bank) continueJourney(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	if err := r.ParseForm(); err != nil {
		renderPage(w, http.StatusBadRequest, errorPage, pageData{Error: "The form could not be read."})
		return
	}
	form := r.PostForm
	j, ok := b.jour.get(form.Get("journey"))
	if !ok {
		renderPage(w, http.StatusBadRequest, errorPage, pageData{Error: "This authorization journey is unknown or has expired. Please start again from your provider."})
		return
	}
	data := pageData{Journey: j.id, Client: j.query.Get("client_id"), Scope: scopeText(j.query)}
	switch action := form.Get("action"); action {
	case "login":
		psu := form.Get("psu_id")
		if !b.checkPSU(psu, form.Get("password")) {
			b.stats.add("", func(c *Counts) { c.FailedLogins++ })
			j, _ = b.jour.update(j.id, func(j *journey) { j.failures++ })
			if j.failures >= maxLoginFailures {
				b.jour.end(j.id)
				b.finish(w, r, j, decisionAbort)
				return
			}
			data.Error = "Unknown identifier or wrong password."
			renderPage(w, http.StatusOK, loginPage, data)
			return
		}
		_, busy, ok := b.jour.logIn(j.id, psu, b.cfg.OneSessionPerPSU)
		switch {
		case !ok:
			renderPage(w, http.StatusBadRequest, errorPage, pageData{Error: "This authorization journey is unknown or has expired. Please start again from your provider."})
			return
		case busy:
			// 409 Conflict, not 429: the login clashes with the state of the PSU's other
			// session, and waiting a given time does not help; ending that journey does.
			// The journey stays open, so the same page may log in again once it has.
			b.stats.add(psu, func(c *Counts) { c.SessionConflicts++ })
			renderPage(w, http.StatusConflict, errorPage, pageData{Error: "You are already logged in elsewhere: finish or cancel that session first, then try again.", Code: "session_in_progress"})
			return
		}
		b.stats.add(psu, func(c *Counts) { c.Logins++ })
		renderPage(w, http.StatusOK, consentPage, data)
	case "accept", "refuse":
		if j.psu == "" {
			data.Error = "Please log in first."
			renderPage(w, http.StatusOK, loginPage, data)
			return
		}
		if j, ok = b.jour.end(j.id); !ok {
			renderPage(w, http.StatusBadRequest, errorPage, pageData{Error: "This authorization journey has already ended."})
			return
		}
		d := decisionAccept
		if action == "refuse" {
			d = decisionRefuse
		}
		b.finish(w, r, j, d)
	case "cancel":
		// The seeds: the callback is called also when the journey is interrupted.
		if j, ok = b.jour.end(j.id); !ok {
			renderPage(w, http.StatusBadRequest, errorPage, pageData{Error: "This authorization journey has already ended."})
			return
		}
		b.stats.add(j.psu, func(c *Counts) { c.JourneysAbandoned++ })
		if b.faults.has(FaultAbandonNoCallback) {
			renderPage(w, http.StatusOK, errorPage, pageData{Error: "You cancelled. You may close this window."})
			return
		}
		b.finish(w, r, j, decisionCancel)
	default:
		renderPage(w, http.StatusBadRequest, errorPage, pageData{Error: "Unknown action."})
	}
}

// decision is how a journey ends.
type decision int

const (
	decisionAccept decision = iota // the PSU consented
	decisionRefuse                 // the PSU refused
	decisionAbort                  // the bank ended the journey (too many failed logins)
	decisionCancel                 // the PSU abandoned the journey midway
)

// finish ends a journey with the redirect to the TPP's callback: a code, or an error.
func (b *Bank) finish(w http.ResponseWriter, r *http.Request, j journey, d decision) {
	ctx := authorizeContext(r.Context(), j.query)
	// Replay the original authorization request through fosite, so that the code is issued
	// for exactly what was asked and validated.
	orig := r.Clone(ctx)
	orig.Method = http.MethodGet
	orig.URL = &url.URL{Path: r.URL.Path, RawQuery: j.query.Encode()}
	orig.Body, orig.ContentLength = http.NoBody, 0
	orig.Form, orig.PostForm, orig.MultipartForm = nil, nil, nil
	orig.Header = r.Header.Clone()
	orig.Header.Del("Content-Type")
	ar, err := b.oauth.NewAuthorizeRequest(ctx, orig)
	if err != nil {
		b.authorizeError(ctx, w, ar, err)
		return
	}
	var refusal error
	switch d {
	case decisionRefuse:
		refusal = fosite.ErrAccessDenied.WithHint("The PSU refused the consent.")
	case decisionAbort:
		b.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("Too many failed login attempts."))
		return
	case decisionCancel:
		b.oauth.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The PSU abandoned the journey."))
		return
	}
	if refusal != nil && !b.faults.has(FaultRefusalWithCode) {
		if b.faults.has(FaultRefusalWithoutError) {
			u := ar.GetRedirectURI()
			q := u.Query()
			q.Set("state", ar.GetState())
			u.RawQuery = q.Encode()
			w.Header().Set("Cache-Control", "no-store")
			b.stats.add(j.psu, func(c *Counts) { c.ConsentsRefused++ })
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		b.stats.add(j.psu, func(c *Counts) { c.ConsentsRefused++ })
		b.oauth.WriteAuthorizeError(ctx, w, ar, refusal)
		return
	}
	if len(ar.GetRequestedScopes()) == 0 {
		ar.SetRequestedScopes(fosite.Arguments{ScopeAISP})
	}
	for _, s := range ar.GetRequestedScopes() {
		if b.grantable(s) {
			ar.GrantScope(s)
		}
	}
	sess := newSession(j.psu)
	// The refresh token's lifetime counts from the PSU's consent (SCA), across refreshes.
	sess.Extra[consentAtKey] = b.now()
	resp, err := b.oauth.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		b.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	if refusal != nil { // refusal-with-code: the error and a working code
		e := fosite.ErrorToRFC6749Error(refusal)
		resp.AddParameter("error", e.ErrorField)
		resp.AddParameter("error_description", e.GetDescription())
		b.stats.add(j.psu, func(c *Counts) { c.ConsentsRefused++ })
	} else {
		b.stats.add(j.psu, func(c *Counts) { c.ConsentsApproved++ })
	}
	// A code is a consent, even refused-with-code: it supersedes the earlier pair.
	b.supersedeConsent(ctx, j.psu, ar.GetClient().GetID(), ar.GetGrantedScopes(), ar.GetID())
	p := resp.GetParameters()
	b.recordSecrets(p.Get("code"), p.Get("access_token"))
	b.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// authorizeError answers an invalid authorization request: to the callback when the client
// and redirect_uri are valid (RFC 6749 4.1.2.1), otherwise on an error page, never by a
// redirect to an unverified URI.
func (b *Bank) authorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	if ar != nil && ar.IsRedirectURIValid() {
		b.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	e := fosite.ErrorToRFC6749Error(err)
	renderPage(w, http.StatusBadRequest, errorPage, pageData{Error: e.GetDescription(), Code: e.ErrorField})
}

// checkPSU compares the PSU's credentials in constant time.
func (b *Bank) checkPSU(psu, password string) bool {
	want, ok := b.psus[psu]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
}

// scopeText is the scope shown to the PSU.
func scopeText(q url.Values) string {
	if s := strings.TrimSpace(q.Get("scope")); s != "" {
		return s
	}
	return ScopeAISP
}

// callbackWriter applies the state faults to every redirect to the TPP's callback.
func (b *Bank) callbackWriter(w http.ResponseWriter) http.ResponseWriter {
	switch {
	case b.faults.has(FaultStateNotEchoed):
		return &locationRewriter{ResponseWriter: w, rewrite: func(v url.Values) { v.Del("state") }}
	case b.faults.has(FaultStateAltered):
		return &locationRewriter{ResponseWriter: w, rewrite: func(v url.Values) {
			if v.Has("state") {
				v.Set("state", v.Get("state")+"-altered")
			}
		}}
	case b.faults.has(FaultCallbackPathAltered):
		return &locationRewriter{ResponseWriter: w, rewriteURL: func(u *url.URL) {
			if u.Query().Has("code") {
				u.Path += "/approved" // still under the registered URI, but not it
			}
		}}
	}
	return w
}

// locationRewriter edits the parameters (query and fragment) of a redirect's Location.
type locationRewriter struct {
	http.ResponseWriter
	rewrite    func(url.Values) // the parameters; nil: none
	rewriteURL func(*url.URL)   // the URL itself; nil: none
	wrote      bool
}

func (l *locationRewriter) WriteHeader(code int) {
	if !l.wrote && code >= 300 && code < 400 {
		if u, err := url.Parse(l.Header().Get("Location")); err == nil {
			if l.rewrite != nil {
				q := u.Query()
				l.rewrite(q)
				u.RawQuery = q.Encode()
				if u.Fragment != "" {
					if f, err := url.ParseQuery(u.Fragment); err == nil {
						l.rewrite(f)
						u.Fragment = f.Encode()
					}
				}
			}
			if l.rewriteURL != nil {
				l.rewriteURL(u)
			}
			l.Header().Set("Location", u.String())
		}
	}
	l.wrote = true
	l.ResponseWriter.WriteHeader(code)
}

func (l *locationRewriter) Write(p []byte) (int, error) {
	if !l.wrote {
		l.WriteHeader(http.StatusOK)
	}
	return l.ResponseWriter.Write(p)
}

// pageData is what the PSU's pages show.
type pageData struct {
	Title, Journey, Client, Scope, Error, Code string
}

// pageTitles names each page.
var pageTitles = map[*template.Template]string{
	loginPage:   "Log in to your bank",
	consentPage: "Your consent",
	errorPage:   "The request cannot be served",
}

func renderPage(w http.ResponseWriter, status int, t *template.Template, d pageData) {
	d.Title = pageTitles[t]
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = t.Execute(w, d)
}

const pageHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} - STET reference bank</title></head>
<body>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
`

var (
	loginPage = template.Must(template.New("login").Parse(pageHead + `<p><strong>{{.Client}}</strong> asks to access your accounts ({{.Scope}}).</p>
<form method="post">
<input type="hidden" name="journey" value="{{.Journey}}">
<p><label for="psu_id">Identifier</label> <input type="text" id="psu_id" name="psu_id" autocomplete="username" required></p>
<p><label for="password">Password</label> <input type="password" id="password" name="password" autocomplete="current-password" required></p>
<p><button type="submit" id="login" name="action" value="login">Log in</button>
<button type="submit" id="cancel" name="action" value="cancel" formnovalidate>Cancel</button></p>
</form>
</body></html>
`))
	consentPage = template.Must(template.New("consent").Parse(pageHead + `<p>The provider <strong id="client">{{.Client}}</strong> asks for access to your accounts with the scope <strong id="scope">{{.Scope}}</strong>.</p>
<form method="post">
<input type="hidden" name="journey" value="{{.Journey}}">
<p><button type="submit" id="accept" name="action" value="accept">Accept</button>
<button type="submit" id="refuse" name="action" value="refuse">Refuse</button></p>
</form>
</body></html>
`))
	errorPage = template.Must(template.New("error").Parse(pageHead + `{{if .Code}}<p>Error: <code id="error">{{.Code}}</code></p>{{end}}
</body></html>
`))
)
