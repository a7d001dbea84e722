// Package steps holds the godog step definitions: what each sentence of the features does
// against a bank. Each scenario gets a fresh World; nothing is shared between scenarios but
// the run-wide Env.
package steps

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/internal/consent"
	"github.com/stetconform/stetconform/internal/evidence"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/state"
)

const (
	// bodyLimit bounds every response body the suite reads: a bank that sends an endless
	// body gets a failed check, not an exhausted machine.
	bodyLimit = 1 << 20
	// evidenceLimit bounds how much of each body is kept in the report.
	evidenceLimit = 64 << 10
)

// Env is what the scenarios of one run share.
type Env struct {
	Profile  *profile.Profile
	Redactor *report.Redactor
	// NewPSUDriver returns the PSU driver for a scenario. browser is the HTTP client that
	// stands for the PSU's browser (no client certificate, evidence recorded); the form
	// driver uses it, the others may not.
	NewPSUDriver func(browser *http.Client) psu.Driver
	// Locate gives the feature name and line of a scenario (for stable IDs in the report).
	Locate func(sc *godog.Scenario) (feature string, line int)
	// State keeps access tokens that outlive the run for a later run's expiry check
	// (nil: none are kept).
	State *state.Store
	// RunID names this run in the state file ("which run issued this token").
	RunID string
	// ResumeTLS resumes TLS sessions across the run's scenarios (resuming). Only for the
	// embedded bank: a real bank's front end may not carry the client certificate into a
	// resumed session, and its checks would then fail for the suite's shortcut.
	ResumeTLS bool

	// Consents lends the PSU's codes and grants between scenarios (nil: each scenario
	// runs its own journeys).
	Consents *consent.Broker

	mu     sync.Mutex
	worlds []*World
	gates  map[string]*gate // expiry gates by client_id (expiry_gate.go)
	// sessions are the TLS session caches by actor (resuming).
	sessions map[string]tls.ClientSessionCache
	shared   map[string]*shared // journeys several scenarios read (consent.go)
	// observed are the run-wide positive controls seen to succeed (controls.go).
	observed map[string]bool

	// pace keeps the run under the profile's rate_limit and the bank's Retry-After, per
	// host, for every client of every scenario (pace.go).
	paceOnce sync.Once
	pace     *pacer
}

// addWait counts d as deliberately waited by the scenario.
func (w *World) addWait(d time.Duration) {
	w.env.mu.Lock()
	w.waited += d
	w.env.mu.Unlock()
}

// LongestWait is the most any scenario of the run waited on purpose (for a token or a code
// to expire, a refresh token's lifetime): with the exchanges, the floor of a run's time.
func (e *Env) LongestWait() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var longest time.Duration
	for _, w := range e.worlds {
		longest = max(longest, w.waited)
	}
	return longest
}

// Results returns the result of every scenario that started, in start order.
func (e *Env) Results() []report.ScenarioResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]report.ScenarioResult, 0, len(e.worlds))
	for _, w := range e.worlds {
		out = append(out, e.withControls(w.withDeferred(w.result())))
	}
	return out
}

