package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
)

// testEnv is a run against a bank on this machine, paced by rl (nil: no rate declared).
func testEnv(rl *profile.RateLimit, request time.Duration) *Env {
	return &Env{
		Profile: &profile.Profile{
			Timeouts:  profile.Timeouts{Connect: time.Second, Request: request, PSUJourney: 5 * time.Second},
			RateLimit: rl,
		},
		Redactor: report.NewRedactor(),
	}
}

// arrivals records when each request reached a test bank.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
}

func (a *arrivals) add() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.times = append(a.times, time.Now())
	return len(a.times)
}

func (a *arrivals) snapshot() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.times)
}

// maxIn is the most requests that arrived within any span of length d.
func (a *arrivals) maxIn(d time.Duration) int {
	a.mu.Lock()
	ts := slices.Clone(a.times)
	a.mu.Unlock()
	slices.SortFunc(ts, func(x, y time.Time) int { return x.Compare(y) })
	most := 0
	for i := range ts {
		n := 0
		for j := i; j < len(ts) && ts[j].Sub(ts[i]) <= d; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

// A bank that rate-limits every k-th request of a window: the run's scenarios, together,
// never send more than the declared burst plus rate × window in any window, and each
// request the bank refused is served after its Retry-After.
func TestRateLimitKeepsTheRunUnderTheDeclaredRate(t *testing.T) {
	const (
		rps, burst = 10.0, 2
		k          = 5 // every 5th request of a window is refused
		window     = time.Second
		scenarios  = 6
		perWorld   = 3
	)
	var seen arrivals
	var mu sync.Mutex
	windowStart, inWindow, limited := time.Now(), 0, 0
	bank := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		seen.add()
		mu.Lock()
		if time.Since(windowStart) >= window {
			windowStart, inWindow = time.Now(), 0
		}
		inWindow++
		refuse := inWindow%k == 0
		if refuse {
			limited++
		}
		mu.Unlock()
		if refuse {
			rw.Header().Set("Retry-After", "1")
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(rw, `{"ok":true}`)
	}))
	defer bank.Close()

	env := testEnv(&profile.RateLimit{RequestsPerSecond: rps, Burst: burst}, 5*time.Second)
	var wg sync.WaitGroup
	statuses := make(chan string, scenarios*perWorld)
	for range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorld(env) // each scenario its own clients; the limiter is the run's
			for range perWorld {
				req, _ := http.NewRequest(http.MethodPost, bank.URL+"/token", strings.NewReader("grant_type=x"))
				a := w.do(context.Background(), w.client(nil), req)
				statuses <- a.String()
			}
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if !strings.HasPrefix(s, "HTTP 200") {
			t.Errorf("expected every request served after the bank's Retry-After, one answered %s", s)
		}
	}
	if limited == 0 {
		t.Fatalf("the test bank never rate-limited: nothing was tested")
	}
	for _, span := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		// A token bucket lets burst + rate × span through in a span; one more for timer
		// granularity at the edges.
		allowed := burst + int(rps*span.Seconds()) + 1
		if got := seen.maxIn(span); got > allowed {
			t.Errorf("%d requests reached the bank within %s, more than the declared rate allows (%d)", got, span, allowed)
		}
	}
	if got, want := len(seen.snapshot()), scenarios*perWorld+limited; got != want {
		t.Errorf("the bank saw %d requests, want %d (each refused one sent once more)", got, want)
	}
}

// The wait for the rate limit is not the bank's slowness: requests that wait longer than
// the request timeout for their turn still get their answer.
func TestRateLimitWaitIsNotATimeout(t *testing.T) {
	bank := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		fmt.Fprint(rw, `{}`)
	}))
	defer bank.Close()
	env := testEnv(&profile.RateLimit{RequestsPerSecond: 4, Burst: 1}, 150*time.Millisecond)
	w := newWorld(env)
	start := time.Now()
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, bank.URL+"/accounts", nil)
		if a := w.do(context.Background(), w.browser(), req); a.err != nil || a.status != 200 {
			t.Fatalf("request %d: expected HTTP 200 after waiting its turn, got %s", i, a)
		} else if a.took > 150*time.Millisecond {
			t.Errorf("request %d: took %s counts the wait for the rate limit", i, a.took)
		}
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("3 requests at 4 per second with burst 1 took %s: not paced", d)
	}
	// The bank's own slowness still counts.
	slow := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
	}))
	defer slow.Close()
	req, _ := http.NewRequest(http.MethodGet, slow.URL, nil)
	if a := w.do(context.Background(), w.browser(), req); a.err == nil {
		t.Errorf("expected a bank slower than the request timeout to time out, got %s", a)
	}
}

