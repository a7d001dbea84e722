// Package aspsp is the embedded reference bank: a STET PSD2 ASPSP's OAuth2 endpoints
// (STET Part I section 3.4) on github.com/ory/fosite, with a PSU login and consent page,
// tls_client_auth (client_id must equal the QWAC's organizationIdentifier), PSD2 roles
// checked at the token step, certificate-bound Bearer tokens on a STET accounts resource,
// and named faults that each break one behaviour on purpose so that the suite can prove it
// detects them.
//
// fosite does the RFC 6749 core (one-time codes bound to client and redirect_uri, refresh
// rotation with reuse detection, token storage and introspection); this package adds what
// STET adds and what fosite lacks (mutual-TLS client authentication, RFC 8705 token binding,
// the RFC 6750 resource side).
package aspsp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"

	"github.com/stetconform/stetconform/internal/eidas"
)

// Paths the bank serves.
const (
	PathAuthorize = "/stet/psd2/oauth/authorize"
	PathToken     = "/stet/psd2/oauth/token"
	PathRevoke    = "/stet/psd2/oauth/revoke"
	PathAccounts  = "/stet/psd2/v1.4.2/accounts"
)

// The AISP scopes the bank grants (they need the PSP_AI role; cbpii.go has the CBPII one).
const (
	ScopeAISP                       = "aisp"
	ScopeExtendedTransactionHistory = "extended_transaction_history"
)

// Defaults of Config.
const (
	DefaultAddr                 = "127.0.0.1:0"
	DefaultAccessTokenLifetime  = time.Hour
	DefaultRefreshTokenLifetime = 90 * 24 * time.Hour
	DefaultCodeLifetime         = 5 * time.Minute
	DefaultPSU                  = "psu1"
	// LoopbackPSUPassword is DefaultPSU's password of `stetconform bank` on loopback when
	// $REFERENCE_PSU_PASSWORD is not set: the Makefile's default, which
	// fixtures/banks/reference.yaml receives from `make conformance`.
	LoopbackPSUPassword = "loopback-reference-psu"
)

const (
	// formLimit bounds every request body the bank reads.
	formLimit = 64 << 10
	// secretsLimit bounds IssuedSecrets so that a long-running bank does not grow forever.
	secretsLimit = 100_000
	// thumbprintKey is where the session keeps the certificate a token is bound to
	// (RFC 8705 cnf "x5t#S256": base64url SHA-256 of the DER certificate).
	thumbprintKey = "x5t#S256"
)

// Config configures a Bank. Zero values get the documented defaults.
type Config struct {
	Addr                 string            // listen address, default "127.0.0.1:0"
	PKI                  *eidas.TestPKI    // server certificate, and CA trusted for client certificates (required)
	Clients              []Registration    // registered TPPs; default DefaultClients()
	AccessTokenLifetime  time.Duration     // default 1h
	RefreshTokenLifetime time.Duration     // default 90 days
	CodeLifetime         time.Duration     // default 5m
	PSUs                 map[string]string // psu_id -> password; default {"psu1": random}
	Faults               []string          // named faults in force (see Faults)
	// RequireSignature makes the accounts resource refuse, with 401, a request that is not
	// signed (STET Part I 3.5) with the QSealC of the TPP whose QWAC it comes over: the
	// PKI's TPP seals are the registered ones.
	RequireSignature bool
	// RefuseBadCertificatesInTLS ends the TLS handshake when a client certificate is
	// presented that the bank cannot accept (expired, untrusted issuer), as most bank
	// front ends do; without it they are refused in HTTP with invalid_client. A connection
	// without a certificate is served either way (the PSU's browser has none).
	RefuseBadCertificatesInTLS bool
	// Now is the bank's clock (default time.Now): client certificate validity, journey
	// expiry, and code and token expiry, which is also checked on the real clock (fosite's).
	// A test moves it forward instead of sleeping.
	Now func() time.Time

	// PSUCount makes a pool of PSUs psu1..psuN (pool.go): those PSUs does not list get
	// psu1's password. 0 or 1: PSUs alone, as before.
	PSUCount int
	// TokenPairs is TokenPairsMany (default: every consent keeps its own token pair) or
	// TokenPairsOnePerPSU (BPCE: a new consent revokes the earlier pair of the same PSU,
	// TPP and role; pairs.go).
	TokenPairs string
	// OneSessionPerPSU refuses a PSU's login while another journey of the same PSU is
	// under way (pool.go).
	OneSessionPerPSU bool
	// BurnCodes makes a refused code exchange the code's end, as some banks do (the
	// profile then says options.code_after_refusal: burned): whatever the exchange got
	// wrong, the code it named no longer works (token.go).
	BurnCodes bool
	// RateLimit answers 429 with Retry-After beyond RateLimit.Requests per client in each
	// RateLimit.Window (ratelimit.go); the zero value is no limit.
	RateLimit RateLimit
	// ServeStats serves the counters of Stats as JSON on GET PathStats (stats.go).
	ServeStats bool
	// CBPII configures the funds-confirmation role (cbpii.go).
	CBPII CBPIIConfig
	// Register configures the register API (register.go); off by default.
	Register RegisterConfig
}

