// Package hostilebank is a test-only bank that misbehaves on purpose: it hangs, trickles,
// sends endless or malformed bodies, HTML error pages, redirect loops, broken TLS, resets
// and HTTP 5xx. It is the reference bank (internal/aspsp) with exactly one misbehaviour on
// top, so that a conformance run against it shows which checks the misbehaviour breaks and
// that the suite reports each with a clear cause, within its timeouts, without hanging or
// crashing.
package hostilebank

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/eidas"
)

// Behaviour is one way the bank misbehaves.
type Behaviour string

// The misbehaviours. Each breaks one thing; everything else is the reference bank.
const (
	TokenHangs         Behaviour = "token-hangs"          // /token never answers
	TokenTrickles      Behaviour = "token-trickles"       // /token sends its body one byte a second
	TokenHugeBody      Behaviour = "token-50mb-body"      // /token answers a 50 MB JSON body
	TokenEndlessBody   Behaviour = "token-endless-body"   // /token answers a body that never ends
	TokenMalformedJSON Behaviour = "token-malformed-json" // /token answers 200 with truncated JSON
	TokenWrongTypes    Behaviour = "token-wrong-types"    // access_token a number, expires_in a string
	TokenHTMLPage      Behaviour = "token-html-200"       // /token answers 200 with an HTML error page
	TokenReset         Behaviour = "token-reset"          // /token resets the connection mid-response

	Token500Body     Behaviour = "token-500-body"     // /token: 500 with an HTML page
	Token500Empty    Behaviour = "token-500-empty"    // /token: 500 without a body
	Token503Body     Behaviour = "token-503-body"     // /token: 503 with a JSON error
	Token503Empty    Behaviour = "token-503-empty"    // /token: 503 without a body
	Accounts500Body  Behaviour = "accounts-500-body"  // accounts: 500 with a JSON error
	Accounts500Empty Behaviour = "accounts-500-empty" // accounts: 500 without a body
	Accounts503Body  Behaviour = "accounts-503-body"  // accounts: 503 with a text body
	Accounts503Empty Behaviour = "accounts-503-empty" // accounts: 503 without a body

	AuthorizeRedirectLoop    Behaviour = "authorize-redirect-loop"    // /authorize redirects to itself forever
	AuthorizeForeignRedirect Behaviour = "authorize-foreign-redirect" // /authorize redirects to https://elsewhere.invalid/

	TLSClientCAMismatch Behaviour = "tls-client-ca-mismatch" // the handshake demands a client certificate of another CA
	TLSClosedOnAccept   Behaviour = "tls-closed-on-accept"   // every connection is closed as soon as it is accepted
	TLSUntrustedServer  Behaviour = "tls-untrusted-server"   // the server certificate is not from the profile's CA
	TLSOldVersionsOnly  Behaviour = "tls-1.0-1.1-only"       // the server speaks only TLS 1.0 and 1.1
)

// RequestTimeoutOf is the timeouts.request of b's profile.
func RequestTimeoutOf(b Behaviour) time.Duration {
	if b == TokenHangs || b == TokenTrickles {
		return RequestTimeout
	}
	return PatientRequestTimeout
}

// ErrUnknownBehaviour is Start's error for a name that is not one of Behaviours.
var ErrUnknownBehaviour = errors.New("hostilebank: unknown behaviour")

// ForeignHost is where AuthorizeForeignRedirect sends the browser (.invalid never resolves).
const ForeignHost = "elsewhere.invalid"

// Timeouts the profile declares. Only the behaviours that hang (TokenHangs, TokenTrickles)
// measure a timeout, timeouts.request: theirs is short, so that a hang costs seconds. The
// others are generous, so that a loaded machine (load average 20 on 2 cores) is not taken
// for a misbehaving bank; on an idle one they are never reached, and cost nothing.
const (
	ConnectTimeout = 10 * time.Second
	// RequestTimeout is the behaviours that hang: what the run must report as a timeout.
	RequestTimeout = 2 * time.Second
	// PatientRequestTimeout is the others': a bank that answers at once never reaches it.
	PatientRequestTimeout = 20 * time.Second
	PSUJourneyTimeout     = 30 * time.Second
	// AccessTokenLifetime is short so that the expiry check runs instead of being skipped.
	AccessTokenLifetime = 2 * time.Second
	// CodeLifetime is short for the same reason (the expired-code check), but not 2 s: a
	// chain of negative checks hands one code on, and on a machine busy with other test
	// binaries a 2 s code died before the chain's last exchange.
	CodeLifetime = 5 * time.Second
)

