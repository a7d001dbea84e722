package aspsp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/stetconform/stetconform/internal/eidas"
)

// The register API, BPCE style: RFC 7591 dynamic client registration and RFC 7592 client
// management with tls_client_auth. A TPP registers over mutual TLS with its QWAC, the
// request signed with its QSealC (STET Part I 3.5, as the resources); the client_id issued
// stays bound to the QWAC's organizationIdentifier (STET's "indirect matching"), and only
// the redirect URIs registered are honoured at /authorize.

// PathRegister is the registration endpoint (BPCE: /stet/setting/v1/register); a
// client's configuration endpoint is PathRegister + "/" + client_id.
const PathRegister = "/stet/setting/v1/register"

// registerBodyLimit bounds a registration request.
const registerBodyLimit = 16 << 10

// RegisterConfig configures the register API.
type RegisterConfig struct {
	// Enabled serves the register API. Off, PathRegister is not served (unless a register
	// fault is named: it implies the API).
	Enabled bool
	// EffectiveAfter is how long after a registration or an update it takes effect at
	// /authorize and /token, on the bank's clock (BPCE: the next working day). Zero:
	// at once. A deletion always takes effect at once.
	EffectiveAfter time.Duration
	// BootstrapScope, when set, makes a registration (POST) need an initial access token
	// (RFC 7591 section 3): one the token endpoint issues for the client credentials grant
	// with this scope to the same organizationIdentifier, over its QWAC (BPCE style).
	BootstrapScope string
}

// bootstrapLifetime is how long an initial access token for the register API lives.
const bootstrapLifetime = 5 * time.Minute

// breaksRegister reports whether a register fault is in force: it implies the register
// API, which it would otherwise break unseen.
func (fs faultSet) breaksRegister() bool {
	return fs.has(FaultRegisteredRedirectIgnored) || fs.has(FaultRegisteredClientUnbound) || fs.has(FaultRegisteredUnknownAtAuthorize) ||
		fs.has(FaultRegisterUpdateIgnored) || fs.has(FaultRegisterDeleteIgnored) ||
		fs.has(FaultRegisterWithoutQWAC) || fs.has(FaultRegisterTokenNotChecked)
}