// Registration is a TPP registered with the bank.
type Registration struct {
	ClientID     string
	RedirectURIs []string
}

// DefaultClients returns the four test TPPs of eidas.NewTestPKI, each with one redirect URI.
func DefaultClients() []Registration {
	return []Registration{
		{ClientID: eidas.OrgTPPA, RedirectURIs: []string{"https://tpp-a.example/callback"}},
		{ClientID: eidas.OrgTPPB, RedirectURIs: []string{"https://tpp-b.example/callback"}},
		{ClientID: eidas.OrgTPPNoRole, RedirectURIs: []string{"https://tpp-norole.example/callback"}},
		{ClientID: eidas.OrgTPPNoIC, RedirectURIs: []string{"https://tpp-noic.example/callback"}},
	}
}

// Bank is the reference ASPSP. It is safe for concurrent use.
type Bank struct {
	cfg      Config
	faults   faultSet
	now      func() time.Time
	roots    *x509.CertPool
	store    *store
	strategy *clockStrategy
	oauth    fosite.OAuth2Provider
	handler  http.Handler
	psus     map[string]string
	jour     *journeys
	limits   *rateLimiter                 // rate-limited
	seals    map[string]*x509.Certificate // registered QSealCs by organizationIdentifier
	pairs    *tokenPairs                  // tokens-superseded-never-expire
	consents *consentPairs                // Config.TokenPairs one-per-psu
	rate     *clientRateLimiter           // Config.RateLimit
	stats    *counters
	reg      *registry // clients of the register API (nil: not served)
	verified verifiedChains

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	secrets  []string
	serveErr chan error
}

