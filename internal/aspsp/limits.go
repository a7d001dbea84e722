package aspsp

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
)

// Rate limiting (rate-limited): at most rateLimit requests per client per second on each
// of the token endpoint and the accounts resource; beyond, 429 with Retry-After.
const (
	rateLimit        = 3
	rateWindow       = time.Second
	rateRetryAfterS  = 1
	rateAnonymousKey = "no client certificate"
)

// rateLimiter counts requests per endpoint and client in fixed windows of the bank's clock.
type rateLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	window time.Time
	counts map[string]int
}

// allow counts one request under key and reports whether it is within the limit.
func (l *rateLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.now().Truncate(rateWindow); !w.Equal(l.window) {
		l.window, l.counts = w, map[string]int{}
	}
	l.counts[key]++
	return l.counts[key] <= rateLimit
}

// limited wraps a handler with the rate limit of the rate-limited fault, keyed by the
// path and the client certificate's organizationIdentifier, as a gateway in front of the
// bank would (it answers before the bank reads the request).
func (b *Bank) limited(h http.HandlerFunc) http.HandlerFunc {
	if !b.faults.has(FaultRateLimited) {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		key := rateAnonymousKey
		if leaf := firstCert(peerCerts(r)); leaf != nil {
			key = eidas.OrganizationIdentifier(leaf)
		}
		if !b.limits.allow(r.URL.Path + " " + key) {
			w.Header().Set("Retry-After", strconv.Itoa(rateRetryAfterS))
			writeJSON(w, http.StatusTooManyRequests, stetError{Status: http.StatusTooManyRequests,
				Message: "Too many requests: at most " + strconv.Itoa(rateLimit) + " per second per client."})
			return
		}
		h(w, r)
	}
}

// supersedeGrace is how old a token pair must be for a new consent to supersede it
// (tokens-superseded-never-expire): a pair is not revoked while its scenario, just
// started, still uses it.
const supersedeGrace = 500 * time.Millisecond

// tokenPair is a grant (fosite request ID) issued to a PSU and a TPP.
type tokenPair struct {
	requestID string
	issued    time.Time
}

// tokenPairs keeps the grants of each PSU and TPP (tokens-superseded-never-expire).
type tokenPairs struct {
	mu sync.Mutex
	m  map[string][]tokenPair
}

// supersede records the grant requestID of psu and client, and revokes their earlier
// grants older than supersedeGrace: one token pair per PSU and TPP, as BPCE does.
func (b *Bank) supersede(ctx context.Context, psu, client, requestID string) {
	key := psu + "\x00" + client
	now := b.now()
	b.pairs.mu.Lock()
	var keep []tokenPair
	var revoke []string
	for _, p := range b.pairs.m[key] {
		if now.Sub(p.issued) > supersedeGrace {
			revoke = append(revoke, p.requestID)
		} else {
			keep = append(keep, p)
		}
	}
	b.pairs.m[key] = append(keep, tokenPair{requestID: requestID, issued: now})
	b.pairs.mu.Unlock()
	for _, id := range revoke {
		_ = b.store.MemoryStore.RevokeAccessToken(ctx, id)
		_ = b.store.RevokeRefreshToken(ctx, id)
	}
}