// A 429 is retried a bounded number of times, the body sent whole each time, and a bank
// that keeps answering 429 leaves the check inconclusive with a reason that says so.
func TestRateLimitedAnswerIsNeverAVerdict(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	retryAfter := "0"
	bank := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		rw.Header().Set("Retry-After", retryAfter)
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(rw, `{"error":"slow_down"}`)
	}))
	defer bank.Close()
	env := testEnv(nil, time.Second)

	send := func(body io.Reader) (*World, *answer) {
		mu.Lock()
		bodies = nil
		mu.Unlock()
		w := newWorld(env)
		req, _ := http.NewRequest(http.MethodPost, bank.URL+"/token", body)
		return w, w.do(context.Background(), w.client(nil), req)
	}
	t.Run("replayable body", func(t *testing.T) {
		w, a := send(strings.NewReader("code=abc"))
		if want := []string{"code=abc", "code=abc", "code=abc"}; !slices.Equal(bodies, want) {
			t.Errorf("the bank received %q, want the whole body %d times", bodies, maxAttempts)
		}
		for _, check := range []func(*answer) error{w.notAnAnswer, w.notARefusal} {
			err := check(a)
			if !errors.Is(err, godog.ErrSkip) || !strings.Contains(w.inconclusiveWhy, "the bank rate-limited the request (HTTP 429 to each of 3 attempts") ||
				!strings.Contains(w.inconclusiveWhy, "rate_limit: requests_per_second") {
				t.Errorf("expected an inconclusive check that suggests declaring rate_limit, got %v: %q", err, w.inconclusiveWhy)
			}
		}
		if n := len(w.rec.Exchanges()); n != maxAttempts {
			t.Errorf("the evidence holds %d exchanges, want every attempt (%d)", n, maxAttempts)
		}
	})
	t.Run("body that cannot be sent again", func(t *testing.T) {
		w, a := send(io.NopCloser(strings.NewReader("code=abc"))) // no GetBody
		if len(bodies) != 1 || !strings.Contains(a.rateLimit, "cannot be sent again") {
			t.Errorf("expected one attempt and why, got %d attempts: %q", len(bodies), a.rateLimit)
		}
		if err := w.notARefusal(a); !errors.Is(err, godog.ErrSkip) {
			t.Errorf("expected inconclusive, got %v", err)
		}
	})
	t.Run("Retry-After longer than the suite waits", func(t *testing.T) {
		retryAfter = "120"
		defer func() { retryAfter = "0" }()
		start := time.Now()
		_, a := send(strings.NewReader("code=abc"))
		if len(bodies) != 1 || !strings.Contains(a.rateLimit, "Retry-After of 2m0s is longer than the suite waits") || time.Since(start) > time.Second {
			t.Errorf("expected one attempt and no wait, got %d attempts in %s: %q", len(bodies), time.Since(start), a.rateLimit)
		}
	})
	t.Run("declared rate too high", func(t *testing.T) {
		w := newWorld(testEnv(&profile.RateLimit{RequestsPerSecond: 50, Burst: 50}, time.Second))
		req, _ := http.NewRequest(http.MethodGet, bank.URL+"/accounts", nil)
		a := w.do(context.Background(), w.client(nil), req)
		_ = w.notAnAnswer(a)
		if !strings.Contains(w.inconclusiveWhy, "rate_limit of 50 requests per second (burst 50) is more than the bank allows") {
			t.Errorf("expected advice to lower the declared rate, got %q", w.inconclusiveWhy)
		}
	})
}

