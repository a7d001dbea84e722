package psu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mdp/qrterminal/v3"
	"golang.org/x/term"
)

// ManualDriver hands the journey to a person: it prints the authorization URL (and a QR
// code, for a banking app on a phone) and waits for the callback, either on a loopback
// listener when the redirect_uri is on this machine, or pasted by the person.
type ManualDriver struct {
	in             io.Reader
	out            io.Writer
	screen         *os.File
	listenLoopback bool

	linesOnce sync.Once
	lines     chan lineRead // the lines of in, read by one goroutine for every journey
}

type lineRead struct {
	line string
	err  error
}

// ManualOptions configure a ManualDriver.
type ManualOptions struct {
	// In is where the person pastes the callback URL or types the stop word (os.Stdin).
	In io.Reader
	// Out is where the driver talks to the person: the console, usually redacted on the way.
	Out io.Writer
	// Screen is the file Out ends up on (os.Stdout) when Out wraps it, as the runner's
	// redacting console does: a wrapper is never a terminal, the file may be. The QR code
	// is drawn only when Screen is a terminal. nil: Out itself, when it is a file.
	Screen *os.File
	// ListenLoopback receives a callback on http(s)://127.0.0.1, [::1] or localhost by
	// listening there for the duration of the journey, as well as pasted.
	ListenLoopback bool
}

// NewManual returns a manual driver configured by o.
func NewManual(o ManualOptions) *ManualDriver {
	return &ManualDriver{in: o.In, out: o.Out, screen: o.Screen, listenLoopback: o.ListenLoopback}
}

// NewManualDriver returns a manual driver reading pasted URLs from in and talking on out
// (a QR code only if out itself is a terminal file; see NewManual for a wrapped out).
// With listenLoopback, a callback on http(s)://127.0.0.1, [::1] or localhost is received
// by listening there.
func NewManualDriver(in io.Reader, out io.Writer, listenLoopback bool) *ManualDriver {
	return NewManual(ManualOptions{In: in, Out: out, ListenLoopback: listenLoopback})
}

// errNotInteractive is why a manual journey cannot run where nobody can act.
var errNotInteractive = errors.New("manual PSU driver needs a person at a terminal; it cannot run in CI (use the form or browser driver, or a loopback redirect_uri)")

// Interactive says whether a person can paste a URL: in is a terminal. A reader that is
// not a file (a pipe the caller wired itself, as a test or a GUI does) counts as one.
func (m *ManualDriver) Interactive() bool {
	if f, ok := m.in.(*os.File); ok {
		return isTerminalFD(int(f.Fd()))
	}
	return m.in != nil
}

// Drive runs the journey; see Driver.
func (m *ManualDriver) Drive(ctx context.Context, j Journey) (*Outcome, error) {
	out := &Outcome{LastURL: j.AuthorizeURL}
	if err := j.check(); err != nil {
		return out, err
	}
	cb, err := url.Parse(j.CallbackPrefix)
	if err != nil {
		return out, fmt.Errorf("callback prefix %q: %v", j.CallbackPrefix, err)
	}
	loopback := m.listenLoopback && isLoopbackWeb(cb)
	interactive := m.Interactive()
	if !loopback && !interactive {
		return out, errNotInteractive
	}
	ctx, cancel := context.WithTimeout(ctx, j.timeout())
	defer cancel()

	got := make(chan *url.URL, 1)
	var listening string
	if loopback {
		stop, addr, err := m.listen(cb, j, got)
		if err != nil && !interactive {
			return out, err
		}
		if err != nil {
			fmt.Fprintf(m.out, "Cannot wait for the redirect on this machine (%v); paste it instead.\n", err)
		} else {
			defer stop()
			listening = addr
		}
	}

	m.instruct(j, listening, interactive)
	var pasted <-chan lineRead
	if interactive {
		pasted = m.readLines()
	}
	for {
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return out, &timeoutError{fmt.Sprintf("journey timed out after %s: no redirect to %s arrived", shortDuration(j.timeout()), j.CallbackPrefix)}
			}
			return out, ctx.Err()
		case u := <-got:
			out.Callback = u
			fmt.Fprintln(m.out, "Received the redirect from the bank.")
			return out, nil
		case l, ok := <-pasted:
			if !ok || l.err != nil {
				pasted = nil // nothing more will be pasted; a listener may still answer
				if !loopback || listening == "" {
					return out, fmt.Errorf("the input ended before a callback URL was pasted: %v", lineErr(l))
				}
				continue
			}
			line := strings.TrimSpace(l.line)
			if line == "" {
				continue
			}
			if strings.EqualFold(line, stopWord) {
				out.Reported = true
				fmt.Fprintln(m.out, "Noted: the bank stopped the journey before any callback.")
				return out, fmt.Errorf("%w: the person reports that the bank stopped the journey on one of its pages", ErrNoCallback)
			}
			if !j.isCallback(line) {
				fmt.Fprintf(m.out, "That URL does not start with %s. Paste the full URL the bank sent the browser to:\n", j.CallbackPrefix)
				continue
			}
			u, err := url.Parse(line)
			if err != nil {
				fmt.Fprintf(m.out, "That is not a URL (%v). Paste the full URL the bank sent the browser to:\n", err)
				continue
			}
			out.Callback = u
			fmt.Fprintln(m.out, "Got the callback URL.")
			return out, nil
		}
	}
}

func lineErr(l lineRead) error {
	if l.err != nil {
		return l.err
	}
	return io.EOF
}

// stopWord is what a person types when the bank stopped the journey on one of its pages.
const stopWord = "stopped"

