package preflight

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
)

// Probe checks each distinct host among the profile's endpoints over the network: DNS,
// TCP, a TLS handshake without a client certificate (the server's chain against the
// profile's CA, the TLS version, whether and how the bank asks for a client certificate),
// then a handshake with each client's certificate. Opening a connection is bounded by
// timeouts.connect, waiting for an answer by timeouts.request. each, when not nil, gets
// every finding as soon as it is made, for a person watching a slow bank.
func Probe(ctx context.Context, p *profile.Profile, each func(Finding)) []Finding {
	pr := &prober{p: p, now: time.Now(), redact: redactor(p), each: each}
	for _, t := range targets(p) {
		if ctx.Err() != nil {
			pr.add(Fail, t.addr, "not probed: %v", context.Cause(ctx))
			continue
		}
		pr.host(ctx, t)
	}
	return pr.out
}

// target is one host the endpoints point at.
type target struct {
	scheme   string
	hostname string   // without port or brackets
	addr     string   // host:port
	hostHdr  string   // the URL's host, for the Host header
	fields   []string // the endpoints it serves: "endpoints.token", ...
	path     string   // the path asked for after a handshake
	token    bool     // it serves the token endpoint, where mutual TLS is required
}

// targets groups the endpoints by scheme, host and port, in the profile's order.
func targets(p *profile.Profile) []*target {
	endpoints := []struct{ field, url string }{
		{"endpoints.authorize", p.Endpoints.Authorize},
		{"endpoints.token", p.Endpoints.Token},
		{"endpoints.accounts", p.Endpoints.Accounts},
		{"endpoints.revoke", p.Endpoints.Revoke},
	}
	var out []*target
	byKey := map[string]*target{}
	for _, e := range endpoints {
		u, err := url.Parse(e.url)
		if e.url == "" || err != nil || u.Host == "" {
			continue // Load has reported it
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		addr := net.JoinHostPort(u.Hostname(), port)
		key := u.Scheme + "://" + addr
		t := byKey[key]
		if t == nil {
			t = &target{scheme: u.Scheme, hostname: u.Hostname(), addr: addr, hostHdr: u.Host, path: "/"}
			if u.EscapedPath() != "" {
				t.path = u.EscapedPath()
			}
			byKey[key] = t
			out = append(out, t)
		}
		t.fields = append(t.fields, e.field)
		if e.field == "endpoints.token" {
			t.token = true
			t.path = u.EscapedPath() // the request that matters most on this host
		}
	}
	return out
}

type prober struct {
	p      *profile.Profile
	now    time.Time
	redact func(Finding) Finding
	each   func(Finding)
	out    []Finding
}

func (pr *prober) add(l Level, where, format string, args ...any) {
	pr.addAt(l, where, "", format, args...)
}

func (pr *prober) addAt(l Level, where, at, format string, args ...any) {
	f := pr.redact(Finding{Level: l, Where: where, What: fmt.Sprintf(format, args...), At: at})
	pr.out = append(pr.out, f)
	if pr.each != nil {
		pr.each(f)
	}
}

// host runs every probe on one host, stopping at the first step that fails.
func (pr *prober) host(ctx context.Context, t *target) {
	serves := "serves " + strings.Join(t.fields, ", ")
	if net.ParseIP(t.hostname) == nil {
		dctx, cancel := context.WithTimeout(ctx, pr.p.Timeouts.Connect)
		addrs, err := net.DefaultResolver.LookupHost(dctx, t.hostname)
		cancel()
		if err != nil {
			pr.add(Fail, t.addr, "DNS lookup of %s failed (%s): %s", t.hostname, serves, dnsText(err))
			return
		}
		pr.add(OK, t.addr, "%s resolves to %s (%s)", t.hostname, strings.Join(addrs, ", "), serves)
	}

	dctx, cancel := context.WithTimeout(ctx, pr.p.Timeouts.Connect)
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", t.addr)
	cancel()
	if err != nil {
		pr.add(Fail, t.addr, "TCP connection failed (%s): %s", serves, netText(err, pr.p.Timeouts.Connect))
		return
	}
	remote := conn.RemoteAddr().String()
	conn.Close()
	if net.ParseIP(t.hostname) != nil {
		pr.add(OK, t.addr, "TCP connection to %s (%s)", remote, serves)
	} else {
		pr.add(OK, t.addr, "TCP connection to %s", remote)
	}

	if t.scheme != "https" {
		if t.token {
			pr.add(Warn, t.addr, "plain %s, without TLS: no client certificate can be presented, so mutual TLS at the token endpoint cannot work", t.scheme)
		} else {
			pr.add(OK, t.addr, "plain %s, without TLS: nothing more to check", t.scheme)
		}
		return
	}

	// The answer to the handshake without a certificate is awaited alongside the
	// clients' handshakes below: against a bank that never answers, each waits
	// timeouts.request, and a run does these checks before its first scenario.
	base, baseConn, closeBase := pr.connect(ctx, t, nil)
	var answer string
	var afterErr error
	baseAnswered := make(chan struct{})
	go func() {
		defer close(baseAnswered)
		defer closeBase()
		if baseConn != nil {
			answer, afterErr = pr.ask(baseConn, t)
		}
	}()
	defer func() { <-baseAnswered }()
	if !pr.server(t, base) {
		return
	}
	if base.request == nil {
		if t.token {
			pr.add(Warn, t.addr, "the bank does not request a client certificate: mutual TLS cannot work (endpoints.token is here)")
		} else {
			pr.add(OK, t.addr, "the bank does not ask for a client certificate here (%s)", serves)
		}
		return
	}

	// One handshake per client, at once. The findings keep the clients' order.
	var subs []*prober
	var wg sync.WaitGroup
	for _, name := range clientNames {
		c := pr.p.ClientByName(name)
		if c == nil || len(c.TLSCert.Certificate) == 0 {
			continue
		}
		sub := &prober{p: pr.p, now: pr.now, redact: pr.redact}
		subs = append(subs, sub)
		wg.Go(func() { sub.client(ctx, t, c, base.request) })
	}
	<-baseAnswered
	base.answer, base.afterErr = answer, afterErr
	pr.add(OK, t.addr, "asks for a client certificate%s; without one, %s", acceptableCAs(base.request), base.outcome(t))
	wg.Wait()
	for _, sub := range subs {
		for _, f := range sub.out {
			pr.out = append(pr.out, f)
			if pr.each != nil {
				pr.each(f)
			}
		}
	}
}

// server reports the server's certificate chain and the TLS version from the handshake
// without a client certificate; it returns false when the host cannot be probed further.
func (pr *prober) server(t *target, r handshake) bool {
	trust := "the system trust store (tls.ca is not set)"
	if pr.p.TLS.CA != "" {
		trust = "tls.ca (" + pr.p.TLS.CA + ")"
	}
	tlsCA := pr.p.Where("tls.ca")
	var verr *tls.CertificateVerificationError
	switch {
	case r.dialErr != nil:
		pr.add(Fail, t.addr, "TCP connection failed: %s", netText(r.dialErr, pr.p.Timeouts.Connect))
		return false
	case errors.As(r.err, &verr):
		what := "the server sent no certificate"
		if len(verr.UnverifiedCertificates) > 0 {
			what = "server certificate " + certText(verr.UnverifiedCertificates[0])
		}
		hint := ""
		var uae x509.UnknownAuthorityError
		switch {
		case errors.As(verr.Err, &uae) && pr.p.TLS.CA != "":
			hint = "; add the CA that issued it to that file"
		case errors.As(verr.Err, &uae):
			hint = "; set tls.ca to a PEM file with the CA that issued it"
		}
		pr.addAt(Fail, t.addr, tlsCA, "%s does not verify against %s: %v%s; the other TLS checks of this host were not run", what, trust, verr.Err, hint)
		return false
	case r.state == nil:
		pr.add(Fail, t.addr, "TLS handshake failed before the server's certificate: %s", tlsText(r.err, pr.p.Timeouts.Connect))
		return false
	}

	st := r.state
	chain := st.PeerCertificates
	if len(st.VerifiedChains) > 0 {
		chain = st.VerifiedChains[0]
	}
	if len(chain) == 0 {
		pr.add(Fail, t.addr, "the server sent no certificate")
		return false
	}
	verified := len(st.VerifiedChains) > 0
	if !verified { // tls.insecure_skip_verify: say what checking would have found
		if err := pr.verifyServer(t, st.PeerCertificates); err != nil {
			pr.addAt(Warn, t.addr, tlsCA, "server certificate %s does not verify against %s: %v (accepted only because tls.insecure_skip_verify is set)", certText(chain[0]), trust, err)
		} else {
			verified = true
		}
	}
	trusted := ""
	if verified {
		trusted = ", trusted through " + trust
	}
	pr.add(OK, t.addr, "%s (%s), server certificate %s%s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), certText(chain[0]), trusted)
	for _, c := range chain {
		switch left := c.NotAfter.Sub(pr.now); {
		case left < 0:
			pr.add(Fail, t.addr, "certificate %s of the server's chain expired on %s", c.Subject, day(c.NotAfter))
		case left < ExpiryWarning:
			pr.add(Warn, t.addr, "certificate %s of the server's chain expires on %s, in %s", c.Subject, day(c.NotAfter), daysLeft(pr.now, c.NotAfter))
		}
	}
	if r.request == nil && r.err != nil {
		pr.add(Fail, t.addr, "TLS handshake failed after the server's certificate: %s", tlsText(r.err, pr.p.Timeouts.Connect))
		return false
	}
	return true
}

// verifyServer checks the server's chain as the handshake would have, when
// tls.insecure_skip_verify turned that off.
func (pr *prober) verifyServer(t *target, certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: pr.p.RootCAs, Intermediates: inter, DNSName: t.hostname, CurrentTime: pr.now,
	})
	return err
}