// After a 429 with Retry-After, no request of the run reaches that host before the time
// the bank gave, and a request stopped meanwhile hands back the 429 it had.
func TestRetryAfterHoldsTheHost(t *testing.T) {
	var seen arrivals
	bank := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if seen.add() == 1 {
			rw.Header().Set("Retry-After", "1")
			rw.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer bank.Close()
	env := testEnv(nil, time.Second)
	w1, w2 := newWorld(env), newWorld(env)
	done := make(chan *answer)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, bank.URL+"/a", nil)
		done <- w1.do(context.Background(), w1.client(nil), req)
	}()
	for len(seen.snapshot()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the 429 has been read
	req, _ := http.NewRequest(http.MethodGet, bank.URL+"/b", nil)
	if a := w2.do(context.Background(), w2.browser(), req); a.status != 200 {
		t.Errorf("another scenario's request: expected HTTP 200, got %s", a)
	}
	if a := <-done; a.status != 200 {
		t.Errorf("the rate-limited request: expected HTTP 200 after its Retry-After, got %s", a)
	}
	times := seen.snapshot()
	first := times[0]
	for i, at := range times[1:] {
		if at.Sub(first) < 950*time.Millisecond {
			t.Errorf("request %d reached the bank %s after a 429 with Retry-After: 1", i+2, at.Sub(first))
		}
	}

	// A run stopped during the wait: the check gets the 429, not a transport error.
	busyBank := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Retry-After", "1")
		rw.WriteHeader(http.StatusTooManyRequests)
	}))
	defer busyBank.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	w3 := newWorld(testEnv(nil, time.Second))
	req, _ = http.NewRequest(http.MethodGet, busyBank.URL+"/c", nil)
	if a := w3.do(ctx, w3.client(nil), req); a.status != http.StatusTooManyRequests || !strings.Contains(a.rateLimit, "the suite stopped waiting") {
		t.Errorf("expected the 429 and why the suite stopped waiting, got %s (%q)", a, a.rateLimit)
	}
}

// A bank whose /authorize answers 503 to every request: after outOfServiceAfter requests
// in a row left unserved, each after its Retry-After waits, the run stops sending to that
// endpoint (its checks inconclusive, why said), keeps sending to the others, tries it
// again once every retryOut, and the first answer other than 503 puts it back.
func TestAnEndpointOutOfServiceIsNotSentTo(t *testing.T) {
	var mu sync.Mutex
	down := true
	sent := map[string]int{}
	bank := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		sent[r.URL.Path]++
		if down && r.URL.Path == "/authorize" {
			rw.Header().Set("Retry-After", "0")
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer bank.Close()
	env := testEnv(nil, time.Second)
	env.pacer().retryOut = 300 * time.Millisecond
	get := func(path string) (*World, *answer) {
		w := newWorld(env)
		req, _ := http.NewRequest(http.MethodGet, bank.URL+path, nil)
		return w, w.do(context.Background(), w.browser(), req)
	}
	count := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return sent[path]
	}

	for i := range outOfServiceAfter {
		if _, a := get("/authorize"); a.status != http.StatusServiceUnavailable || a.withheld != "" {
			t.Fatalf("request %d: expected the bank's 503, got %s", i+1, a)
		}
	}
	if n, want := count("/authorize"), outOfServiceAfter*maxAttempts; n != want {
		t.Fatalf("the bank saw %d requests, want every attempt of the first %d (%d)", n, outOfServiceAfter, want)
	}
	w, a := get("/authorize")
	if count("/authorize") != outOfServiceAfter*maxAttempts {
		t.Errorf("a request to the endpoint out of service reached the bank")
	}
	if err := w.notARefusal(a); !errors.Is(err, godog.ErrSkip) ||
		!strings.Contains(w.inconclusiveWhy, "not sent: 127.0.0.1") || !strings.Contains(w.inconclusiveWhy, "answered 503 Service Unavailable to 3 requests in a row") {
		t.Errorf("expected an inconclusive check that says why the request was not sent, got %v: %q", err, w.inconclusiveWhy)
	}
	if err := w.notAnAnswer(a); !errors.Is(err, godog.ErrSkip) {
		t.Errorf("a positive check: expected inconclusive, got %v", err)
	}
	if _, a := get("/token"); a.status != http.StatusOK {
		t.Errorf("another endpoint of the host: expected it served, got %s", a)
	}
	notes := env.OutOfService()
	if len(notes) != 1 || !strings.Contains(notes[0], "/authorize answered 503 Service Unavailable to 3 requests in a row") || !strings.Contains(notes[0], "did not send 1 requests") {
		t.Errorf("expected the report's notice to name the endpoint and what was not sent, got %q", notes)
	}

	// Back in service: the next try, after retryOut, is sent, and so is every request after.
	mu.Lock()
	down = false
	mu.Unlock()
	time.Sleep(350 * time.Millisecond)
	for i := range 2 {
		if _, a := get("/authorize"); a.status != http.StatusOK {
			t.Errorf("request %d after the bank came back: expected HTTP 200, got %s", i+1, a)
		}
	}
	if notes := env.OutOfService(); len(notes) != 0 {
		t.Errorf("expected no endpoint out of service at the end, got %q", notes)
	}
}