const (
	hugeBodySize = 50 << 20
	// holdLimit bounds how long a hanging or trickling handler lives, whatever the client
	// does: far beyond any run's wall bound, so that a hang the suite did not bound shows.
	holdLimit = 10 * time.Minute
	// readLimit bounds what a hostile handler reads of a request body.
	readLimit = 64 << 10
)

// Behaviours returns every behaviour, in a stable order.
func Behaviours() []Behaviour {
	return []Behaviour{
		TokenHangs, TokenTrickles, TokenHugeBody, TokenEndlessBody, TokenMalformedJSON,
		TokenWrongTypes, TokenHTMLPage, TokenReset,
		Token500Body, Token500Empty, Token503Body, Token503Empty,
		Accounts500Body, Accounts500Empty, Accounts503Body, Accounts503Empty,
		AuthorizeRedirectLoop, AuthorizeForeignRedirect,
		TLSClientCAMismatch, TLSClosedOnAccept, TLSUntrustedServer, TLSOldVersionsOnly,
	}
}

// Start serves, on 127.0.0.1, the reference bank with behaviour b. It writes the test PKI
// into dir/pki and a bank profile that reaches the bank into dir/bank.yaml (short timeouts,
// the reference bank's PSU scripts), and returns the profile's path. stop closes the server
// and every connection, and returns once every handler has ended.
func Start(dir string, b Behaviour) (profilePath string, stop func(), err error) {
	if !slices.Contains(Behaviours(), b) {
		return "", nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownBehaviour, b, Behaviours())
	}
	now := time.Now()
	pki, err := eidas.NewTestPKI(now)
	if err != nil {
		return "", nil, err
	}
	pkiDir := filepath.Join(dir, "pki")
	if err := pki.WriteDir(pkiDir); err != nil {
		return "", nil, err
	}
	bank, err := aspsp.New(aspsp.Config{PKI: pki, AccessTokenLifetime: AccessTokenLifetime, CodeLifetime: CodeLifetime})
	if err != nil {
		return "", nil, err
	}
	tlsConf, err := serverTLS(bank, pki, b, now)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("hostilebank: listening: %w", err)
	}
	base := "https://" + ln.Addr().String()

	s := &server{behaviour: b, bank: bank.Handler(), done: make(chan struct{})}
	if b == TLSClosedOnAccept {
		s.serveClosing(ln)
	} else {
		s.serveHTTP(tls.NewListener(ln, tlsConf))
	}

	profilePath = filepath.Join(dir, "bank.yaml")
	data, err := profileYAML(bank.ProfileYAML(pkiDir), base, b)
	if err == nil {
		err = os.WriteFile(profilePath, data, 0o600)
	}
	if err != nil {
		s.stop()
		return "", nil, err
	}
	return profilePath, s.stop, nil
}

// serverTLS is the reference bank's TLS configuration, broken as b says.
func serverTLS(bank *aspsp.Bank, pki *eidas.TestPKI, b Behaviour, now time.Time) (*tls.Config, error) {
	c := bank.TLSConfig()
	switch b {
	case TLSClientCAMismatch:
		pool := x509.NewCertPool()
		pool.AddCert(pki.Untrusted.Cert)
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
		// TLS 1.2 verifies the client inside the handshake, so the client always sees the
		// alert; with TLS 1.3 it may first see the reset of the connection it wrote to.
		c.MaxVersion = tls.VersionTLS12
	case TLSUntrustedServer:
		kp, err := pki.Untrusted.IssueServer([]string{"127.0.0.1", "::1", "localhost"}, now.Add(-time.Hour), now.AddDate(0, 0, 1))
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{kp.TLSCertificate()}
	case TLSOldVersionsOnly:
		c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	}
	return c, nil
}

