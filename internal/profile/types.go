// Package profile is the bank profile: where a bank (ASPSP) is, how to trust it, which TPP
// clients the suite acts as, how the PSU is driven, and the options where STET banks
// legitimately differ. See shared/bank-profile.example.yaml for the shape.
package profile

import (
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/stetconform/stetconform/internal/psu"
)

// Profile is one ASPSP as the suite sees it. Load fills and validates it.
type Profile struct {
	Name string `yaml:"name"`
	// Roles are the TPP roles whose flows the bank offers and the suite checks: aisp,
	// cbpii (default [aisp]).
	Roles     []string          `yaml:"roles,omitempty"`
	Endpoints Endpoints         `yaml:"endpoints"`
	TLS       TLS               `yaml:"tls"`
	Timeouts  Timeouts          `yaml:"timeouts"`
	Headers   map[string]string `yaml:"headers"`
	Clients   Clients           `yaml:"clients"`
	Scopes    Scopes            `yaml:"scopes"`
	PSU       PSU               `yaml:"psu"`
	Options   Options           `yaml:"options"`
	Signing   *Signing          `yaml:"signing,omitempty"`
	RateLimit *RateLimit        `yaml:"rate_limit,omitempty"`
	// Register, optional, is the bank's register API (RFC 7591/7592, BPCE style). Without
	// it the registration checks (REG-01..03) are not applicable.
	Register *Register `yaml:"register,omitempty"`
	Waivers  []Waiver  `yaml:"waivers,omitempty"` // see waivers.go

	// Path is the file the profile was loaded from ("" when built in memory).
	Path string `yaml:"-"`
	// RootCAs holds the trust anchors read from TLS.CA (nil: the system pool).
	RootCAs *x509.CertPool `yaml:"-"`
	// Secrets lists every secret value the profile holds (PSU credentials, key
	// passwords), so that reports can redact them.
	Secrets []string `yaml:"-"`

	lines map[string]int // dotted field path -> line, for Where

}

// Endpoints are the bank's URLs.
type Endpoints struct {
	Authorize string `yaml:"authorize"`
	Token     string `yaml:"token"`
	Accounts  string `yaml:"accounts"`         // a Bearer-protected AISP resource
	Revoke    string `yaml:"revoke,omitempty"` // optional
	// FundsConfirmations is the CBPII resource (STET 1.4.2 POST /funds-confirmations),
	// required with the cbpii role.
	FundsConfirmations string `yaml:"funds_confirmations,omitempty"`
}

// TLS says how to trust the bank's server certificate.
type TLS struct {
	CA         string `yaml:"ca"`          // PEM bundle of trust anchors; empty: system roots
	MinVersion string `yaml:"min_version"` // "1.2" (default) or "1.3"
	// InsecureSkipVerify disables server certificate verification. Reported loudly.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty"`
}

// Timeouts bound every network interaction. Zero values get defaults at load.
type Timeouts struct {
	Connect    time.Duration `yaml:"connect"`     // default 5s
	Request    time.Duration `yaml:"request"`     // default 15s
	PSUJourney time.Duration `yaml:"psu_journey"` // default 2m
}

// RateLimit is the request rate the run never exceeds, per host of the bank, over the whole
// run: a bank that rate-limits the TPP otherwise answers 429 to a run's burst of requests.
// It paces the suite's own HTTP clients (TPP and the PSU's browser with the form driver),
// not the browser driver's Chromium.
type RateLimit struct {
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Burst is how many requests may leave at once after a quiet spell; default
	// requests_per_second rounded up, at least 1. A whole number, read as a float so that
	// 2.5 is reported rather than truncated by the YAML decoder.
	Burst float64 `yaml:"burst,omitempty"`
}

// Clients are the TPP identities the suite acts as. Primary and Second are required;
// the others are optional and the checks that need them are "not applicable" without them.
type Clients struct {
	Primary         *Client `yaml:"primary"`
	Second          *Client `yaml:"second"`
	WithoutAISPRole *Client `yaml:"without_aisp_role,omitempty"`
	Expired         *Client `yaml:"expired,omitempty"`
	// WithoutCBPIIRole is a registered TPP whose QWAC lacks PSP_IC: it must get no cbpii
	// access (MTLS-11). Only with the cbpii role.
	WithoutCBPIIRole *Client `yaml:"without_cbpii_role,omitempty"`
}

// Client is one registered TPP: its client_id and its QWAC.
type Client struct {
	ClientID       string `yaml:"client_id"`
	Certificate    string `yaml:"certificate,omitempty"` // PEM file (chain allowed)
	Key            string `yaml:"key,omitempty"`         // PEM file
	PKCS12         string `yaml:"pkcs12,omitempty"`      // alternative to certificate+key
	PKCS12Password string `yaml:"pkcs12_password,omitempty"`
	RedirectURI    string `yaml:"redirect_uri"`
	// QSealC, optional, signs the client's requests where the bank asks for signatures
	// (see Signing).
	QSealC *QSealC `yaml:"qsealc,omitempty"`

	// Name is the key under clients: ("primary", "second", ...).
	Name string `yaml:"-"`
	// TLSCert is the loaded certificate and key, ready for a tls.Config.
	TLSCert tls.Certificate `yaml:"-"`
	// Leaf is the parsed client certificate (TLSCert's first).
	Leaf *x509.Certificate `yaml:"-"`
}