// Requests left unserved count only in a row: one served between them starts again.
func TestAServedRequestPutsTheEndpointBack(t *testing.T) {
	var n arrivals
	bank := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if n.add()%(maxAttempts*(outOfServiceAfter-1)+1) != 0 {
			rw.Header().Set("Retry-After", "0")
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer bank.Close()
	env := testEnv(nil, time.Second)
	for i := range 2 * outOfServiceAfter {
		w := newWorld(env)
		req, _ := http.NewRequest(http.MethodGet, bank.URL+"/authorize", nil)
		if a := w.do(context.Background(), w.browser(), req); a.withheld != "" {
			t.Fatalf("request %d was not sent, though the endpoint served one request in every %d: %s", i+1, outOfServiceAfter, a)
		}
	}
}

// busyDriver is a PSU driver whose journey stops on a bank page answering status.
type busyDriver struct{ status int }

func (d busyDriver) Drive(context.Context, psu.Journey) (*psu.Outcome, error) {
	return &psu.Outcome{LastURL: "https://bank.example/login", LastStatus: d.status},
		fmt.Errorf("%w: after the last step the journey stopped on the page", psu.ErrNoCallback)
}

// A journey that stopped on a 429 page is inconclusive, however the driver ended it.
func TestRateLimitedJourneyIsNeverAVerdict(t *testing.T) {
	env := testEnv(nil, time.Second)
	env.Profile.Endpoints.Authorize = "https://bank.example/authorize"
	env.NewPSUDriver = func(*http.Client) psu.Driver { return busyDriver{http.StatusTooManyRequests} }
	w := newWorld(env)
	c := &profile.Client{Name: "primary", ClientID: "PSDFR-ACPR-12345", RedirectURI: "https://tpp.example/cb"}
	if err := w.psuAbandons(context.Background(), c); !errors.Is(err, godog.ErrSkip) || !strings.Contains(w.inconclusiveWhy, "rate-limited") {
		t.Errorf("abandon: expected inconclusive (rate-limited), got %v: %q", err, w.inconclusiveWhy)
	}
	if err := w.journeyInconclusive(); err == nil || !strings.Contains(err.Error(), "rate_limit") {
		t.Errorf("journeyInconclusive: expected the rate limit as the reason, got %v", err)
	}
}

// outOfServiceDriver is a PSU driver whose first request was not sent: the bank's
// /authorize was out of service.
type outOfServiceDriver struct{}

func (outOfServiceDriver) Drive(context.Context, psu.Journey) (*psu.Outcome, error) {
	oos := &OutOfService{Endpoint: "bank.example:443/authorize", Unserved: 3, Last: "HTTP 503", Since: time.Now(), RetryEvery: time.Second}
	return &psu.Outcome{}, &url.Error{Op: "Get", URL: "https://bank.example/authorize", Err: oos}
}

// A journey whose first request was not sent is inconclusive, with why, never failed.
func TestJourneyToAnEndpointOutOfServiceIsNeverAVerdict(t *testing.T) {
	env := testEnv(nil, time.Second)
	env.Profile.Endpoints.Authorize = "https://bank.example/authorize"
	env.NewPSUDriver = func(*http.Client) psu.Driver { return outOfServiceDriver{} }
	c := &profile.Client{Name: "primary", ClientID: "PSDFR-ACPR-12345", RedirectURI: "https://tpp.example/cb"}
	for name, journey := range map[string]func(*World) error{
		"approve": func(w *World) error { return w.psuDecides(context.Background(), c, true) },
		"abandon": func(w *World) error { return w.psuAbandons(context.Background(), c) },
	} {
		w := newWorld(env)
		if err := journey(w); !errors.Is(err, godog.ErrSkip) || !strings.Contains(w.inconclusiveWhy, "journey stopped before bank.example:443/authorize") ||
			!strings.Contains(w.inconclusiveWhy, "not sent") {
			t.Errorf("%s: expected inconclusive (not sent), got %v: %q", name, err, w.inconclusiveWhy)
		}
		if err := w.journeyInconclusive(); err == nil || !strings.Contains(err.Error(), "not sent") {
			t.Errorf("%s: journeyInconclusive: expected the endpoint out of service as the reason, got %v", name, err)
		}
	}
}

func TestHostKey(t *testing.T) {
	for in, want := range map[string]string{
		"https://Bank.example/token":         "bank.example:443",
		"https://bank.example:443/authorize": "bank.example:443",
		"http://127.0.0.1:8443/token":        "127.0.0.1:8443",
		"http://localhost/cb":                "localhost:80",
		"https://[::1]/token":                "[::1]:443",
	} {
		u, _ := url.Parse(in)
		if got := hostKey(u); got != want {
			t.Errorf("hostKey(%s) = %s, want %s", in, got, want)
		}
	}
}
