package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stetconform/stetconform/internal/profile"
)

// Bounds on honouring a bank that answers 429 or 503: past them the request's check is
// inconclusive, never failed.
const (
	// maxRetryAfter is the longest Retry-After the suite waits out for one request.
	maxRetryAfter = 30 * time.Second
	// maxAttempts is how many times one request is sent in all.
	maxAttempts = 3
	// maxRetryWait bounds the time one request spends waiting for the bank to serve it
	// again, Retry-After and the run's rate limit together.
	maxRetryWait = 45 * time.Second
	// outOfServiceAfter is how many requests in a row an endpoint must leave unserved,
	// each with 503 after every wait the bank asked, before the suite stops sending to it.
	outOfServiceAfter = 3
	// outOfServiceRetry is how often one request tries an endpoint out of service again.
	outOfServiceRetry = 5 * time.Second
)

// pacer keeps the whole run under the profile's rate_limit, with one limiter per host,
// and holds every request to a host while a Retry-After of that host runs: a bank that
// rate-limits one request would refuse the run's other requests as well.
type pacer struct {
	limit rate.Limit // 0: no rate declared, only Retry-After holds
	burst int

	// retryOut is how often one request tries an endpoint out of service again.
	retryOut time.Duration

	mu       sync.Mutex
	hosts    map[string]*hostPace
	services map[string]*service // by endpointKey
}

type hostPace struct {
	lim  *rate.Limiter // nil without a declared rate
	hold time.Time     // no request to the host leaves before this
}

// service is what the run knows of one endpoint's (host and path) availability: a bank
// whose /authorize answers 503 to every request would otherwise cost each of the run's
// PSU journeys and checks the whole of its Retry-After waits, for minutes, to learn the
// same. Past outOfServiceAfter requests in a row left unserved, the endpoint is out of
// service: a request to it is not sent (its check is inconclusive, never failed), except
// one every outOfServiceRetry, and the first answer other than 503 puts it back.
type service struct {
	unserved int       // requests in a row answered 503 after every wait
	last     string    // how the bank left the last of them unserved
	out      time.Time // when the endpoint went out of service (zero: in service)
	nextTry  time.Time // when a request may try it again
	withheld int       // requests not sent since it went out of service
}

// OutOfService is why a request was not sent: its endpoint left the requests before it
// unserved. A check that meets it is inconclusive, as with the 503 itself.
type OutOfService struct {
	Endpoint   string
	Unserved   int
	Last       string
	Since      time.Time
	RetryEvery time.Duration
}

func (e *OutOfService) Error() string {
	return fmt.Sprintf("not sent: %s answered 503 Service Unavailable to %d requests in a row (the last: %s), so the suite stopped sending to it at %s and tries it again once every %s",
		e.Endpoint, e.Unserved, e.Last, e.Since.Format("15:04:05"), e.RetryEvery)
}

func newPacer(rl *profile.RateLimit) *pacer {
	p := &pacer{hosts: map[string]*hostPace{}, services: map[string]*service{}, retryOut: outOfServiceRetry}
	if rl != nil && rl.RequestsPerSecond > 0 {
		p.limit, p.burst = rate.Limit(rl.RequestsPerSecond), max(1, int(rl.Burst))
	}
	return p
}

// pacer returns the run's pacer, made from the profile on first use.
func (e *Env) pacer() *pacer {
	e.paceOnce.Do(func() {
		var rl *profile.RateLimit
		if e.Profile != nil {
			rl = e.Profile.RateLimit
		}
		e.pace = newPacer(rl)
	})
	return e.pace
}

func (p *pacer) host(h string) *hostPace {
	h = strings.ToLower(h)
	p.mu.Lock()
	defer p.mu.Unlock()
	hp, ok := p.hosts[h]
	if !ok {
		hp = &hostPace{}
		if p.limit > 0 {
			hp.lim = rate.NewLimiter(p.limit, p.burst)
		}
		p.hosts[h] = hp
	}
	return hp
}

