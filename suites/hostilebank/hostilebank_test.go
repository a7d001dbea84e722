package hostilebank

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/profile"
)

// probe is one request to the hostile bank and what it must show on the wire.
type probe struct {
	path   string // aspsp.PathToken, PathAuthorize or PathAccounts
	status int    // expected status; 0: the request itself must fail
	check  func(t *testing.T, resp *http.Response, err error)
}

func statusOnly(path string, status int, emptyBody bool) probe {
	return probe{path: path, status: status, check: func(t *testing.T, resp *http.Response, _ error) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if emptyBody != (len(body) == 0) {
			t.Errorf("expected an empty body: %v; got %d bytes", emptyBody, len(body))
		}
	}}
}

func failsWith(path string, words ...string) probe {
	return probe{path: path, check: func(t *testing.T, _ *http.Response, err error) {
		for _, w := range words {
			if strings.Contains(err.Error(), w) {
				return
			}
		}
		t.Errorf("expected an error saying one of %q; got %v", words, err)
	}}
}

func jsonBody(check func(t *testing.T, body []byte)) func(*testing.T, *http.Response, error) {
	return func(t *testing.T, resp *http.Response, _ error) {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			t.Fatalf("reading the body: %v", err)
		}
		check(t, body)
	}
}

var probes = map[Behaviour]probe{
	TokenHangs: failsWith(aspsp.PathToken, "Client.Timeout exceeded while awaiting headers"),
	TokenTrickles: {path: aspsp.PathToken, status: 200, check: func(t *testing.T, resp *http.Response, _ error) {
		body, err := io.ReadAll(resp.Body)
		if err == nil || len(body) > 2 {
			t.Errorf("expected the body to trickle past the client's timeout; got %d bytes, error %v", len(body), err)
		}
	}},
	TokenHugeBody: {path: aspsp.PathToken, status: 200, check: func(t *testing.T, resp *http.Response, _ error) {
		if resp.ContentLength != hugeBodySize {
			t.Errorf("expected Content-Length %d; got %d", hugeBodySize, resp.ContentLength)
		}
		if n, err := io.CopyN(io.Discard, resp.Body, 2<<20); err != nil {
			t.Errorf("expected at least 2 MiB of body; got %d bytes: %v", n, err)
		}
	}},
	TokenEndlessBody: {path: aspsp.PathToken, status: 200, check: func(t *testing.T, resp *http.Response, _ error) {
		if n, err := io.CopyN(io.Discard, resp.Body, 2<<20); err != nil || resp.ContentLength != -1 {
			t.Errorf("expected a chunked body of at least 2 MiB; got %d bytes (Content-Length %d): %v", n, resp.ContentLength, err)
		}
	}},
	TokenMalformedJSON: {path: aspsp.PathToken, status: 200, check: jsonBody(func(t *testing.T, body []byte) {
		if json.Valid(body) {
			t.Errorf("expected malformed JSON; got %s", body)
		}
	})},
	TokenWrongTypes: {path: aspsp.PathToken, status: 200, check: jsonBody(func(t *testing.T, body []byte) {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["access_token"].(float64); !ok {
			t.Errorf("expected access_token as a number; got %T", m["access_token"])
		}
		if _, ok := m["expires_in"].(string); !ok {
			t.Errorf("expected expires_in as a string; got %T", m["expires_in"])
		}
	})},
	TokenHTMLPage: {path: aspsp.PathToken, status: 200, check: func(t *testing.T, resp *http.Response, _ error) {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("expected an HTML page; Content-Type is %q", ct)
		}
	}},
	TokenReset: {path: aspsp.PathToken, status: 200, check: func(t *testing.T, resp *http.Response, _ error) {
		_, err := io.ReadAll(resp.Body)
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Errorf("expected the body to end in a connection reset; got %v", err)
		}
	}},
	Token500Body:     statusOnly(aspsp.PathToken, 500, false),
	Token500Empty:    statusOnly(aspsp.PathToken, 500, true),
	Token503Body:     statusOnly(aspsp.PathToken, 503, false),
	Token503Empty:    statusOnly(aspsp.PathToken, 503, true),
	Accounts500Body:  statusOnly(aspsp.PathAccounts, 500, false),
	Accounts500Empty: statusOnly(aspsp.PathAccounts, 500, true),
	Accounts503Body:  statusOnly(aspsp.PathAccounts, 503, false),
	Accounts503Empty: statusOnly(aspsp.PathAccounts, 503, true),
	AuthorizeRedirectLoop: {path: aspsp.PathAuthorize, status: 302, check: func(t *testing.T, resp *http.Response, _ error) {
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Path != aspsp.PathAuthorize || loc.Query().Get("hop") != "1" {
			t.Errorf("expected a redirect to the authorization endpoint itself; got %q", resp.Header.Get("Location"))
		}
	}},
	AuthorizeForeignRedirect: {path: aspsp.PathAuthorize, status: 302, check: func(t *testing.T, resp *http.Response, _ error) {
		if loc, err := url.Parse(resp.Header.Get("Location")); err != nil || loc.Host != ForeignHost {
			t.Errorf("expected a redirect to %s; got %q", ForeignHost, resp.Header.Get("Location"))
		}
	}},
	TLSClientCAMismatch: failsWith(aspsp.PathToken, "tls: unknown certificate authority", "tls: bad certificate"),
	TLSClosedOnAccept:   failsWith(aspsp.PathToken, "EOF", "connection reset"),
	TLSUntrustedServer:  failsWith(aspsp.PathToken, "certificate signed by unknown authority"),
	TLSOldVersionsOnly:  failsWith(aspsp.PathToken, "protocol version"),
}