// client reports a handshake with c's certificate and whether the bank lists c's issuer
// among the CAs it accepts.
func (pr *prober) client(ctx context.Context, t *target, c *profile.Client, req *tls.CertificateRequestInfo) {
	who := fmt.Sprintf("clients.%s (%s)", c.Name, c.ClientID)
	// The expired and role-less certificates are there to be refused: whatever the bank
	// does at the TLS level is for the run to judge, so it is only reported.
	mustPass := c.Name == profile.ClientPrimary || c.Name == profile.ClientSecond

	r := pr.handshake(ctx, t, c)
	if r.request != nil {
		req = r.request
	}
	switch {
	case r.dialErr != nil:
		pr.add(Fail, t.addr, "%s: TCP connection failed: %s", who, netText(r.dialErr, pr.p.Timeouts.Connect))
	case r.err != nil:
		pr.add(level(mustPass, Fail), t.addr, "%s: the handshake with its certificate failed: %s", who, tlsText(r.err, pr.p.Timeouts.Connect))
	case isAlert(r.afterErr):
		pr.add(level(mustPass, Fail), t.addr, "%s: the bank refused its certificate after the handshake (%s): %s", who, tls.VersionName(r.state.Version), r.afterErr)
	case r.afterErr != nil:
		pr.add(level(mustPass, Warn), t.addr, "%s: the handshake with its certificate completed (%s), then %s: the bank may have refused the certificate", who, tls.VersionName(r.state.Version), pr.answerText(t, r))
	default:
		pr.add(OK, t.addr, "%s: the handshake with its certificate succeeded (%s); %s", who, tls.VersionName(r.state.Version), pr.answerText(t, r))
	}

	if req != nil && len(req.AcceptableCAs) > 0 && !issuerListed(c, req.AcceptableCAs) {
		issuer := "?"
		if c.Leaf != nil {
			issuer = c.Leaf.Issuer.String()
		}
		pr.add(Warn, t.addr, "%s: its issuer %s is not among the %d CA(s) the bank lists as acceptable: the bank will most likely refuse it", who, issuer, len(req.AcceptableCAs))
	}
}

