package aspsp

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/stetconform/stetconform/internal/eidas"
)

// statusWriter remembers the status of the answer it writes.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// burnCode ends a code whose exchange was refused (Config.BurnCodes), whatever was wrong
// with the exchange: a later exchange of it, right in every other way, gets invalid_grant.
func (b *Bank) burnCode(ctx context.Context, code string) {
	_ = b.store.MemoryStore.InvalidateAuthorizeCodeSession(ctx, b.strategy.AuthorizeCodeSignature(ctx, code))
}

// serveToken is POST /token: the authorization_code and refresh_token grants, with the
// client authenticated by its QWAC (tls_client_auth).
func (b *Bank) serveToken(w http.ResponseWriter, r *http.Request) {
	if b.faults.has(FaultNoCacheControl) {
		w = &cacheHeaderStripper{ResponseWriter: w}
	}
	if r.Method == http.MethodGet && b.faults.has(FaultTokenGetServed) {
		r = getAsPost(r)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		b.writeTokenError(w, fosite.ErrInvalidRequest.WithHintf("The token endpoint accepts POST only, found %s.", r.Method), http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	if err := r.ParseForm(); err != nil {
		b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The request body is not a form of at most 64 KiB."), 0)
		return
	}
	form := r.PostForm
	ctx := context.WithValue(r.Context(), ctxRequestingClient, form.Get("client_id"))
	if b.cfg.BurnCodes && form.Get("grant_type") == "authorization_code" && form.Get("code") != "" {
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer func() {
			if sw.status >= 400 {
				b.burnCode(ctx, form.Get("code"))
			}
		}()
	}

	// Authenticate first: nothing about a grant is told to an unauthenticated client.
	if _, err := b.authenticateClient(ctx, r, form); err != nil {
		b.writeTokenError(w, err, 0)
		return
	}
	grant := form.Get("grant_type")
	switch grant {
	case "authorization_code":
		if form.Get("code") == "" {
			b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The request is missing the 'code' parameter."), 0)
			return
		}
		if b.faults.has(FaultScopeAtTokenRejected) && form.Get("scope") != "" {
			b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The code exchange must not carry a 'scope' parameter."), 0)
			return
		}
		if b.faults.has(FaultScopeRequired) && form.Get("scope") == "" {
			b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The request is missing the 'scope' parameter."), 0)
			return
		}
	case "refresh_token":
		rt := form.Get("refresh_token")
		if rt == "" {
			b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The request is missing the 'refresh_token' parameter."), 0)
			return
		}
		if b.faults.has(FaultRefreshRefusedAsClient) {
			b.writeTokenError(w, fosite.ErrInvalidClient.WithHint("Client authentication failed."), 0)
			return
		}
		if leaf := firstCert(peerCerts(r)); b.faults.has(FaultRefreshRefusesSecondTPP) && leaf != nil && eidas.OrganizationIdentifier(leaf) == eidas.OrgTPPB {
			b.writeTokenError(w, fosite.ErrInvalidClient.WithHint("The client is not allowed to refresh tokens."), 0)
			return
		}
		unknown := (b.faults.has(FaultUnknownRefresh500) || b.faults.has(FaultUnknownRefreshWrongError)) &&
			!b.store.refreshTokenKnown(ctx, b.strategy.RefreshTokenSignature(ctx, rt))
		switch {
		case unknown && b.faults.has(FaultUnknownRefresh500):
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<!doctype html><html><body><h1>500 Internal Server Error</h1><p>NullPointerException</p></body></html>\n")
			return
		case unknown:
			b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The refresh token is not recognised."), 0)
			return
		}
	case "client_credentials":
		// Only for the register API's initial access token (register.go); its client is
		// the QWAC's organization, authenticated above.
		org := ""
		if leaf := firstCert(peerCerts(r)); leaf != nil {
			org = eidas.OrganizationIdentifier(leaf)
		}
		if b.reg != nil && b.cfg.Register.BootstrapScope != "" && org != "" {
			b.issueBootstrap(w, org, form.Get("scope"))
			return
		}
		b.writeTokenError(w, fosite.ErrUnsupportedGrantType.WithHint("The grant_type \"client_credentials\" is not supported; expected authorization_code or refresh_token."), 0)
		return
	case "":
		// fosite answers invalid_request.
	default:
		if b.faults.has(FaultUnsupportedGrantError) {
			b.writeTokenError(w, fosite.ErrInvalidRequest.WithHintf("The grant_type %q is not supported.", grant), 0)
			return
		}
		b.writeTokenError(w, fosite.ErrUnsupportedGrantType.WithHintf("The grant_type %q is not supported; expected authorization_code or refresh_token.", grant), 0)
		return
	}

	ar, err := b.oauth.NewAccessRequest(ctx, r, newSession(""))
	if err != nil {
		b.writeTokenError(w, err, 0)
		return
	}
	// leaf is nil only under no-client-cert-accepted: there is no role to check then.
	leaf := firstCert(peerCerts(r))
	scopes := slices.Concat([]string(ar.GetRequestedScopes()), []string(ar.GetGrantedScopes()))
	if err := b.roleMissing(leaf, ar.GetClient().GetID(), scopes); err != nil {
		b.writeTokenError(w, err, 0)
		return
	}
	if grant == "authorization_code" && b.faults.has(FaultScopeRequiredValidCode) && form.Get("scope") == "" {
		// Everything else about the exchange is right; the code is not used up.
		b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The request is missing the 'scope' parameter."), 0)
		return
	}
	if grant == "refresh_token" && !b.faults.has(FaultRefreshLifetimeSliding) {
		// STET: the refresh token lives 90 days (or 180, RTS art. 10a) from the PSU's
		// consent; refreshing does not extend it. fosite counts each token's own lifespan.
		life := b.cfg.RefreshTokenLifetime
		if b.faults.has(FaultRefreshLifetimeShort) {
			life = life * 7 / 10
		}
		if sess, ok := ar.GetSession().(*fosite.DefaultSession); ok {
			if at, ok := sess.Extra[consentAtKey].(time.Time); ok && b.now().After(at.Add(life)) {
				b.writeTokenError(w, fosite.ErrInvalidGrant.WithHintf("The PSU's consent of %s is older than the refresh token lifetime of %s: the PSU must authenticate again.",
					at.UTC().Format(time.RFC3339), b.cfg.RefreshTokenLifetime), 0)
				return
			}
		}
	}
	if grant == "refresh_token" {
		// RFC 6749 section 6: a refresh may narrow the grant, never widen it. fosite
		// ignores the scope parameter of a refresh; the bank refuses a wider one.
		granted := ar.GetGrantedScopes()
		for _, sc := range strings.Fields(form.Get("scope")) {
			switch {
			case granted.Has(sc):
			case b.refreshMayAdd(granted, sc):
				ar.GrantScope(sc)
			case b.faults.has(FaultRefreshWiderScopeInvalidGrant):
				b.writeTokenError(w, fosite.ErrInvalidGrant.WithHintf("The scope %q was not granted by the PSU.", sc), 0)
				return
			default:
				b.writeTokenError(w, fosite.ErrInvalidScope.WithHintf("The scope %q was not granted by the PSU; a refresh cannot widen the grant.", sc), 0)
				return
			}
		}
		// STET: extended_transaction_history comes with the first token only.
		if req, ok := ar.(*fosite.AccessRequest); ok {
			req.GrantedScope = slices.DeleteFunc(slices.Clone(req.GrantedScope), func(s string) bool {
				return s == ScopeExtendedTransactionHistory
			})
		}
	}
	// Bind the tokens to the certificate presented now (RFC 8705 section 3). The session
	// is cloned so that the stored code's or previous grant's session is never written.
	sess, ok := ar.GetSession().Clone().(*fosite.DefaultSession)
	if !ok {
		b.writeTokenError(w, fosite.ErrServerError.WithHint("Unexpected session type."), 0)
		return
	}
	if sess.Extra == nil {
		sess.Extra = map[string]interface{}{}
	}
	sess.Extra[thumbprintKey] = thumbprint(leaf)
	// fosite rounds the tokens' expiry to the nearest second: up to 500 ms late for the
	// access token, and expires_in below is rounded up again (a TPP waiting out expires_in
	// waited up to a second past the real expiry); up to 500 ms early for the refresh
	// token (a 2 s refresh token was refused before the lifetime the bank declares,
	// REFRESH-13). Each expiry is its lifetime from now, exactly, on fosite's clock (the
	// real one), which its own checks of the tokens read.
	now := time.Now().UTC()
	sess.SetExpiresAt(fosite.AccessToken, now.Add(b.cfg.AccessTokenLifetime))
	sess.SetExpiresAt(fosite.RefreshToken, now.Add(b.cfg.RefreshTokenLifetime))
	ar.SetSession(sess)

	resp, err := b.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		b.writeTokenError(w, err, 0)
		return
	}
	if b.revokeIfSuperseded(ctx, ar.GetID()) {
		b.writeTokenError(w, fosite.ErrInvalidGrant.WithHint("A later consent of the PSU to this TPP for this role has superseded this grant."), 0)
		return
	}
	b.stats.add(sess.Subject, func(c *Counts) {
		if grant == "authorization_code" {
			c.CodeExchanges++
		} else {
			c.Refreshes++
		}
	})
	// fosite says "bearer"; STET (and BPCE's table) spell it "Bearer".
	resp.SetTokenType("Bearer")
	m := resp.ToMap() // the response's own map: edits below change what is written
	// fosite truncates expires_in, so a 1 s lifetime would be announced as 0. Announce the
	// time left, rounded up, as a whole number: the lifetime itself, when it is whole seconds.
	if exp := ar.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		m["expires_in"] = int64(math.Ceil(exp.Sub(b.now()).Seconds()))
	}
	if b.faults.has(FaultTokenTypeMAC) {
		resp.SetTokenType("MAC")
	}
	if b.faults.has(FaultExpiresInMissing) {
		delete(m, "expires_in")
	}
	if b.faults.has(FaultExpiresInZero) {
		m["expires_in"] = 0
	}
	if b.faults.has(FaultAISPCBPIICombinedSilently) {
		delete(m, "scope")
	}
	if b.faults.has(FaultRefreshNotRotated) && grant == "refresh_token" {
		delete(m, "refresh_token")
	}
	rt, _ := m["refresh_token"].(string)
	b.recordSecrets(resp.GetAccessToken(), rt)
	if grant == "authorization_code" && b.faults.has(FaultTokensSuperseded) {
		b.supersede(ctx, sess.Subject, ar.GetClient().GetID(), ar.GetID())
	}
	b.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

// authenticateClient is fosite's ClientAuthenticationStrategy: RFC 8705 tls_client_auth
// with STET's rule that client_id is the QWAC's organizationIdentifier.
func (b *Bank) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	id := form.Get("client_id")
	chain := peerCerts(r)
	if len(chain) == 0 {
		if b.faults.has(FaultNoClientCertAccepted) && id != "" {
			return b.registeredClient(ctx, id)
		}
		return nil, fosite.ErrInvalidClient.WithHint("tls_client_auth: the TLS connection carries no client certificate.")
	}
	if err := b.verifyClientCert(chain); err != nil {
		return nil, fosite.ErrInvalidClient.WithHintf("tls_client_auth: the client certificate is not accepted: %v", err)
	}
	if id == "" {
		return nil, fosite.ErrInvalidClient.WithHint("tls_client_auth: the request is missing the 'client_id' parameter.")
	}
	org := eidas.OrganizationIdentifier(chain[0])
	grant := form.Get("grant_type")
	unchecked := (grant == "authorization_code" && b.faults.has(FaultClientIDUncheckedAtExchange)) ||
		(grant == "refresh_token" && b.faults.has(FaultClientIDUncheckedAtRefresh))
	if !b.clientOfOrg(id, org) && !unchecked {
		return nil, fosite.ErrInvalidClient.WithHintf(
			"tls_client_auth: client_id %q is not the certificate's organizationIdentifier %q.", id, org)
	}
	return b.registeredClient(ctx, id)
}