// profileYAML is the reference bank's profile pointed at base, with the short timeouts.
func profileYAML(ref []byte, base string, b Behaviour) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(ref, &m); err != nil {
		return nil, fmt.Errorf("hostilebank: reading the reference bank's profile: %w", err)
	}
	m["name"] = "stetconform hostile bank (" + string(b) + ")"
	// The reference bank was never started, so its endpoints are bare paths: put this
	// server in front of each.
	endpoints, _ := m["endpoints"].(map[string]any)
	for k, v := range endpoints {
		if path, ok := v.(string); ok && strings.HasPrefix(path, "/") {
			endpoints[k] = base + path
		}
	}
	if endpoints["token"] != base+aspsp.PathToken {
		return nil, fmt.Errorf("hostilebank: the reference bank's profile has no token endpoint at %s (endpoints: %v)", aspsp.PathToken, endpoints)
	}
	m["timeouts"] = map[string]any{
		"connect":     ConnectTimeout.String(),
		"request":     RequestTimeoutOf(b).String(),
		"psu_journey": PSUJourneyTimeout.String(),
	}
	return yaml.Marshal(m)
}

// server serves the reference bank's handler with one misbehaviour, and keeps count of its
// handlers and goroutines so that stop can wait for them.
type server struct {
	behaviour Behaviour
	bank      http.Handler
	done      chan struct{}  // closed by stop: hanging handlers give up
	wg        sync.WaitGroup // the serving goroutine
	closeOnce sync.Once
	closeFn   func()

	mu       sync.Mutex
	stopping bool
	handlers sync.WaitGroup // handlers in flight; Add only while !stopping
}

// enter counts a handler in, unless the server is stopping.
func (s *server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.handlers.Add(1)
	return true
}

func (s *server) serveHTTP(ln net.Listener) {
	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// HTTP/1.1 only (the listener offers no ALPN): Hijack needs it, and so does the suite.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// Handshake failures are the point of some behaviours; their logs are noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
	s.closeFn = func() { _ = srv.Close() }
}

// serveClosing accepts connections and closes each at once, before any TLS byte.
func (s *server) serveClosing(ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	s.closeFn = func() { _ = ln.Close() }
}

func (s *server) stop() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		close(s.done)
		s.closeFn() // closes the listener and every connection: handlers see it at once
		s.wg.Wait()
		s.handlers.Wait()
	})
}

// handler routes the misbehaving endpoint to its hostile handler, the rest to the bank.
func (s *server) handler() http.Handler {
	hostile := s.hostileHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.enter() {
			http.Error(w, "the bank is stopping", http.StatusServiceUnavailable)
			return
		}
		defer s.handlers.Done()
		if hostile != nil && r.URL.Path == s.target() {
			hostile(w, r)
			return
		}
		s.bank.ServeHTTP(w, r)
	})
}

// target is the path the behaviour breaks ("" for the TLS behaviours).
func (s *server) target() string {
	switch s.behaviour {
	case Accounts500Body, Accounts500Empty, Accounts503Body, Accounts503Empty:
		return aspsp.PathAccounts
	case AuthorizeRedirectLoop, AuthorizeForeignRedirect:
		return aspsp.PathAuthorize
	case TLSClientCAMismatch, TLSClosedOnAccept, TLSUntrustedServer, TLSOldVersionsOnly:
		return ""
	}
	return aspsp.PathToken
}