// instruct tells the person which journey this is, what to do, and where: the URL, and
// its QR code on a terminal. The callback, which holds the code, is never printed.
func (m *ManualDriver) instruct(j Journey, listening string, pasting bool) {
	what := j.Instruction
	if what == "" {
		what = "Answer the consent request."
	}
	fmt.Fprintf(m.out, "\n%s\n%s\n", rule, journeyTitle(j))
	if j.PSU != "" {
		fmt.Fprintf(m.out, "Sign in as the PSU %s.\n", j.PSU)
	}
	fmt.Fprintf(m.out, ">>> %s\n%s\n", what, rule)
	qr := ""
	if m.onTerminal() {
		qr = qrCode(j.AuthorizeURL)
	}
	if qr != "" {
		fmt.Fprintf(m.out, "Open this URL in a browser, or scan the QR code below with the phone that has the banking app:\n\n  %s\n\n%s\n", j.AuthorizeURL, qr)
	} else {
		fmt.Fprintf(m.out, "Open this URL in a browser:\n\n  %s\n\n", j.AuthorizeURL)
	}
	fmt.Fprintf(m.out, "The bank then sends the browser to %s... (nothing needs to answer there).\n", j.CallbackPrefix)
	if listening != "" {
		fmt.Fprintf(m.out, "Waiting for that redirect on %s for up to %s.\n", listening, shortDuration(j.timeout()))
	}
	if pasting {
		fmt.Fprintf(m.out, "Paste the full URL from the browser's address bar, then press Enter (up to %s);\nif the bank stops you on one of its pages instead, type %s and press Enter:\n", shortDuration(j.timeout()), stopWord)
	}
}

// rule sets a journey's heading apart from the run's progress output.
const rule = "========================================================================"

// journeyTitle is "Journey 3 of 12", "Journey 3" when the total is unknown, "Journey"
// when the number is too.
func journeyTitle(j Journey) string {
	switch {
	case j.Number > 0 && j.Total > 0:
		return fmt.Sprintf("Journey %d of %d", j.Number, j.Total)
	case j.Number > 0:
		return fmt.Sprintf("Journey %d", j.Number)
	}
	return "Journey"
}

// onTerminal says whether what the driver writes reaches a terminal: Screen, the file
// under a wrapped Out, or Out itself.
func (m *ManualDriver) onTerminal() bool {
	if m.screen != nil {
		return isTerminalFD(int(m.screen.Fd()))
	}
	return isTerminal(m.out)
}

// qrCode renders the URL as a QR code in text; "" when it does not fit in one.
func qrCode(text string) (qr string) {
	defer func() {
		if recover() != nil { // qrterminal panics on text too long for a QR code
			qr = ""
		}
	}()
	var buf bytes.Buffer
	qrterminal.GenerateHalfBlock(text, qrterminal.L, &buf)
	return buf.String()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminalFD(int(f.Fd()))
}

// isTerminalFD is term.IsTerminal; a test stands a terminal in with it.
var isTerminalFD = term.IsTerminal

// readLines starts, once per driver, the goroutine reading in: a read cannot be
// cancelled, so one reader serves every journey rather than one leaking per journey.
func (m *ManualDriver) readLines() <-chan lineRead {
	m.linesOnce.Do(func() {
		m.lines = make(chan lineRead)
		go func() {
			defer close(m.lines)
			sc := bufio.NewScanner(m.in)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				m.lines <- lineRead{line: sc.Text()}
			}
			err := sc.Err()
			if err == nil {
				err = io.EOF
			}
			m.lines <- lineRead{err: err}
		}()
	})
	return m.lines
}

// isLoopbackWeb says whether u is an http(s) URL on this machine.
func isLoopbackWeb(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// listen serves the callback's port on loopback and sends the first request under the
// callback prefix to got. It returns how to stop and where it listens.
func (m *ManualDriver) listen(cb *url.URL, j Journey, got chan<- *url.URL) (stop func(), addr string, err error) {
	port := cb.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[cb.Scheme]
	}
	hosts := []string{cb.Hostname()}
	if strings.EqualFold(cb.Hostname(), "localhost") {
		hosts = []string{"127.0.0.1", "::1"} // browsers try either for localhost
	}
	var listeners []net.Listener
	for _, h := range hosts {
		l, err := net.Listen("tcp", net.JoinHostPort(h, port))
		if err != nil {
			if len(hosts) > 1 && len(listeners) > 0 {
				continue // ::1 may not exist; 127.0.0.1 is enough
			}
			for _, l := range listeners {
				l.Close()
			}
			return nil, "", fmt.Errorf("listening for the callback on %s: %v", net.JoinHostPort(h, port), err)
		}
		listeners = append(listeners, l)
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		full := cb.Scheme + "://" + cb.Host + r.URL.RequestURI()
		if r.Method != http.MethodGet || !j.isCallback(full) {
			http.NotFound(w, r)
			return
		}
		u, err := url.Parse(full)
		if err != nil {
			http.Error(w, "not a URL", http.StatusBadRequest)
			return
		}
		select {
		case got <- u:
		default: // the first callback counts
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><title>stetconform</title><h1>Received</h1><p>The bank redirected here and stetconform received it. Go back to the terminal for what comes next. You can close this tab.</p>`)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	if cb.Scheme == "https" {
		cert, err := selfSignedLoopback()
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, "", err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for _, l := range listeners {
		go func(l net.Listener) {
			if srv.TLSConfig != nil {
				_ = srv.ServeTLS(l, "", "")
			} else {
				_ = srv.Serve(l)
			}
		}(l)
	}
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return stop, cb.Scheme + "://" + listeners[0].Addr().String(), nil
}

// selfSignedLoopback makes a certificate for an https loopback callback. No browser
// trusts it: the person clicks through the warning, or pastes the URL from the address
// bar, which shows the callback either way.
func selfSignedLoopback() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "stetconform loopback callback"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
