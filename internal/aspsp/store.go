package aspsp

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
)

// ctxKey keys the values the bank's handlers pass down to the store through fosite.
type ctxKey int

const (
	// ctxRequestingClient holds the client_id of the token request being served (already
	// authenticated), for the faults that let a code or refresh token change hands.
	ctxRequestingClient ctxKey = iota
	// ctxRevoking marks a revocation request (revoke-any-client applies to those only).
	ctxRevoking
	// ctxAuthorizeRedirect holds the redirect_uri of the authorization request being
	// served, for the faults that accept unregistered redirect URIs or unknown clients.
	ctxAuthorizeRedirect
)

// store is fosite's in-memory store with the faults that live in storage. Without faults
// every method is the memory store's own.
type store struct {
	*storage.MemoryStore
	refreshMu sync.RWMutex // see RevokeRefreshToken
	faults    faultSet
	client    func(id, redirectURI string) *fosite.DefaultClient // builds a client registration
	// codeLifetime and now set a code's expiry to the instant: fosite rounds it to the
	// second, and a TPP waiting out the declared lifetime must find the code expired.
	codeLifetime time.Duration
	now          func() time.Time
	// dynamic finds a client created through the register API (nil: none).
	dynamic func(ctx context.Context, id string) (fosite.Client, bool)
}

// CreateAuthorizeCodeSession stores a new code with its exact expiry (none under
// code-never-expires).
func (s *store) CreateAuthorizeCodeSession(ctx context.Context, signature string, req fosite.Requester) error {
	if sess := req.GetSession(); sess != nil && s.now != nil {
		exp := s.now().Add(s.codeLifetime)
		if s.faults.has(FaultCodeNeverExpires) {
			exp = s.now().Add(100 * 365 * 24 * time.Hour)
		}
		sess.SetExpiresAt(fosite.AuthorizeCode, exp)
	}
	return s.MemoryStore.CreateAuthorizeCodeSession(ctx, signature, req)
}

// GetClient looks up a registered client. Under the authorization faults, and only while
// an authorization request is served, it also knows unregistered redirect URIs and
// unknown clients.
func (s *store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.MemoryStore.GetClient(ctx, id)
	if err != nil && s.dynamic != nil {
		if dc, ok := s.dynamic(ctx, id); ok {
			c, err = dc, nil
		}
	}
	redirect, _ := ctx.Value(ctxAuthorizeRedirect).(string)
	if redirect == "" {
		return c, err
	}
	switch {
	case err != nil && s.faults.has(FaultUnknownClientAccepted) && id != "":
		return s.client(id, redirect), nil
	case err == nil && s.faults.has(FaultRedirectUnregisteredURI) && isHTTPS(redirect) &&
		!slices.Contains(c.GetRedirectURIs(), redirect):
		return s.client(id, redirect), nil
	}
	return c, err
}

// InvalidateAuthorizeCodeSession marks a code used, except under code-reusable.
func (s *store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	if s.faults.has(FaultCodeReusable) {
		return nil
	}
	// The PKCE challenge goes with the code, once it is used (see DeletePKCERequestSession).
	_ = s.MemoryStore.DeletePKCERequestSession(ctx, signature)
	return s.MemoryStore.InvalidateAuthorizeCodeSession(ctx, signature)
}

// DeletePKCERequestSession keeps the challenge: fosite discards it at the first
// verification, right or wrong, so a code whose exchange was refused (a wrong
// code_verifier, another redirect_uri) could never be redeemed. This bank keeps a code
// alive through a refused exchange, as its profile declares (code_after_refusal:
// survives); the challenge goes when the code is used.
func (s *store) DeletePKCERequestSession(context.Context, string) error { return nil }

// GetAuthorizeCodeSession returns the authorization request a code was issued for. Under
// code-any-redirect-uri it hides the redirect_uri (fosite then skips the comparison); under
// code-any-client it shows the requesting client as the one the code was issued to.
func (s *store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.MemoryStore.GetAuthorizeCodeSession(ctx, signature, session)
	if err != nil || req == nil {
		return req, err
	}
	// The memory store does not hydrate the caller's session the way SQL stores do, and
	// fosite validates the code against that session: copy the code's expiry into it, or
	// codes would never expire.
	if ds, ok := session.(*fosite.DefaultSession); ok && req.GetSession() != nil {
		ds.SetExpiresAt(fosite.AuthorizeCode, req.GetSession().GetExpiresAt(fosite.AuthorizeCode))
	}
	v := &requesterView{Requester: req}
	if s.faults.has(FaultCodeAnyRedirectURI) {
		form := cloneValues(req.GetRequestForm())
		form.Del("redirect_uri")
		v.form = form
	}
	if s.faults.has(FaultCodeAnyClient) {
		v.client = s.requestingClient(ctx)
	}
	return v.simplify(), nil
}

// GetRefreshTokenSession returns the grant a refresh token belongs to; under
// foreign-refresh-accepted (refresh) and revoke-any-client (revocation) it shows the
// requesting client as its owner.
func (s *store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	s.refreshMu.RLock()
	req, err := s.MemoryStore.GetRefreshTokenSession(ctx, signature, session)
	s.refreshMu.RUnlock()
	revoking, _ := ctx.Value(ctxRevoking).(bool)
	foreignOK := (s.faults.has(FaultForeignRefreshAccepted) || s.faults.has(FaultRefreshRefusesSecondTPP)) && !revoking || s.faults.has(FaultRevokeAnyClient) && revoking
	if err != nil || req == nil || !foreignOK {
		return req, err
	}
	return (&requesterView{Requester: req, client: s.requestingClient(ctx)}).simplify(), nil
}