// wait blocks until a request to host may leave: after the host's Retry-After hold, then
// within the declared rate. It gives up when ctx ends, or at once when ctx's deadline
// comes before the request could leave.
func (p *pacer) wait(ctx context.Context, host string) error {
	hp := p.host(host)
	for {
		p.mu.Lock()
		d := time.Until(hp.hold)
		p.mu.Unlock()
		if d <= 0 {
			break
		}
		// Loop: another answer may have extended the hold meanwhile.
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting %s for the bank's Retry-After before sending: %w", d.Round(100*time.Millisecond), ctx.Err())
		case <-t.C:
		}
	}
	if hp.lim == nil {
		return nil
	}
	if err := hp.lim.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the profile's rate_limit (%g requests per second) before sending: %w", float64(p.limit), err)
	}
	return nil
}

// holdFor keeps every request to host back for d from now (a Retry-After).
func (p *pacer) holdFor(host string, d time.Duration) {
	hp := p.host(host)
	until := time.Now().Add(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(hp.hold) {
		hp.hold = until
	}
}

// admit says whether a request to endpoint may be sent: nil, unless the endpoint is out
// of service and it is not yet time for a request to try it again.
func (p *pacer) admit(endpoint string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.services[endpoint]
	if s == nil || s.out.IsZero() {
		return nil
	}
	if now := time.Now(); !now.Before(s.nextTry) {
		s.nextTry = now.Add(p.retryOut)
		return nil
	}
	s.withheld++
	return &OutOfService{Endpoint: endpoint, Unserved: s.unserved, Last: s.last, Since: s.out, RetryEvery: p.retryOut}
}

// served records how endpoint answered a request, after the suite's waits: why it was
// left unserved (a 503 the suite stopped waiting out), or "" when the bank answered.
func (p *pacer) served(endpoint, unserved string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.services[endpoint]
	if s == nil {
		s = &service{}
		p.services[endpoint] = s
	}
	if unserved == "" {
		*s = service{}
		return
	}
	s.unserved++
	s.last = unserved
	if s.out.IsZero() && s.unserved >= outOfServiceAfter {
		s.out = time.Now()
		s.nextTry = s.out.Add(p.retryOut)
	}
}

// outOfService lists the endpoints out of service at the end of a run, for its report.
func (p *pacer) outOfService() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for ep, s := range p.services {
		if !s.out.IsZero() {
			out = append(out, fmt.Sprintf("%s answered 503 Service Unavailable to %d requests in a row from %s, each after the waits the bank asked (Retry-After); the suite did not send %d requests to it, trying it again once every %s. Run again when the bank serves it.",
				ep, s.unserved, s.out.Format("15:04:05"), s.withheld, p.retryOut))
		}
	}
	slices.Sort(out)
	return out
}

// OutOfService says which of the bank's endpoints the run found out of service, and what
// it did not send to them, for the report's notices.
func (e *Env) OutOfService() []string {
	return e.pacer().outOfService()
}

// endpointKey names an endpoint: its host with the port, and its path.
func endpointKey(u *url.URL) string {
	return hostKey(u) + u.EscapedPath()
}

// sendLog is what the paced transport did with one request, for the answer's reason
// when the bank kept refusing to serve it. do puts one in the request's context.
type sendLog struct {
	attempts int
	waits    []time.Duration // the Retry-After waits honoured, in order
	lastSend time.Time       // when the last attempt left, after any wait
	stopped  string          // why the suite did not send again
}

type sendLogKey struct{}

// why says how the bank kept answering status to the request.
func (l *sendLog) why(status int) string {
	var b strings.Builder
	if l.attempts <= 1 {
		fmt.Fprintf(&b, "HTTP %d", status)
	} else {
		waits := make([]string, len(l.waits))
		for i, w := range l.waits {
			waits[i] = w.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "HTTP %d to each of %d attempts, after waiting %s as the bank asked", status, l.attempts, strings.Join(waits, ", then "))
	}
	if l.stopped != "" {
		b.WriteString("; " + l.stopped)
	}
	return b.String()
}

// paced is the outermost transport of every client of a scenario. It sends each request
// when the pacer lets it, bounds each attempt by the request timeout from the moment it
// leaves (a wait for the rate limit is no slowness of the bank, so it is outside the
// bound), and sends again, a bounded number of times, when the bank answers 429 or 503.
type paced struct {
	next    http.RoundTripper
	pace    *pacer
	timeout time.Duration
}