// World is the state of one scenario: the TPP clients, what the bank answered, the
// evidence, and what the scenario found.
type World struct {
	env *Env
	p   *profile.Profile
	rec *evidence.Recorder

	httpClients map[string]*http.Client // by actor: client name, "none", "psu"
	transports  []*http.Transport

	res       report.ScenarioResult
	waited    time.Duration // the scenario's deliberate waits (sleep), for LongestWait
	stepStart time.Time
	stepExch  int
	skip      string // reason the scenario was skipped
	// inconclusiveWhy is why what the bank did proves neither compliance nor a breach.
	inconclusiveWhy string
	na              string // reason the scenario does not apply to this bank

	// What the scenario asks of the PSU's consents, and what it holds of them
	// (consent.go): the journey's PSU, a code lent or brought, the grants lent.
	demand demand
	// role is the TPP role the scenario's consents are for: "" (aisp) or cbpii. It picks
	// the scope of its authorization requests and keeps its codes and grants apart.
	role         string
	ticket       *consent.Ticket // the journey about to run
	lastTicket   *consent.Ticket // the journey that ran, whose code is not yet kept
	heldCode     *consent.Code
	heldCodeSent bool
	spentLease   *consent.Lease   // the grant of the code this scenario exchanged, held till its end
	deferred     *consent.Control // its refusal's positive control, at the code's next exchange
	leases       []*consent.Lease
	linkDone     bool
	pooled       bool   // the scenario's tokens went to the run's pool (kept at its end)
	making       string // the TPP whose grant the scenario is making
	fetching     string // the TPP whose code the scenario fetches for the negative checks

	// The authorization journey.
	sentState      string
	redirectURI    string
	outcome        *psu.Outcome
	journeyStopAt  []string // further prefixes that end the next journey unrequested
	journeyErr     error
	journeyStarted time.Time
	authStart      authStart // where GET /authorize led the PSU's browser (AUTHZ-01)
	// A negative authorization check's first pages: the unaltered request's (the positive
	// control) and the altered one's.
	control, altered authStart
	// AUTHZ-10: the exchange of the code of a request for both roles, if the bank gave one.
	bothExchange *answer

	// The code and the tokens.
	verifier     string // the PKCE code_verifier of the authorization request, if any
	code         string
	codeReceived time.Time // when the callback brought the code
	// lateCode: the last code exchange was sent past the code's declared lifetime, unless
	// codeLeftToExpire says the scenario let it expire on purpose (TOKEN-08).
	lateCode, codeLeftToExpire bool
	// lateToken says, when the last call to the accounts resource left (after any wait
	// for the rate limit) once the access token it carried had reached its expires_in,
	// less the declared skew, how late it was ("": not late).
	lateToken string
	tokens    *tokenSet // the current tokens
	previous  *tokenSet // the tokens before the last refresh
	last      *answer   // the bank's last answer to a token or resource request

	beforeRefresh    string // the access token a refresh replaces (REFRESH-01)
	keepRefreshAtEnd bool   // the scenario's refresh token goes to the state file at its end
	refreshSpent     bool   // the scenario replayed its refresh token or gave it away
	watchLifetime    bool   // the refresh token is kept to watch its lifetime (REFRESH-10/13)
	// keptRun is the run that kept the refresh token REFRESH-10 checks across runs.
	keptRun string
	// keptAccess: the scenario's access token went to the state file for a later run's
	// expiry check (BEARER-04): its grant is never lent, refreshed or replayed again.
	keptAccess bool

	// BEARER-04: the gate held while the token's expiry is watched, and when the token
	// was last seen working.
	heldGate     *gate
	consentGate  *gate // held shared from a journey to its code exchange
	consentSince time.Time
	seenValidAt  time.Time

	// MTLS-03, MTLS-11: where the bank stopped the TPP lacking the role.
	roleRefusedAt string
	lastCertNone  bool   // the code exchange under test presented no certificate (MTLS-01)
	requestID     string // the X-Request-ID sent (BEARER-09)
	// MTLS-09: TLS handshakes at forced versions.
	tlsProbe tlsProbe
}

// expiresAt is when the access token expires, counted from its arrival (zero: unknown).
func (t *tokenSet) expiresAt() time.Time {
	if !t.hasExpires || t.expiresIn <= 0 {
		return time.Time{}
	}
	return t.received.Add(time.Duration(t.expiresIn * float64(time.Second)))
}

// tokenSet is what one successful token response gave.
type tokenSet struct {
	owner     *profile.Client
	access    string
	refresh   string
	tokenType string
	expiresIn float64 // 0 when absent
	received  time.Time
	sent      time.Time // when the request that got them was sent: the bank issued them after
	// consentAt is when the PSU's consent (SCA) the grant comes from was seen (the
	// callback), consentFrom when its journey began: the bank dated it in between.
	consentAt, consentFrom time.Time
	answer                 *answer
	hasExpires             bool
	// seen is when the refresh token was last seen working: issued, or honoured by a
	// refresh (for a refresh token an earlier run kept, what that run saw; zero: unknown).
	seen time.Time
}

func newWorld(env *Env) *World {
	return &World{
		env:         env,
		p:           env.Profile,
		rec:         evidence.NewRecorder(evidenceLimit),
		httpClients: map[string]*http.Client{},
	}
}

// client returns the HTTP client that acts as c (nil: a TPP presenting no certificate).
// Each scenario has its own transports (its own connections); against the embedded bank
// TLS sessions are resumed across the run's scenarios, never between certificates
// (resuming).
func (w *World) client(c *profile.Client) *http.Client {
	key, actor, org := "none", "TPP without certificate", ""
	if c != nil {
		key, actor, org = "client "+c.Name, "TPP "+c.Name, c.OrganizationIdentifier()
	}
	if hc, ok := w.httpClients[key]; ok {
		return hc
	}
	hc := w.newHTTPClient(w.env.resuming(w.p.TLSConfig(c), key), actor, org)
	w.httpClients[key] = hc
	return hc
}

