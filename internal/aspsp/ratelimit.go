package aspsp

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
)

// RateLimit is Config.RateLimit: at most Requests requests per client in each Window. A
// client is a TPP by its certificate's organizationIdentifier, or, without a certificate
// (the PSU's browser), the remote IP address. The zero value is no limit.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// ParseRateLimit reads "N/DURATION", such as "10/1s" or "100/1m"; "" and "off" are no limit.
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return RateLimit{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return RateLimit{}, fmt.Errorf("rate limit %q: expected N/DURATION, such as 10/1s", s)
	}
	reqs, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil {
		return RateLimit{}, fmt.Errorf("rate limit %q: %q is not a number of requests", s, n)
	}
	win, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil {
		return RateLimit{}, fmt.Errorf("rate limit %q: %q is not a duration such as 1s or 500ms", s, d)
	}
	l := RateLimit{Requests: reqs, Window: win}
	return l, l.check()
}

// String is the N/DURATION form ("off" for no limit).
func (l RateLimit) String() string {
	if l.off() {
		return "off"
	}
	return strconv.Itoa(l.Requests) + "/" + l.Window.String()
}

func (l RateLimit) off() bool { return l.Requests == 0 && l.Window == 0 }

func (l RateLimit) check() error {
	if l.off() {
		return nil
	}
	if l.Requests < 1 || l.Window <= 0 {
		return fmt.Errorf("aspsp: rate limit %d/%s: expected 1 or more requests in a positive window", l.Requests, l.Window)
	}
	return nil
}

// clientWindow is a client's current window: it opens at the client's first request after
// the previous one closed, so that each client gets its full N per window.
type clientWindow struct {
	start time.Time
	count int
}

// clientRateLimiter applies Config.RateLimit on the bank's clock, so that tests move time
// forward instead of sleeping.
type clientRateLimiter struct {
	limit RateLimit
	now   func() time.Time
	mu    sync.Mutex
	m     map[string]*clientWindow
}

// rateClientsLimit bounds the windows kept; closed ones are dropped beyond it.
const rateClientsLimit = 10_000

func newClientRateLimiter(l RateLimit, now func() time.Time) *clientRateLimiter {
	return &clientRateLimiter{limit: l, now: now, m: map[string]*clientWindow{}}
}

// allow counts a request of key; when it is over the limit, it returns false and how long
// until the window closes.
func (l *clientRateLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.m[key]
	if w == nil || !now.Before(w.start.Add(l.limit.Window)) {
		if w == nil && len(l.m) >= rateClientsLimit {
			for k, o := range l.m {
				if !now.Before(o.start.Add(l.limit.Window)) {
					delete(l.m, k)
				}
			}
		}
		w = &clientWindow{start: now}
		l.m[key] = w
	}
	w.count++
	if w.count <= l.limit.Requests {
		return true, 0
	}
	return false, w.start.Add(l.limit.Window).Sub(now)
}

// rateLimited puts Config.RateLimit in front of every path but PathStats, as a gateway
// would: it answers before the bank reads the request.
func (b *Bank) rateLimited(h http.Handler) http.Handler {
	if b.cfg.RateLimit.off() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathStats {
			h.ServeHTTP(w, r)
			return
		}
		ok, wait := b.rate.allow(rateClient(r))
		if ok {
			h.ServeHTTP(w, r)
			return
		}
		b.stats.add("", func(c *Counts) { c.RateLimited++ })
		// Whole seconds (RFC 9110 delay-seconds), rounded up so that a client waiting
		// that long finds the window closed.
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		msg := fmt.Sprintf("Too many requests: at most %d per %s per client.", b.cfg.RateLimit.Requests, b.cfg.RateLimit.Window)
		if r.URL.Path == PathAuthorize {
			// The PSU's browser reads a page, not JSON.
			renderPage(w, http.StatusTooManyRequests, errorPage, pageData{Error: msg + " Please try again shortly."})
			return
		}
		writeJSON(w, http.StatusTooManyRequests, stetError{Status: http.StatusTooManyRequests, Error: "too_many_requests", Message: msg})
	})
}

// rateClient keys a request by its client: the certificate's organizationIdentifier, else
// the remote IP (not the port: a browser opens several connections).
func rateClient(r *http.Request) string {
	if leaf := firstCert(peerCerts(r)); leaf != nil {
		if org := eidas.OrganizationIdentifier(leaf); org != "" {
			return "org " + org
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip " + host
}