// registeredClient returns a registered client, or invalid_client.
func (b *Bank) registeredClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := b.store.GetClient(ctx, id)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHintf("The client %q is not registered.", id)
	}
	return c, nil
}

// verifyClientCert checks the chain against the trusted CA on the bank's clock. Under
// expired-cert-accepted the chain is checked at a moment inside the leaf's validity instead,
// so that only the expiry is ignored.
func (b *Bank) verifyClientCert(chain []*x509.Certificate) error {
	now := b.now()
	err := b.verifyChain(chain, now)
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) && b.faults.has(FaultUntrustedCertAccepted) {
		return nil // the issuer is not checked; the organizationIdentifier still is
	}
	if err == nil || !b.faults.has(FaultExpiredCertAccepted) {
		return err
	}
	at := now
	if leaf := chain[0]; at.After(leaf.NotAfter) {
		at = leaf.NotAfter
	} else if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore
	}
	return b.verifyChain(chain, at)
}

// verifiedChains remembers the client certificate chains that verified, so that the bank
// verifies a TPP's chain (signatures up to the test CA) once, not at each of its requests:
// a run sends a hundred, over a handful of certificates.
type verifiedChains struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]validity
}

// validity is when a chain that verified once verifies again: while every certificate
// presented, and the CA, is within its validity period, the same chain still leads to the
// CA; at any other time the chain is verified again.
type validity struct{ from, until time.Time }