// RotateRefreshToken revokes the previous refresh token and access token of a grant. Under
// old-refresh-still-valid and refresh-not-rotated the refresh token survives.
func (s *store) RotateRefreshToken(ctx context.Context, requestID string, refreshTokenSignature string) error {
	if s.faults.has(FaultOldRefreshStillValid) || s.faults.has(FaultRefreshNotRotated) {
		return s.MemoryStore.RevokeAccessToken(ctx, requestID)
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.MemoryStore.RotateRefreshToken(ctx, requestID, refreshTokenSignature)
}

// The refresh token writes of fosite's MemoryStore (v0.49.0) that revoke one change its
// refresh token map under another mutex than the one its reads hold: concurrent refreshes
// and revocations crashed the bank ("concurrent map read and map write"). refreshMu
// orders them with every read.

func (s *store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.MemoryStore.RevokeRefreshToken(ctx, requestID)
}

func (s *store) CreateRefreshTokenSession(ctx context.Context, signature, accessTokenSignature string, req fosite.Requester) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.MemoryStore.CreateRefreshTokenSession(ctx, signature, accessTokenSignature, req)
}

func (s *store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.MemoryStore.DeleteRefreshTokenSession(ctx, signature)
}

// refreshTokenKnown reports whether a refresh token was ever issued (used or not).
func (s *store) refreshTokenKnown(ctx context.Context, signature string) bool {
	s.refreshMu.RLock()
	defer s.refreshMu.RUnlock()
	_, err := s.MemoryStore.GetRefreshTokenSession(ctx, signature, nil)
	return !errors.Is(err, fosite.ErrNotFound)
}

// requestingClient returns the client of the token request being served, or nil.
func (s *store) requestingClient(ctx context.Context) fosite.Client {
	id, _ := ctx.Value(ctxRequestingClient).(string)
	if id == "" {
		return nil
	}
	c, err := s.MemoryStore.GetClient(ctx, id)
	if err != nil {
		return nil
	}
	return c
}

// requesterView is a stored request seen through a fault: another client, another form.
type requesterView struct {
	fosite.Requester
	client fosite.Client
	form   url.Values
}

func (v *requesterView) GetClient() fosite.Client {
	if v.client != nil {
		return v.client
	}
	return v.Requester.GetClient()
}

func (v *requesterView) GetRequestForm() url.Values {
	if v.form != nil {
		return v.form
	}
	return v.Requester.GetRequestForm()
}

// simplify returns the stored request itself when the view changes nothing.
func (v *requesterView) simplify() fosite.Requester {
	if v.client == nil && v.form == nil {
		return v.Requester
	}
	return v
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func isHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.Fragment == ""
}

// clockStrategy is fosite's HMAC token strategy with expiry judged by the bank's clock as
// well: fosite compares expiry with time.Now, and the bank's Config.Now lets tests (and
// people) move time forward without sleeping. Under expired-token-accepted access-token
// expiry is not checked at all.
// acceptExpiredAccess, in a request's context, has its access token validated without
// its expiry (funds-expired-token-accepted).
type acceptExpiredAccess struct{}

type clockStrategy struct {
	*oauth2.HMACSHAStrategy
	now                func() time.Time
	ignoreAccessExpiry bool
	// skipTokenHMAC accepts an access token found by its signature part without
	// verifying the rest (token-tampered-accepted).
	skipTokenHMAC bool
}

// expired reports whether exp (zero: no expiry) has passed on the bank's clock.
func (s *clockStrategy) expired(exp time.Time) bool {
	return !exp.IsZero() && s.now().After(exp)
}

func (s *clockStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if s.skipTokenHMAC {
		// The store found the token by its signature; the rest of it is not verified.
		if exp := r.GetSession().GetExpiresAt(fosite.AccessToken); s.expired(exp) || !exp.IsZero() && time.Now().After(exp) {
			return fosite.ErrTokenExpired.WithHintf("Access token expired at '%s'.", exp.UTC().Format(time.RFC3339))
		}
		return nil
	}
	if s.ignoreAccessExpiry || ctx.Value(acceptExpiredAccess{}) != nil {
		// Signature only: the store lookup by signature already proved the token was issued.
		return s.Enigma.Validate(ctx, strings.TrimPrefix(token, "ory_at_"))
	}
	if err := s.HMACSHAStrategy.ValidateAccessToken(ctx, r, token); err != nil {
		return err
	}
	if exp := r.GetSession().GetExpiresAt(fosite.AccessToken); s.expired(exp) {
		return fosite.ErrTokenExpired.WithHintf("Access token expired at '%s'.", exp.UTC().Format(time.RFC3339))
	}
	return nil
}

func (s *clockStrategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	if err := s.HMACSHAStrategy.ValidateRefreshToken(ctx, r, token); err != nil {
		return err
	}
	if exp := r.GetSession().GetExpiresAt(fosite.RefreshToken); s.expired(exp) {
		return fosite.ErrTokenExpired.WithHintf("Refresh token expired at '%s'.", exp.UTC().Format(time.RFC3339))
	}
	return nil
}

func (s *clockStrategy) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	if err := s.HMACSHAStrategy.ValidateAuthorizeCode(ctx, r, token); err != nil {
		return err
	}
	if exp := r.GetSession().GetExpiresAt(fosite.AuthorizeCode); s.expired(exp) {
		return fosite.ErrTokenExpired.WithHintf("Authorize code expired at '%s'.", exp.UTC().Format(time.RFC3339))
	}
	return nil
}