func (s *server) hostileHandler() http.HandlerFunc {
	switch s.behaviour {
	case TokenHangs:
		return s.hang
	case TokenTrickles:
		return s.trickle
	case TokenHugeBody:
		return hugeBody
	case TokenEndlessBody:
		return endlessBody
	case TokenMalformedJSON:
		return reply(http.StatusOK, "application/json", `{"access_token":"9f8e7d6c","token_type":"Bearer","expires_in":3600,"refresh_tok`)
	case TokenWrongTypes:
		return reply(http.StatusOK, "application/json", `{"access_token":1234567890,"token_type":"Bearer","expires_in":"3600","refresh_token":987654321}`)
	case TokenHTMLPage:
		return reply(http.StatusOK, "text/html; charset=utf-8", errorPage("Service temporarily unavailable"))
	case TokenReset:
		return resetMidResponse
	case Token500Body:
		return reply(http.StatusInternalServerError, "text/html; charset=utf-8", errorPage("Internal Server Error"))
	case Token503Body:
		return reply(http.StatusServiceUnavailable, "application/json", `{"error":"temporarily_unavailable","error_description":"maintenance"}`)
	case Accounts500Body:
		return reply(http.StatusInternalServerError, "application/json", `{"status":500,"message":"NullPointerException"}`)
	case Accounts503Body:
		return reply(http.StatusServiceUnavailable, "text/plain", "Service Unavailable: back at 06:00")
	case Token500Empty, Accounts500Empty:
		return reply(http.StatusInternalServerError, "", "")
	case Token503Empty, Accounts503Empty:
		return reply(http.StatusServiceUnavailable, "", "")
	case AuthorizeRedirectLoop:
		return redirectLoop
	case AuthorizeForeignRedirect:
		return func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://"+ForeignHost+"/login?"+r.URL.RawQuery, http.StatusFound)
		}
	}
	return nil
}

// drain reads (a bounded part of) the request body: the server notices a client that
// goes away only once the body is consumed.
func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, readLimit))
}

// hang never answers: it ends when the client gives up, the bank stops, or holdLimit.
func (s *server) hang(w http.ResponseWriter, r *http.Request) {
	drain(r)
	t := time.NewTimer(holdLimit)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-s.done:
	case <-t.C:
	}
}

// trickle answers 200 at once, then its JSON body one byte a second.
func (s *server) trickle(w http.ResponseWriter, r *http.Request) {
	drain(r)
	body := []byte(`{"access_token":"trickle","token_type":"Bearer","expires_in":3600,"refresh_token":"trickle"}`)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	limit := time.NewTimer(holdLimit)
	defer limit.Stop()
	for _, c := range body {
		if _, err := w.Write([]byte{c}); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-limit.C:
			return
		}
	}
}

// filler is a reused chunk of a long access token, so that no large body is ever held.
var filler = func() []byte {
	b := make([]byte, 32<<10)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

// hugeBody answers a 50 MB JSON token response (a 50 MB access_token).
func hugeBody(w http.ResponseWriter, r *http.Request) {
	drain(r)
	head, tail := []byte(`{"token_type":"Bearer","access_token":"`), []byte(`"}`)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(hugeBodySize))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		return
	}
	left := hugeBodySize - len(head) - len(tail)
	for left > 0 {
		n := min(left, len(filler))
		if _, err := w.Write(filler[:n]); err != nil {
			return // the client stopped reading: the expected end
		}
		left -= n
	}
	_, _ = w.Write(tail)
}

// endlessBody answers a chunked JSON body that never ends, until the client goes away.
func endlessBody(w http.ResponseWriter, r *http.Request) {
	drain(r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(`{"token_type":"Bearer","access_token":"`)); err != nil {
		return
	}
	for {
		if _, err := w.Write(filler); err != nil {
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
}

// resetMidResponse sends the headers and half the body of a token response, then resets
// the TCP connection (RST, no TLS close_notify).
func resetMidResponse(w http.ResponseWriter, r *http.Request) {
	drain(r)
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "hijack: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	body := `{"access_token":"reset","token_type":"Bearer","expires_in":3600,"refresh_token":"reset"}`
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nCache-Control: no-store\r\n\r\n%s", len(body), body[:len(body)/2])
	if buf.Flush() != nil {
		return
	}
	// Let the half response reach the client before the reset overtakes it.
	time.Sleep(50 * time.Millisecond)
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

// redirectLoop sends /authorize to itself, one hop further each time.
func redirectLoop(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hop := 0
	_, _ = fmt.Sscan(q.Get("hop"), &hop)
	q.Set("hop", fmt.Sprint(hop+1))
	http.Redirect(w, r, r.URL.Path+"?"+q.Encode(), http.StatusFound)
}

// reply answers status with a fixed body (none when body is "").
func reply(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "120")
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func errorPage(title string) string {
	return "<!DOCTYPE html>\n<html><head><title>" + title + "</title></head>\n<body><h1>" + title +
		"</h1><p>Please try again later. Reference: 4f2a-91c0</p></body></html>\n"
}