// verifyChain is eidas.VerifyClient against the bank's roots at time at, remembering the
// chains that verified.
func (b *Bank) verifyChain(chain []*x509.Certificate, at time.Time) error {
	h := sha256.New()
	win := validity{b.cfg.PKI.CA.Cert.NotBefore, b.cfg.PKI.CA.Cert.NotAfter}
	for _, c := range chain {
		if c == nil {
			return eidas.VerifyClient(chain, b.roots, at)
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
		if c.NotBefore.After(win.from) {
			win.from = c.NotBefore
		}
		if c.NotAfter.Before(win.until) {
			win.until = c.NotAfter
		}
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	v := &b.verified
	v.mu.Lock()
	w, ok := v.m[key]
	v.mu.Unlock()
	if ok && !at.Before(w.from) && !at.After(w.until) {
		return nil
	}
	err := eidas.VerifyClient(chain, b.roots, at)
	if err == nil && !at.Before(win.from) && !at.After(win.until) {
		v.mu.Lock()
		if v.m == nil || len(v.m) >= 256 {
			v.m = map[[sha256.Size]byte]validity{}
		}
		v.m[key] = win
		v.mu.Unlock()
	}
	return err
}

// tokenError is the RFC 6749 section 5.2 error body.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeTokenError writes an RFC 6749 section 5.2 error. status 0 means the error's own
// (400, or 401 for invalid_client).
func (b *Bank) writeTokenError(w http.ResponseWriter, err error, status int) {
	e := fosite.ErrorToRFC6749Error(err)
	body := tokenError{Error: e.ErrorField, Description: e.GetDescription()}
	if status == 0 {
		status = e.CodeField
	}
	if b.faults.has(FaultNonRFCError) {
		body.Error = "bad_request"
	}
	if b.faults.has(FaultErrorsAs200) {
		status = http.StatusOK
	}
	js, mErr := json.Marshal(body)
	if mErr != nil {
		js = []byte(`{"error":"server_error"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	if b.faults.has(FaultTokenErrorsTextPlain) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(js)
}

// cacheHeaderStripper removes the no-cache headers before they are sent (no-cache-control).
type cacheHeaderStripper struct {
	http.ResponseWriter
	wrote bool
}

func (s *cacheHeaderStripper) WriteHeader(code int) {
	if !s.wrote {
		s.wrote = true
		s.Header().Del("Cache-Control")
		s.Header().Del("Pragma")
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *cacheHeaderStripper) Write(p []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(p)
}

// firstCert returns the leaf of a chain, or nil.
func firstCert(chain []*x509.Certificate) *x509.Certificate {
	if len(chain) == 0 {
		return nil
	}
	return chain[0]
}

// getAsPost turns GET /token?params into the POST of the same form (token-get-served).
func getAsPost(r *http.Request) *http.Request {
	q := r.URL.RawQuery
	r = r.Clone(r.Context())
	r.Method, r.URL.RawQuery = http.MethodPost, ""
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(q)), int64(len(q))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}