// clientMetadata is the RFC 7591 client metadata the bank reads and answers.
type clientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	RegistrationAccessToken string   `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string   `json:"registration_client_uri,omitempty"`
}

// clientVersion is a client's redirect URIs from a moment on.
type clientVersion struct {
	from         time.Time
	redirectURIs []string
}

// dynClient is a client created through the register API.
type dynClient struct {
	id        string
	org       string   // the QWAC's organizationIdentifier at registration
	tokenHash [32]byte // SHA-256 of the registration access token
	meta      clientMetadata
	versions  []clientVersion // in order of from
}

// registry holds the registered clients.
type registry struct {
	mu        sync.Mutex
	clients   map[string]*dynClient
	bootstrap map[[32]byte]bootstrapToken // initial access tokens, by SHA-256
}

// bootstrapToken is an initial access token: the organization it was issued to, and until
// when it opens the register API.
type bootstrapToken struct {
	org     string
	expires time.Time
}

// issueBootstrap answers a client credentials grant for the register API's bootstrap
// scope: an initial access token for org's next registrations. Any other scope is
// refused: this bank issues no other client credentials token.
func (b *Bank) issueBootstrap(w http.ResponseWriter, org, scope string) {
	if b.reg == nil || b.cfg.Register.BootstrapScope == "" || scope != b.cfg.Register.BootstrapScope {
		b.writeTokenError(w, fosite.ErrInvalidScope.WithHintf("The client credentials grant serves the register API's scope only, not %q.", scope), 0)
		return
	}
	tok := randomString(32)
	b.reg.mu.Lock()
	b.reg.bootstrap[sha256.Sum256([]byte(tok))] = bootstrapToken{org: org, expires: b.now().Add(bootstrapLifetime)}
	b.reg.mu.Unlock()
	b.recordSecrets(tok)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int(bootstrapLifetime.Seconds()), "scope": scope})
}

// bootstrapOK says whether r carries an initial access token issued to org and alive.
func (b *Bank) bootstrapOK(r *http.Request, org string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	b.reg.mu.Lock()
	defer b.reg.mu.Unlock()
	t, ok := b.reg.bootstrap[sha256.Sum256([]byte(tok))]
	return ok && t.org == org && b.now().Before(t.expires)
}

// current returns a client's redirect URIs in force at now, and false when the client is
// unknown or not yet in force.
func (c *dynClient) current(now time.Time) ([]string, bool) {
	var uris []string
	found := false
	for _, v := range c.versions {
		if !v.from.After(now) {
			uris, found = v.redirectURIs, true
		}
	}
	return uris, found
}

// lookupDynamic returns a registered client as fosite sees it, once in force. During an
// authorization request under registered-redirect-uris-ignored it also knows the
// request's redirect_uri.
func (b *Bank) lookupDynamic(ctx context.Context, id string) (fosite.Client, bool) {
	if b.reg == nil {
		return nil, false
	}
	b.reg.mu.Lock()
	c, ok := b.reg.clients[id]
	var uris []string
	if ok {
		uris, ok = c.current(b.now())
		uris = slices.Clone(uris)
	}
	b.reg.mu.Unlock()
	if !ok {
		return nil, false
	}
	if _, authorizing := ctx.Value(ctxAuthorizeRedirect).(string); authorizing && b.faults.has(FaultRegisteredUnknownAtAuthorize) {
		return nil, false
	}
	fc := b.newClient(id, "")
	fc.RedirectURIs = uris
	if redirect, _ := ctx.Value(ctxAuthorizeRedirect).(string); redirect != "" && isHTTPS(redirect) &&
		b.faults.has(FaultRegisteredRedirectIgnored) && !slices.Contains(uris, redirect) {
		fc.RedirectURIs = append(fc.RedirectURIs, redirect)
	}
	return fc, true
}

// clientOfOrg reports whether client_id id may be used over a QWAC of org: the
// organizationIdentifier itself (direct matching), or a client registered by that
// organization (indirect matching, REG-02).
func (b *Bank) clientOfOrg(id, org string) bool {
	if id == org {
		return true
	}
	if b.reg == nil {
		return false
	}
	b.reg.mu.Lock()
	defer b.reg.mu.Unlock()
	c, ok := b.reg.clients[id]
	return ok && (c.org == org || b.faults.has(FaultRegisteredClientUnbound))
}

// registerError is an RFC 7591 section 3.2.2 error.
func (b *Bank) registerError(w http.ResponseWriter, status int, code, description string) {
	if status == http.StatusUnauthorized {
		v := `Bearer realm="` + realm + `"`
		if code == "invalid_token" {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	if code == "" {
		code = "invalid_request" // a bare challenge: no credentials were sent (RFC 6750 3.1)
	}
	writeJSON(w, status, tokenError{Error: code, Description: description})
}

// serveRegister is POST /register (RFC 7591) and GET/PUT/DELETE /register/{client_id}
// (RFC 7592).
func (b *Bank) serveRegister(w http.ResponseWriter, r *http.Request) {
	echoRequestID(w, r)
	id := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, PathRegister), "/")
	body, err := io.ReadAll(io.LimitReader(r.Body, registerBodyLimit+1))
	if err != nil || len(body) > registerBodyLimit {
		b.registerError(w, http.StatusBadRequest, "invalid_request", "The request body cannot be read, or is larger than 16 KiB.")
		return
	}
	switch {
	case id == "" && r.Method == http.MethodPost:
	case id != "" && (r.Method == http.MethodGet || r.Method == http.MethodPut || r.Method == http.MethodDelete):
	default:
		w.Header().Set("Allow", "POST on "+PathRegister+"; GET, PUT, DELETE on "+PathRegister+"/{client_id}")
		b.registerError(w, http.StatusMethodNotAllowed, "invalid_request", "Unsupported method "+r.Method+" on "+r.URL.Path+".")
		return
	}
	// The TPP: its QWAC, unless a management request under register-management-without-qwac.
	chain := peerCerts(r)
	withoutQWAC := len(chain) == 0 && id != "" && b.faults.has(FaultRegisterWithoutQWAC)
	if len(chain) == 0 && !withoutQWAC {
		b.registerError(w, http.StatusUnauthorized, "invalid_client", "tls_client_auth: the TLS connection carries no client certificate (QWAC).")
		return
	}
	if !withoutQWAC {
		if err := b.verifyClientCert(chain); err != nil {
			b.registerError(w, http.StatusUnauthorized, "invalid_client", "tls_client_auth: the client certificate is not accepted: "+err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if why := b.checkSignature(r); why != "" {
			b.registerError(w, http.StatusUnauthorized, "invalid_client", why)
			return
		}
	}
	org := ""
	if !withoutQWAC {
		org = eidas.OrganizationIdentifier(chain[0])
	}
	if id == "" {
		if b.cfg.Register.BootstrapScope != "" && !b.bootstrapOK(r, org) {
			b.registerError(w, http.StatusUnauthorized, "invalid_token", "A registration needs an initial access token (Authorization: Bearer) from the client credentials grant with scope "+b.cfg.Register.BootstrapScope+", issued to this TPP.")
			return
		}
		b.createClient(w, r, org, body)
		return
	}
	c, ok := b.managedClient(w, r, id, org, withoutQWAC)
	if !ok {
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, b.publicMeta(c))
	case http.MethodPut:
		b.updateClient(w, c, body)
	case http.MethodDelete:
		b.reg.mu.Lock()
		if !b.faults.has(FaultRegisterDeleteIgnored) {
			delete(b.reg.clients, c.id)
		}
		b.reg.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}

// isLoopbackHTTP says whether raw is an http URI on a loopback IP literal: a TPP tried out
// on one machine (the manual driver's callbacks), as RFC 8252 section 7.3 allows.
func isLoopbackHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Fragment != "" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// readMetadata decodes and checks client metadata: https redirect URIs without fragment,
// tls_client_auth, the code flow.
func readMetadata(body []byte) (clientMetadata, string, string) {
	var m clientMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		return m, "invalid_client_metadata", "The body is not RFC 7591 client metadata in JSON: " + err.Error() + "."
	}
	if len(m.RedirectURIs) == 0 {
		return m, "invalid_redirect_uri", "redirect_uris is required: the callbacks the bank may send the PSU back to."
	}
	for _, u := range m.RedirectURIs {
		if !isHTTPS(u) && !isLoopbackHTTP(u) {
			return m, "invalid_redirect_uri", "Every redirect URI must be an absolute https URI (http only on a loopback IP, RFC 8252 section 7.3) without fragment; found " + u + "."
		}
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = "tls_client_auth"
	}
	if m.TokenEndpointAuthMethod != "tls_client_auth" {
		return m, "invalid_client_metadata", "token_endpoint_auth_method must be tls_client_auth (RFC 8705), found " + m.TokenEndpointAuthMethod + "."
	}
	if len(m.ResponseTypes) == 0 {
		m.ResponseTypes = []string{"code"}
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	m.ClientID, m.ClientIDIssuedAt, m.RegistrationAccessToken, m.RegistrationClientURI = "", 0, "", ""
	return m, "", ""
}

func (b *Bank) createClient(w http.ResponseWriter, r *http.Request, org string, body []byte) {
	m, code, why := readMetadata(body)
	if code != "" {
		b.registerError(w, http.StatusBadRequest, code, why)
		return
	}
	tok := randomString(32)
	c := &dynClient{id: org + "-" + strings.ToUpper(randomString(6)), org: org, tokenHash: sha256.Sum256([]byte(tok))}
	now := b.now()
	m.ClientID, m.ClientIDIssuedAt = c.id, now.Unix()
	c.meta = m
	c.versions = []clientVersion{{from: now.Add(b.cfg.Register.EffectiveAfter), redirectURIs: slices.Clone(m.RedirectURIs)}}
	b.reg.mu.Lock()
	b.reg.clients[c.id] = c
	b.reg.mu.Unlock()
	b.recordSecrets(tok)
	out := b.publicMeta(c)
	out.RegistrationAccessToken = tok
	w.Header().Set("Location", out.RegistrationClientURI)
	writeJSON(w, http.StatusCreated, out)
}

// managedClient finds the client of a management request and checks that the caller is
// its TPP, with its registration access token (RFC 7592 section 2). It answers the
// refusal itself.
func (b *Bank) managedClient(w http.ResponseWriter, r *http.Request, id, org string, withoutQWAC bool) (*dynClient, bool) {
	b.reg.mu.Lock()
	c, ok := b.reg.clients[id]
	var cp dynClient
	if ok {
		cp = *c
	}
	b.reg.mu.Unlock()
	tok, hasToken := b.bearerToken(r)
	tokenChecked := !b.faults.has(FaultRegisterTokenNotChecked)
	switch {
	case tokenChecked && (!hasToken || tok == ""):
		b.registerError(w, http.StatusUnauthorized, "", "The registration access token is required (Authorization: Bearer).")
		return nil, false
	case !ok:
		// RFC 7592 section 2.1: an unknown client is answered as an invalid token.
		b.registerError(w, http.StatusUnauthorized, "invalid_token", "The registration access token is not valid for this client.")
		return nil, false
	case tokenChecked && subtle.ConstantTimeCompare(cp.tokenHash[:], sha256Bytes(tok)) != 1:
		b.registerError(w, http.StatusUnauthorized, "invalid_token", "The registration access token is not valid for this client.")
		return nil, false
	case !withoutQWAC && cp.org != org:
		b.registerError(w, http.StatusForbidden, "invalid_client", "The client "+id+" was registered by another TPP than "+org+".")
		return nil, false
	}
	return c, true
}

func sha256Bytes(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func (b *Bank) updateClient(w http.ResponseWriter, c *dynClient, body []byte) {
	var idOnly struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal(body, &idOnly)
	if idOnly.ClientID != "" && idOnly.ClientID != c.id {
		b.registerError(w, http.StatusBadRequest, "invalid_client_metadata", "client_id in the body is not the one of the client URI.")
		return
	}
	m, code, why := readMetadata(body)
	if code != "" {
		b.registerError(w, http.StatusBadRequest, code, why)
		return
	}
	if b.faults.has(FaultRegisterUpdateIgnored) {
		// The answer shows the update; the client stays as it was.
		out := b.publicMeta(c)
		out.RedirectURIs = m.RedirectURIs
		writeJSON(w, http.StatusOK, out)
		return
	}
	b.reg.mu.Lock()
	m.ClientID, m.ClientIDIssuedAt = c.id, c.meta.ClientIDIssuedAt
	c.meta = m
	c.versions = append(c.versions, clientVersion{from: b.now().Add(b.cfg.Register.EffectiveAfter), redirectURIs: slices.Clone(m.RedirectURIs)})
	b.reg.mu.Unlock()
	writeJSON(w, http.StatusOK, b.publicMeta(c))
}

// publicMeta is what the bank answers about a client (without its access token).
func (b *Bank) publicMeta(c *dynClient) clientMetadata {
	b.reg.mu.Lock()
	m := c.meta
	b.reg.mu.Unlock()
	m.RedirectURIs = slices.Clone(m.RedirectURIs)
	m.RegistrationClientURI = b.URL() + PathRegister + "/" + c.id
	return m
}