// browser returns the HTTP client that stands for the PSU's browser: no client certificate.
func (w *World) browser() *http.Client {
	if hc, ok := w.httpClients["psu"]; ok {
		return hc
	}
	hc := w.newHTTPClient(w.env.resuming(w.p.TLSConfig(nil), "psu"), "PSU browser", "")
	w.httpClients["psu"] = hc
	return hc
}

// resuming gives conf the run's TLS session cache of one actor (a TPP's certificate, the
// TPP without one, the PSU's browser): a scenario's first handshake as that actor resumes
// the session an earlier scenario left, as a TPP's own client would, instead of a full
// handshake (two signatures and a chain verified, most of a run's CPU). The session is
// the same certificate's, so the bank sees the same client certificate either way; a
// certificate the bank refused in the handshake left no session to resume.
func (e *Env) resuming(conf *tls.Config, actor string) *tls.Config {
	if !e.ResumeTLS {
		return conf
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sessions == nil {
		e.sessions = map[string]tls.ClientSessionCache{}
	}
	c, ok := e.sessions[actor]
	if !ok {
		c = tls.NewLRUClientSessionCache(16)
		e.sessions[actor] = c
	}
	conf.ClientSessionCache = c
	return conf
}

func (w *World) newHTTPClient(tlsConf *tls.Config, actor, org string) *http.Client {
	t := &http.Transport{
		DialContext:            w.dialer().DialContext,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    w.p.Timeouts.Connect,
		ResponseHeaderTimeout:  w.timeout(),
		MaxResponseHeaderBytes: 64 << 10, // a hostile bank's headers are bounded too
		MaxIdleConnsPerHost:    2,
		ForceAttemptHTTP2:      false,
	}
	w.transports = append(w.transports, t)
	return &http.Client{
		// The paced transport bounds each attempt by the request timeout once it leaves:
		// a client Timeout would also count the wait for the run's rate limit.
		Transport: &paced{next: w.rec.Transport(t, actor, org), pace: w.env.pacer(), timeout: w.timeout()},
		// The suite looks at every redirect itself: a redirect to the callback is a result,
		// not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (w *World) closeIdle() {
	for _, t := range w.transports {
		t.CloseIdleConnections()
	}
}

// warn records a remark that does not fail the scenario.
func (w *World) warn(format string, args ...any) {
	w.res.Warnings = append(w.res.Warnings, fmt.Sprintf(format, args...))
}

// note records a fact a reader of the report needs.
func (w *World) note(format string, args ...any) {
	w.res.Notes = append(w.res.Notes, fmt.Sprintf(format, args...))
}

// skipBecause ends the scenario as skipped, with a reason a person can act on.
func (w *World) skipBecause(format string, args ...any) error {
	w.skip = fmt.Sprintf(format, args...)
	return godog.ErrSkip
}

// inconclusive ends the scenario as inconclusive: the bank's answer cannot be attributed to
// what the check is about (a rate limit, a server error, a refusal with no positive
// control). The reason says where and why, so that a person can act on it.
func (w *World) inconclusive(format string, args ...any) error {
	w.inconclusiveWhy = fmt.Sprintf(format, args...)
	return godog.ErrSkip
}

// timeout is the bound of one request to the bank.
func (w *World) timeout() time.Duration { return w.p.Timeouts.Request }

func (w *World) dialer() *net.Dialer { return &net.Dialer{Timeout: w.p.Timeouts.Connect} }

// newState returns a state value of unusual but legal characters (RFC 6749 VSCHAR), so
// that a bank that decodes, re-encodes or trims it is caught by AUTHZ-03.
func newState() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b) + "-._~+/"
}

// newUUID returns a random (version 4) UUID, for headers such as X-Request-ID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// expandHeader fills the placeholders a bank profile may use in header values.
func expandHeader(v string) string {
	return strings.ReplaceAll(v, "{uuid}", newUUID())
}

// sleep waits d; a run stopped meanwhile (Ctrl-C, a CI timeout) skips the check rather
// than failing the bank.
func (w *World) sleep(ctx context.Context, d time.Duration, what string) error {
	if d <= 0 {
		return nil
	}
	start := time.Now()
	defer func() { w.addWait(time.Since(start)) }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return w.skipBecause("the run was stopped while waiting %s for %s", d.Round(time.Second), what)
	}
}
