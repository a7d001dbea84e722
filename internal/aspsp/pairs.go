package aspsp

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/ory/fosite"
)

// Values of Config.TokenPairs.
const (
	// TokenPairsMany keeps every consent's token pair alive until it expires or is revoked.
	TokenPairsMany = "many"
	// TokenPairsOnePerPSU keeps one token pair per PSU, TPP and role, as BPCE does: a new
	// consent revokes the access and refresh tokens of the earlier ones, and a code of an
	// earlier consent that was not yet exchanged no longer yields tokens.
	TokenPairsOnePerPSU = "one-per-psu"
)

// consentPairs keeps, under one-per-psu, the grants (fosite request IDs, which a grant's
// code, tokens and refreshes share) of each PSU, TPP and role, and those superseded.
type consentPairs struct {
	mu         sync.Mutex
	grants     map[string][]string // psu, client, role -> live grants (one, but for races)
	superseded map[string]bool     // request ID -> superseded by a later consent
}

// role is the PSD2 role a grant's scopes serve: extended_transaction_history is AISP's, so
// it does not make a second pair; another role's scope (a CBPII or PISP one) does.
func role(scopes fosite.Arguments) string {
	var rs []string
	for _, s := range scopes {
		if s == ScopeExtendedTransactionHistory {
			s = ScopeAISP
		}
		if !slices.Contains(rs, s) {
			rs = append(rs, s)
		}
	}
	slices.Sort(rs)
	return strings.Join(rs, " ")
}

// supersedeConsent records the grant requestID of a new consent and, under one-per-psu,
// revokes the earlier grants of the same PSU, TPP and role. The superseded mark comes
// before the revocation, so that a code exchange or refresh racing with it either finds
// the mark (revokeIfSuperseded) or has stored its tokens before they are revoked here.
func (b *Bank) supersedeConsent(ctx context.Context, psu, client string, scopes fosite.Arguments, requestID string) {
	if b.cfg.TokenPairs != TokenPairsOnePerPSU {
		return
	}
	key := psu + "\x00" + client + "\x00" + role(scopes)
	cp := b.consents
	cp.mu.Lock()
	earlier := cp.grants[key]
	for _, id := range earlier {
		cp.superseded[id] = true
	}
	cp.grants[key] = []string{requestID}
	cp.mu.Unlock()
	for _, id := range earlier {
		revokeGrant(ctx, b.store, id)
	}
}

// revokeIfSuperseded revokes the tokens just issued for a grant a later consent has
// superseded, and reports whether it did: they must not be handed out.
func (b *Bank) revokeIfSuperseded(ctx context.Context, requestID string) bool {
	if b.cfg.TokenPairs != TokenPairsOnePerPSU {
		return false
	}
	b.consents.mu.Lock()
	gone := b.consents.superseded[requestID]
	b.consents.mu.Unlock()
	if gone {
		revokeGrant(ctx, b.store, requestID)
	}
	return gone
}

// revokeGrant revokes a grant's access and refresh tokens, as revocation does. The refresh
// token is marked inactive, not deleted, so that presenting it is invalid_grant (fosite's
// reuse detection) rather than an unknown token.
func revokeGrant(ctx context.Context, s *store, requestID string) {
	_ = s.MemoryStore.RevokeAccessToken(ctx, requestID)
	_ = s.RevokeRefreshToken(ctx, requestID)
}