// Scopes are the scope values the bank uses.
type Scopes struct {
	AISP string `yaml:"aisp"` // default "aisp"
	// CBPII is the funds-confirmation scope: cbpii (STET 1.4.2 on, the default) or piisp
	// (its name up to STET 1.4.0.x).
	CBPII string `yaml:"cbpii,omitempty"`
}

// Register is the bank's register API: a TPP registers its client (redirect URIs) over
// mutual TLS with its QWAC, in a request signed with its QSealC, and manages it with the
// registration access token (RFC 7591, RFC 7592, tls_client_auth).
type Register struct {
	URL string `yaml:"url"` // the registration endpoint (POST); client URIs come back in its answers
	// Client is the profile client that registers (the bootstrap identity): a key under
	// clients:, default primary.
	Client string `yaml:"client,omitempty"`
	// Scope, optional, is the scope of a bootstrap token the bank wants on registration
	// requests (BPCE: a client-credentials token); empty: none.
	Scope string `yaml:"scope,omitempty"`
	// Effective is when a registration or update takes effect at /authorize and /token:
	// immediately (the default) or later (BPCE: the next working day; the checks that
	// need it run from the state file in a later run).
	Effective string `yaml:"effective,omitempty"`
}

// PSU says how the customer's journey is driven.
type PSU struct {
	Driver  string         `yaml:"driver"` // form | browser | manual
	Browser BrowserOptions `yaml:"browser,omitempty"`
	Approve psu.Script     `yaml:"approve"`
	Refuse  psu.Script     `yaml:"refuse"`
	// Abandon, optional, is how the PSU interrupts the journey (a cancel button on the
	// login or SCA page): the bank then calls the callback with an error (AUTHZ-05).
	Abandon psu.Script `yaml:"abandon,omitempty"`
	// Identities, optional, is a pool of test PSUs: each a set of values the scripts fill
	// in as {psu.KEY}. The run spreads its journeys over them, one journey at a time per
	// PSU, and with token_pairs one_per_psu never lets one PSU's new consent supersede a
	// grant still in use. Values are secrets.
	Identities []map[string]string `yaml:"identities,omitempty"`
}

// BrowserOptions configure the headless browser driver.
type BrowserOptions struct {
	Executable string `yaml:"executable,omitempty"` // default: chromium on PATH
}

// Options are what the bank declares where STET banks legitimately differ.
type Options struct {
	RefreshRotation string `yaml:"refresh_rotation"` // rotate | reuse | either (default either)
	// ClientMismatch is how a client_id that does not match a valid certificate is refused:
	// tls | http | either (default either).
	ClientMismatch string `yaml:"client_mismatch"`
	// BadCertificate is how a certificate the bank cannot accept (expired, untrusted
	// issuer) is refused: tls | http | either (default either). Usually in the handshake,
	// where client_id mismatches are refused in HTTP: hence two options. No certificate
	// at all may be refused either way (a host shared with /authorize cannot require one).
	BadCertificate string `yaml:"bad_certificate"`
	// ClientIDMatch is STET's "direct or indirect matching" of client_id and the QWAC's
	// Authorization Number: direct (client_id is the organizationIdentifier) or indirect
	// (client_ids issued by registration, linked to it). Default direct.
	ClientIDMatch string `yaml:"client_id_match"`
	// ResourceMediaType is what resource calls Accept: STET resources are
	// application/hal+json (the default); some banks serve application/json.
	ResourceMediaType string `yaml:"resource_media_type"`
	// RefreshTokenLifetime is how long after the PSU's consent (SCA) a refresh token keeps
	// working: 90 days (STET, the seeds), or 180 since EU Delegated Regulation 2022/2360.
	RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime"`
	// TokenPairs says whether a new consent of the same PSU, TPP and role supersedes the
	// earlier token pair (one_per_psu, as BPCE does) or not (many, the default).
	TokenPairs string `yaml:"token_pairs"`
	// CodeAfterRefusal says whether a code survives a refused exchange (survives, the
	// default) or the bank burns it (burned). Where it survives, one code serves several
	// negative checks in turn, and its next exchange is their positive control.
	CodeAfterRefusal string        `yaml:"code_after_refusal"`
	PKCE             string        `yaml:"pkce"`           // none | supported | required (default none)
	ScopeAtToken     string        `yaml:"scope_at_token"` // ignored | rejected | either (default either)
	CodeLifetime     time.Duration `yaml:"code_lifetime,omitempty"`
	MaxExpiryWait    time.Duration `yaml:"max_expiry_wait"` // default 30s
	ExpirySkew       time.Duration `yaml:"expiry_skew"`     // default 2s: waited beyond expires_in
}