func (t *paced) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, host, endpoint := req.Context(), hostKey(req.URL), endpointKey(req.URL)
	if err := t.pace.admit(endpoint); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even of a request not sent
		}
		return nil, err
	}
	log, _ := ctx.Value(sendLogKey{}).(*sendLog)
	if log == nil {
		log = &sendLog{}
	}
	resp, err := t.send(req, host, log)
	switch {
	case err != nil:
	case resp.StatusCode == http.StatusServiceUnavailable:
		t.pace.served(endpoint, log.why(resp.StatusCode))
	default:
		t.pace.served(endpoint, "")
	}
	return resp, err
}

// send sends req, again while the bank answers 429 or 503 and the bounds allow.
func (t *paced) send(req *http.Request, host string, log *sendLog) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	var last *http.Response // the last busy answer, read, while the suite waits to send again
	waitStart := time.Now()
	for attempt := 1; ; attempt++ {
		send := req
		if attempt > 1 {
			send = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					log.stopped = "the request's body could not be made again: " + err.Error()
					return last, nil
				}
				send.Body = body
			}
		}
		if err := t.pace.wait(ctx, host); err != nil {
			if last != nil {
				log.stopped = "the suite stopped waiting: " + err.Error()
				return last, nil
			}
			return nil, err
		}
		log.attempts, log.lastSend = attempt, time.Now()
		resp, err := t.once(send)
		if err != nil {
			return nil, err
		}
		if !busyStatus(resp.StatusCode) {
			return resp, nil
		}
		wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		switch {
		case wait > maxRetryAfter:
			log.stopped = fmt.Sprintf("its Retry-After of %s is longer than the suite waits (%s)", wait.Round(time.Second), maxRetryAfter)
			return resp, nil
		case attempt == maxAttempts:
			return resp, nil
		case !replayable:
			log.stopped = "the request's body cannot be sent again"
			return resp, nil
		case time.Since(waitStart)+wait > maxRetryWait:
			log.stopped = fmt.Sprintf("waiting again would pass the suite's bound of %s for one request", maxRetryWait)
			return resp, nil
		}
		// Every request to the host waits, not only this one: the bank said it will not
		// serve the TPP before then.
		t.pace.holdFor(host, wait)
		log.waits = append(log.waits, wait)
		last = buffered(resp)
	}
}

// hostKey names a host with its port, so that bank.example and bank.example:443 share
// one limiter.
func hostKey(u *url.URL) string {
	if u.Port() != "" {
		return strings.ToLower(u.Host)
	}
	port := "443"
	if u.Scheme == "http" {
		port = "80"
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// once sends one attempt, bounded by the request timeout through reading the body.
func (t *paced) once(req *http.Request) (*http.Response, error) {
	if t.timeout <= 0 {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// buffered reads the head of a busy answer and closes its connection's body, so that the
// answer can still be handed back, read, if the suite stops waiting to send again.
func buffered(resp *http.Response) *http.Response {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// cancelOnClose ends an attempt's timeout context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// busy says whether the bank answered that it cannot serve now: 429 Too Many Requests or
// 503 Service Unavailable (RFC 9110 section 15.6.4), both of which may carry Retry-After.
func busy(a *answer) bool {
	return a.withheld != "" || a.err == nil && busyStatus(a.status)
}

func busyStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// retryAfter reads a Retry-After header (RFC 9110 section 10.2.3: seconds or an HTTP date);
// without a usable one, the suite waits one second.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(min(s, 1<<30)) * time.Second // no overflow into a negative wait
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return time.Second
}

// journeyBusy says why a PSU journey that stopped on a 429 or 503 page proves nothing ("":
// it did not). The form driver's requests were paced and retried like the TPP's; the
// browser driver's Chromium and a person's browser cannot be.
func (w *World) journeyBusy() string {
	o := w.outcome
	if oos := (*OutOfService)(nil); o != nil && o.Callback == nil && errors.As(w.journeyErr, &oos) {
		return fmt.Sprintf("the PSU's journey stopped before %s: %s", oos.Endpoint, w.busyWhy(&answer{withheld: oos.Error()}))
	}
	if o == nil || o.Callback != nil || !busyStatus(o.LastStatus) {
		return ""
	}
	return fmt.Sprintf("the PSU's journey stopped on %s: %s", o.LastURL,
		w.busyWhy(&answer{status: o.LastStatus, rateLimit: fmt.Sprintf("HTTP %d", o.LastStatus)}))
}