// TestBehaviours checks on the wire, with a plain client as the primary TPP, that each
// behaviour does what it says, and that the profile it writes loads.
func TestBehaviours(t *testing.T) {
	for _, b := range Behaviours() {
		t.Run(string(b), func(t *testing.T) {
			pr, ok := probes[b]
			if !ok {
				t.Fatalf("no probe for %s", b)
			}
			path, stop, err := Start(t.TempDir(), b)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			p, err := profile.Load(path)
			if err != nil {
				t.Fatalf("the profile does not load: %v", err)
			}
			if p.Timeouts.Request != RequestTimeoutOf(b) || p.Timeouts.Connect != ConnectTimeout || p.Timeouts.PSUJourney != PSUJourneyTimeout {
				t.Errorf("expected the declared timeouts; got %+v", p.Timeouts)
			}
			tr := &http.Transport{TLSClientConfig: p.TLSConfig(p.Clients.Primary)}
			defer tr.CloseIdleConnections()
			// The client gives up after 500 ms only where that is what is shown (a hang, a
			// trickle); elsewhere 30 s, which only a loaded machine comes near.
			timeout := 30 * time.Second
			if b == TokenHangs || b == TokenTrickles {
				timeout = 500 * time.Millisecond
			}
			hc := &http.Client{
				Transport:     tr,
				Timeout:       timeout,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			base := strings.TrimSuffix(p.Endpoints.Token, aspsp.PathToken)
			method, body := http.MethodGet, io.Reader(nil)
			if pr.path == aspsp.PathToken {
				method, body = http.MethodPost, strings.NewReader("grant_type=authorization_code&code=x")
			}
			req, err := http.NewRequest(method, base+pr.path+"?client_id=PSDFR-ACPR-12345", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := hc.Do(req)
			switch {
			case pr.status == 0 && err == nil:
				resp.Body.Close()
				t.Fatalf("expected the request to fail; got HTTP %d", resp.StatusCode)
			case pr.status != 0 && err != nil:
				t.Fatalf("expected HTTP %d; the request failed: %v", pr.status, err)
			case pr.status != 0 && resp.StatusCode != pr.status:
				resp.Body.Close()
				t.Fatalf("expected HTTP %d; got %d", pr.status, resp.StatusCode)
			}
			if resp != nil {
				defer resp.Body.Close()
			}
			pr.check(t, resp, err)
		})
	}
}

// TestStopEndsHangingRequests shows that stop does not wait for a client that never
// gives up: the hanging handler ends with the bank.
func TestStopEndsHangingRequests(t *testing.T) {
	path, stop, err := Start(t.TempDir(), TokenHangs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(path)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: p.TLSConfig(p.Clients.Primary)}
	defer tr.CloseIdleConnections()
	errc := make(chan error, 1)
	go func() {
		// No client timeout: only the bank's stop can end this request.
		resp, err := (&http.Client{Transport: tr}).Post(p.Endpoints.Token, "application/x-www-form-urlencoded", strings.NewReader("grant_type=x"))
		if err == nil {
			resp.Body.Close()
			err = errors.New("the hanging endpoint answered HTTP " + resp.Status)
		}
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the request reach the handler
	stop()
	if err := <-errc; err == nil {
		t.Fatal("expected the request to fail when the bank stopped")
	}
	stop() // a second stop is harmless
}

func TestStartRefusesAnUnknownBehaviour(t *testing.T) {
	_, _, err := Start(t.TempDir(), "no-such-behaviour")
	if !errors.Is(err, ErrUnknownBehaviour) || !strings.Contains(err.Error(), "no-such-behaviour") {
		t.Fatalf("expected ErrUnknownBehaviour naming the behaviour; got %v", err)
	}
}