// level is l for the clients that must get through, OK (reported only) for the others.
func level(mustPass bool, l Level) Level {
	if mustPass {
		return l
	}
	return OK
}

// handshake is what one TLS connection to a host showed.
type handshake struct {
	dialErr  error
	err      error                       // the handshake's error
	state    *tls.ConnectionState        // as soon as the server's certificate was checked
	request  *tls.CertificateRequestInfo // the bank's CertificateRequest, if it sent one
	answer   string                      // the status line answering the request after the handshake
	afterErr error                       // the error instead of that answer
}

// handshake connects to t presenting c's certificate (none when c is nil), then asks for
// t's path with HEAD: with TLS 1.3 a bank refuses a client certificate only after the
// client's side of the handshake has completed, so its alert comes with the first read.
func (pr *prober) handshake(ctx context.Context, t *target, c *profile.Client) handshake {
	r, conn, done := pr.connect(ctx, t, c)
	defer done()
	if conn != nil {
		r.answer, r.afterErr = pr.ask(conn, t)
	}
	return r
}

// connect makes handshake's connection and handshake, and returns the connection when
// the handshake completed, for ask; done closes it.
func (pr *prober) connect(ctx context.Context, t *target, c *profile.Client) (r handshake, conn *tls.Conn, done func()) {
	cctx, cancel := context.WithTimeout(ctx, pr.p.Timeouts.Connect)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(cctx, "tcp", t.addr)
	if err != nil {
		r.dialErr = err
		return r, nil, func() {}
	}
	// A cancelled run must not wait for the request timeout.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	done = func() {
		stop()
		raw.Close()
	}

	cfg := pr.p.TLSConfig(c)
	cfg.ServerName = t.hostname
	present := cfg.GetClientCertificate
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		r.request = cri
		if present != nil {
			return present(cri)
		}
		return &tls.Certificate{}, nil // no certificate
	}
	// Called once the server's certificate is checked: the chain and version are known
	// even if the bank then aborts the handshake (TLS 1.2 refusing a missing certificate).
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		r.state = &cs
		return nil
	}
	conn = tls.Client(raw, cfg)
	if r.err = conn.HandshakeContext(cctx); r.err != nil {
		return r, nil, done
	}
	st := conn.ConnectionState()
	r.state = &st
	return r, conn, done
}