// New builds a bank from cfg. It fails on a missing PKI or an unknown fault name.
func New(cfg Config) (*Bank, error) {
	if cfg.PKI == nil || cfg.PKI.CA == nil || cfg.PKI.Server == nil {
		return nil, errors.New("aspsp: Config.PKI must hold a CA and a server certificate, found none")
	}
	fs, err := parseFaults(cfg.Faults)
	if err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Clients == nil {
		cfg.Clients = DefaultClients()
	}
	if cfg.AccessTokenLifetime <= 0 {
		cfg.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if cfg.RefreshTokenLifetime <= 0 {
		cfg.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	if cfg.CodeLifetime <= 0 {
		cfg.CodeLifetime = DefaultCodeLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	psus, err := psuPool(cfg.PSUs, cfg.PSUCount)
	if err != nil {
		return nil, err
	}
	switch cfg.TokenPairs {
	case "":
		cfg.TokenPairs = TokenPairsMany
	case TokenPairsMany, TokenPairsOnePerPSU:
	default:
		return nil, fmt.Errorf("aspsp: Config.TokenPairs %q: expected %q or %q", cfg.TokenPairs, TokenPairsMany, TokenPairsOnePerPSU)
	}
	if err := cfg.RateLimit.check(); err != nil {
		return nil, err
	}

	b := &Bank{cfg: cfg, faults: fs, now: cfg.Now, psus: psus, stats: newCounters()}
	b.consents = &consentPairs{grants: map[string][]string{}, superseded: map[string]bool{}}
	b.rate = newClientRateLimiter(cfg.RateLimit, b.now)
	b.roots = x509.NewCertPool()
	b.roots.AddCert(cfg.PKI.CA.Cert)
	b.jour = newJourneys(b.now)
	b.limits = &rateLimiter{now: b.now, counts: map[string]int{}}
	b.pairs = &tokenPairs{m: map[string][]tokenPair{}}
	b.seals = map[string]*x509.Certificate{}
	for _, kp := range []*eidas.KeyPair{cfg.PKI.TPPASeal, cfg.PKI.TPPBSeal, cfg.PKI.TPPNoRoleSeal, cfg.PKI.TPPNoICSeal} {
		if kp != nil {
			b.seals[eidas.OrganizationIdentifier(kp.Cert)] = kp.Cert
		}
	}

	if cfg.Register.Enabled || fs.breaksRegister() {
		b.reg = &registry{clients: map[string]*dynClient{}, bootstrap: map[[32]byte]bootstrapToken{}}
	}
	mem := storage.NewMemoryStore()
	b.store = &store{MemoryStore: mem, faults: fs, client: b.newClient, codeLifetime: cfg.CodeLifetime, now: cfg.Now, dynamic: b.lookupDynamic}
	for _, reg := range cfg.Clients {
		if reg.ClientID == "" {
			return nil, errors.New("aspsp: a client registration has an empty ClientID")
		}
		c := b.newClient(reg.ClientID, "")
		c.RedirectURIs = slices.Clone(reg.RedirectURIs)
		if fs.has(FaultRoleNotCheckedRedirect) && reg.ClientID == eidas.OrgTPPNoRole {
			// Registered with another callback than the one its profile entry names.
			c.RedirectURIs = []string{"https://tpp-norole.example/registered-elsewhere"}
		}
		mem.Clients[reg.ClientID] = c
	}

	secret := make([]byte, 32) // fosite's HMAC strategy wants at least 32 bytes
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("aspsp: generating the token secret: %w", err)
	}
	fcfg := &fosite.Config{
		AccessTokenLifespan:   cfg.AccessTokenLifetime,
		RefreshTokenLifespan:  cfg.RefreshTokenLifetime,
		AuthorizeCodeLifespan: cfg.CodeLifetime,
		GlobalSecret:          secret,
		// STET scopes are aisp etc., never offline_access: issue refresh tokens for all.
		RefreshTokenScopes:           []string{},
		ScopeStrategy:                fosite.ExactScopeStrategy,
		ClientAuthenticationStrategy: b.authenticateClient,
	}
	if fs.has(FaultNoRefreshToken) {
		// Refresh tokens only for a scope nobody is granted: none are issued.
		fcfg.RefreshTokenScopes = []string{"offline_access"}
	}
	b.strategy = &clockStrategy{
		HMACSHAStrategy:    compose.NewOAuth2HMACStrategy(fcfg),
		now:                b.now,
		ignoreAccessExpiry: fs.has(FaultExpiredTokenAccepted) || fs.has(FaultTokensSuperseded),
		skipTokenHMAC:      fs.has(FaultTokenTamperedAccepted),
	}
	factories := []compose.Factory{
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	}
	if !fs.has(FaultPKCEIgnored) {
		// PKCE (RFC 7636) when the TPP sends a challenge; S256 only.
		factories = append(factories, compose.OAuth2PKCEFactory)
	}
	if fs.has(FaultResponseTypeToken) {
		factories = append(factories, compose.OAuth2AuthorizeImplicitFactory)
	}
	b.oauth = compose.Compose(fcfg, b.store, b.strategy, factories...)

	mux := http.NewServeMux()
	mux.HandleFunc(PathAuthorize, b.serveAuthorize)
	mux.HandleFunc(PathToken, b.limited(b.serveToken))
	mux.HandleFunc(PathRevoke, b.serveRevoke)
	mux.HandleFunc(PathAccounts, b.limited(b.serveAccounts))
	mux.HandleFunc(PathFundsConfirmations, b.limited(b.serveFundsConfirmations))
	if b.reg != nil {
		mux.HandleFunc(PathRegister, b.serveRegister)
		mux.HandleFunc(PathRegister+"/", b.serveRegister)
	}
	if cfg.ServeStats {
		mux.HandleFunc(PathStats, b.serveStats)
	}
	b.handler = b.rateLimited(mux)
	return b, nil
}

// newClient builds a client registration as fosite sees it.
func (b *Bank) newClient(id, redirectURI string) *fosite.DefaultClient {
	c := &fosite.DefaultClient{
		ID:            id,
		ResponseTypes: []string{"code"},
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		Scopes:        b.clientScopes(),
	}
	if redirectURI != "" {
		c.RedirectURIs = []string{redirectURI}
	}
	if b.faults.has(FaultResponseTypeToken) {
		c.ResponseTypes = append(c.ResponseTypes, "token")
		c.GrantTypes = append(c.GrantTypes, "implicit")
	}
	return c
}

// Handler returns the bank's HTTP handler. Client certificates are read from r.TLS, so it
// must be served over TLS that requests (and does not verify) client certificates.
func (b *Bank) Handler() http.Handler { return b.handler }

// TLSConfig returns the server TLS configuration: TLS 1.2 or later, the PKI's server
// certificate, and client certificates requested but not verified at the handshake (the
// handlers verify them, to answer invalid_client in HTTP, and the PSU's browser has none).
func (b *Bank) TLSConfig() *tls.Config {
	min := uint16(tls.VersionTLS12) // STET Part I section 3.2
	var suites []uint16
	switch {
	case b.faults.has(FaultTLS11Accepted):
		min = tls.VersionTLS10
	case b.faults.has(FaultTLS11UnusableSuites):
		// TLS 1.0 and 1.1 are allowed, but only AEAD suites (TLS 1.2 only) are offered:
		// a TLS 1.1 handshake finds no shared suite and ends in handshake_failure, as with
		// a bank that offers TLS 1.1 with DHE suites to a client that has none.
		min = tls.VersionTLS10
		suites = []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		}
	}
	conf := &tls.Config{
		MinVersion:   min,
		CipherSuites: suites,
		Certificates: []tls.Certificate{b.cfg.PKI.Server.TLSCertificate()},
		ClientAuth:   tls.RequestClientCert,
		// Classic key exchanges only: the hybrid post-quantum X25519MLKEM768, Go's first
		// choice, cost a whole run about 0.01 s more CPU, on the handshakes' server side
		// (BenchmarkEmbeddedRun: 0.234 -> 0.22 s a run); STET asks for TLS 1.2 or above.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
	}
	if b.cfg.RefuseBadCertificatesInTLS {
		conf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return nil // the PSU's browser, or a TPP the token endpoint refuses in HTTP
			}
			chain := make([]*x509.Certificate, 0, len(raw))
			for _, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				chain = append(chain, c)
			}
			return b.verifyClientCert(chain)
		}
	}
	return conf
}

// Start listens on Config.Addr and serves TLS in a goroutine.
func (b *Bank) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return errors.New("aspsp: bank already started")
	}
	ln, err := net.Listen("tcp", b.cfg.Addr)
	if err != nil {
		return fmt.Errorf("aspsp: listening on %s: %w", b.cfg.Addr, err)
	}
	b.ln = ln
	b.srv = &http.Server{
		Handler:           b.handler,
		TLSConfig:         b.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// Browsers and probes open and drop TLS connections; the handshake errors are noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	serveErr := make(chan error, 1)
	b.serveErr = serveErr
	srv := b.srv
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	return nil
}

// URL returns the bank's base URL (https://127.0.0.1:PORT), or "" before Start.
func (b *Bank) URL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return ""
	}
	return "https://" + b.ln.Addr().String()
}

// Close stops the server and closes its connections.
func (b *Bank) Close() error {
	b.mu.Lock()
	srv, serveErr := b.srv, b.serveErr
	b.srv, b.serveErr = nil, nil
	b.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("aspsp: serving: %w", err)
	}
	return nil
}

// PSUPassword returns the password of a PSU ("" for an unknown PSU).
func (b *Bank) PSUPassword(psuID string) string { return b.psus[psuID] }

// IssuedSecrets returns every authorization code, access token and refresh token the bank
// has sent, so that tests can prove none leaks into a report.
func (b *Bank) IssuedSecrets() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.secrets)
}

func (b *Bank) recordSecrets(ss ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range ss {
		if s == "" {
			continue
		}
		if len(b.secrets) >= secretsLimit {
			b.secrets = b.secrets[1:]
		}
		b.secrets = append(b.secrets, s)
	}
}

// ActiveFaults returns the names of the faults in force, sorted.
func (b *Bank) ActiveFaults() []string {
	out := make([]string, 0, len(b.faults))
	for n := range b.faults {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// peerCerts returns the client certificate chain of the request (nil without one).
func peerCerts(r *http.Request) []*x509.Certificate {
	if r.TLS == nil {
		return nil
	}
	return r.TLS.PeerCertificates
}

// thumbprint is RFC 8705's x5t#S256 of a certificate.
func thumbprint(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newSession is a fresh fosite session with its maps made, so that fosite's lazy
// initialisation never writes to a session other requests read.
func newSession(psuID string) *fosite.DefaultSession {
	return &fosite.DefaultSession{
		Subject:   psuID,
		Username:  psuID,
		ExpiresAt: map[fosite.TokenType]time.Time{},
		Extra:     map[string]interface{}{},
	}
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic("aspsp: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}