// maxAnswer bounds what is read of the bank's answer: only its status line is wanted.
const maxAnswer = 8 << 10

// ask sends HEAD for t's path and returns the answer's status line.
func (pr *prober) ask(conn *tls.Conn, t *target) (string, error) {
	conn.SetDeadline(time.Now().Add(pr.p.Timeouts.Request))
	req := fmt.Sprintf("HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: stetconform-preflight\r\nConnection: close\r\n\r\n", t.path, t.hostHdr)
	_, werr := io.WriteString(conn, req)
	// Read even when the write failed: a refusing bank's alert may be waiting.
	line, err := bufio.NewReader(io.LimitReader(conn, maxAnswer)).ReadString('\n')
	switch {
	case line != "":
		return strings.TrimSpace(line), nil
	case isAlert(err) || werr == nil:
		return "", err
	}
	return "", werr
}

// outcome says what the bank did with a connection that presented no certificate.
func (r handshake) outcome(t *target) string {
	switch {
	case r.err != nil:
		return "it refuses the handshake: " + r.err.Error()
	case isAlert(r.afterErr):
		return "it refuses the connection after the handshake: " + r.afterErr.Error()
	case r.afterErr != nil:
		return "the handshake completes, then " + errText(r.afterErr)
	}
	return fmt.Sprintf("it completes the handshake and HEAD %s gets %s", t.path, statusText(r.answer))
}

func (pr *prober) answerText(t *target, r handshake) string {
	if r.afterErr != nil {
		return errText(r.afterErr)
	}
	return fmt.Sprintf("HEAD %s gets %s", t.path, statusText(r.answer))
}

func statusText(line string) string {
	if !strings.HasPrefix(line, "HTTP/") {
		return "an answer that is not HTTP"
	}
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return strings.TrimSpace(strings.TrimPrefix(line, strings.Fields(line)[0]))
}

func errText(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "the bank closed the connection without answering"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the bank reset the connection without answering"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer came within timeouts.request"
	}
	return err.Error()
}

// isAlert tells a TLS alert sent by the bank ("remote error: tls: bad certificate").
func isAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

func tlsText(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Sprintf("no TLS handshake within timeouts.connect (%s)", timeout)
	}
	return errText(err)
}

// netText is a dial error without the "dial tcp 1.2.3.4:443:" the finding already says.
func netText(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Sprintf("no connection within timeouts.connect (%s)", timeout)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

func dnsText(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.Err
	}
	return err.Error()
}

// certText names a certificate with its issuer and end of validity.
func certText(c *x509.Certificate) string {
	return fmt.Sprintf("%s (issued by %s, valid until %s)", c.Subject, c.Issuer, day(c.NotAfter))
}

// issuerListed tells whether the bank's list of acceptable CAs names an issuer of c's
// chain, as a bank matching presented certificates against that list would.
func issuerListed(c *profile.Client, cas [][]byte) bool {
	for _, der := range c.TLSCert.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			continue
		}
		for _, ca := range cas {
			if bytes.Equal(ca, cert.RawIssuer) {
				return true
			}
		}
	}
	return false
}

// maxCANames bounds how many acceptable CAs are named: some banks list every QTSP.
const maxCANames = 3

// acceptableCAs describes the CertificateRequest's list of acceptable CAs.
func acceptableCAs(req *tls.CertificateRequestInfo) string {
	n := len(req.AcceptableCAs)
	if n == 0 {
		return " (any CA: it lists none)"
	}
	var names []string
	for _, der := range req.AcceptableCAs[:min(n, maxCANames)] {
		names = append(names, dnText(der))
	}
	more := ""
	if n > maxCANames {
		more = fmt.Sprintf(" and %d more", n-maxCANames)
	}
	return fmt.Sprintf(" (acceptable CAs: %s%s)", strings.Join(names, "; "), more)
}

func dnText(der []byte) string {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdn); err != nil || len(rest) > 0 {
		return "(unreadable name)"
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return n.String()
}
