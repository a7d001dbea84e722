package aspsp

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stetconform/stetconform/internal/eidas"
)

// The bank profile as YAML, in the order of shared/bank-profile.example.yaml. Durations are
// strings ("30s") because yaml would write a time.Duration as nanoseconds.
type (
	yamlProfile struct {
		Name      string        `yaml:"name"`
		Roles     []string      `yaml:"roles"`
		Endpoints yamlEndpoints `yaml:"endpoints"`
		TLS       yamlTLS       `yaml:"tls"`
		Timeouts  yamlTimeouts  `yaml:"timeouts"`
		Clients   yamlClients   `yaml:"clients"`
		Scopes    yamlScopes    `yaml:"scopes"`
		PSU       yamlPSU       `yaml:"psu"`
		Options   yamlOptions   `yaml:"options"`
		Signing   *yamlSigning  `yaml:"signing,omitempty"`
		RateLimit *yamlRate     `yaml:"rate_limit,omitempty"`
		Register  *yamlRegister `yaml:"register,omitempty"`
	}
	yamlRate struct {
		RequestsPerSecond float64 `yaml:"requests_per_second"`
		Burst             float64 `yaml:"burst"`
	}
	yamlRegister struct {
		URL       string `yaml:"url"`
		Client    string `yaml:"client"`
		Effective string `yaml:"effective"`
		Scope     string `yaml:"scope,omitempty"`
	}
	yamlSigning struct {
		Required  bool   `yaml:"required"`
		Algorithm string `yaml:"algorithm"`
	}
	yamlSeal struct {
		Certificate string `yaml:"certificate"`
		Key         string `yaml:"key"`
		KeyID       string `yaml:"key_id"`
	}
	yamlEndpoints struct {
		Authorize string `yaml:"authorize"`
		Token     string `yaml:"token"`
		Accounts  string `yaml:"accounts"`
		Revoke    string `yaml:"revoke"`
		Funds     string `yaml:"funds_confirmations,omitempty"`
	}
	yamlTLS struct {
		CA         string `yaml:"ca"`
		MinVersion string `yaml:"min_version"`
	}
	yamlTimeouts struct {
		Connect    string `yaml:"connect"`
		Request    string `yaml:"request"`
		PSUJourney string `yaml:"psu_journey"`
	}
	yamlClients struct {
		Primary         *yamlClient `yaml:"primary"`
		Second          *yamlClient `yaml:"second"`
		WithoutAISPRole *yamlClient `yaml:"without_aisp_role,omitempty"`
		Expired         *yamlClient `yaml:"expired,omitempty"`
		WithoutCBPII    *yamlClient `yaml:"without_cbpii_role,omitempty"`
	}
	yamlClient struct {
		ClientID    string    `yaml:"client_id"`
		Certificate string    `yaml:"certificate"`
		Key         string    `yaml:"key"`
		RedirectURI string    `yaml:"redirect_uri"`
		QSealC      *yamlSeal `yaml:"qsealc,omitempty"`
	}
	yamlScopes struct {
		AISP  string `yaml:"aisp"`
		CBPII string `yaml:"cbpii,omitempty"`
	}
	yamlPSU struct {
		Driver     string              `yaml:"driver"`
		Identities []map[string]string `yaml:"identities,omitempty"`
		Approve    []yamlStep          `yaml:"approve"`
		Refuse     []yamlStep          `yaml:"refuse"`
		Abandon    []yamlStep          `yaml:"abandon,omitempty"`
	}
	yamlStep struct {
		Fill  map[string]string `yaml:"fill,omitempty"`
		Press string            `yaml:"press"`
	}
	yamlOptions struct {
		RefreshRotation  string `yaml:"refresh_rotation"`
		ClientMismatch   string `yaml:"client_mismatch"`
		PKCE             string `yaml:"pkce"`
		ScopeAtToken     string `yaml:"scope_at_token"`
		CodeLifetime     string `yaml:"code_lifetime"`
		MaxExpiryWait    string `yaml:"max_expiry_wait"`
		ExpirySkew       string `yaml:"expiry_skew"`
		BadCertificate   string `yaml:"bad_certificate"`
		RefreshLifetime  string `yaml:"refresh_token_lifetime"`
		TokenPairs       string `yaml:"token_pairs,omitempty"`
		CodeAfterRefusal string `yaml:"code_after_refusal,omitempty"`
	}
)

// Selectors of the bank's PSU pages, as the PSU scripts use them.
const (
	SelectorPSUID    = "input[name=psu_id]"
	SelectorPassword = "input[name=password]"
	SelectorLogin    = "button[name=action][value=login]"
	SelectorAccept   = "button[name=action][value=accept]"
	SelectorRefuse   = "button[name=action][value=refuse]"
	SelectorCancel   = "button[name=action][value=cancel]"
)

// ProfileYAML returns a bank profile that reaches this bank (call it after Start), with
// certificate paths inside pkiDir (where PKI.WriteDir wrote; made absolute), PSU scripts
// for approving and refusing on the bank's pages with the PSU password written literally,
// and the options the bank declares: rotating refresh tokens, a client_id/certificate
// mismatch signalled in HTTP, PKCE supported.
func (b *Bank) ProfileYAML(pkiDir string) []byte {
	if abs, err := filepath.Abs(pkiDir); err == nil {
		pkiDir = abs
	}
	base := b.URL()
	psu := b.scriptPSU()
	login := yamlStep{
		Fill:  map[string]string{SelectorPSUID: psu, SelectorPassword: b.psus[psu]},
		Press: SelectorLogin,
	}
	// A pool of PSUs is the profile's pool: the scripts fill in each one's id and password.
	var identities []map[string]string
	if ids := b.PSUIDs(); len(ids) > 1 {
		for _, id := range ids {
			identities = append(identities, map[string]string{"id": id, "password": b.psus[id]})
		}
		login.Fill = map[string]string{SelectorPSUID: "{psu.id}", SelectorPassword: "{psu.password}"}
	}
	tokenPairs := ""
	if b.cfg.TokenPairs == TokenPairsOnePerPSU {
		tokenPairs = "one_per_psu"
	}
	codeAfterRefusal := ""
	if b.cfg.BurnCodes {
		codeAfterRefusal = "burned"
	}
	client := func(id, certFile, keyFile string) *yamlClient {
		return &yamlClient{
			ClientID:    id,
			Certificate: filepath.Join(pkiDir, certFile),
			Key:         filepath.Join(pkiDir, keyFile),
			RedirectURI: b.redirectURIOf(id),
		}
	}
	// The TPPs' seals, where the bank requires signed requests. The keyId URLs are
	// nobody's: the bank knows its TPPs' QSealCs and does not fetch them.
	sealed := func(c *yamlClient, certFile, keyFile string) *yamlClient {
		if b.cfg.RequireSignature || b.reg != nil {
			c.QSealC = &yamlSeal{Certificate: filepath.Join(pkiDir, certFile), Key: filepath.Join(pkiDir, keyFile),
				KeyID: "https://" + strings.ToLower(c.ClientID) + ".tpp.example/qsealc.pem"}
		}
		return c
	}
	badCertificate := "http"
	if b.cfg.RefuseBadCertificatesInTLS {
		badCertificate = "tls"
	}
	p := yamlProfile{
		Name:  "stetconform reference bank",
		Roles: []string{"aisp", "cbpii"},
		Endpoints: yamlEndpoints{
			Authorize: base + PathAuthorize,
			Token:     base + PathToken,
			Accounts:  base + PathAccounts,
			Revoke:    base + PathRevoke,
			Funds:     base + PathFundsConfirmations,
		},
		TLS:      yamlTLS{CA: filepath.Join(pkiDir, eidas.FileCA), MinVersion: "1.2"},
		Timeouts: yamlTimeouts{Connect: "5s", Request: "10s", PSUJourney: "30s"},
		Clients: yamlClients{
			Primary:         sealed(client(eidas.OrgTPPA, eidas.FileTPPACert, eidas.FileTPPAKey), eidas.FileTPPASealCert, eidas.FileTPPASealKey),
			Second:          sealed(client(eidas.OrgTPPB, eidas.FileTPPBCert, eidas.FileTPPBKey), eidas.FileTPPBSealCert, eidas.FileTPPBSealKey),
			WithoutAISPRole: sealed(client(eidas.OrgTPPNoRole, eidas.FileTPPNoRoleCert, eidas.FileTPPNoRoleKey), eidas.FileTPPNoRoleSealCert, eidas.FileTPPNoRoleSealKey),
			Expired:         client(eidas.OrgTPPA, eidas.FileTPPAExpiredCert, eidas.FileTPPAExpiredKey),
			WithoutCBPII:    sealed(client(eidas.OrgTPPNoIC, eidas.FileTPPNoICCert, eidas.FileTPPNoICKey), eidas.FileTPPNoICSealCert, eidas.FileTPPNoICSealKey),
		},
		Scopes: yamlScopes{AISP: ScopeAISP, CBPII: ScopeCBPII},
		PSU: yamlPSU{
			Driver:     "form",
			Identities: identities,
			Approve:    []yamlStep{login, {Press: SelectorAccept}},
			Refuse:     []yamlStep{login, {Press: SelectorRefuse}},
			Abandon:    []yamlStep{{Press: SelectorCancel}},
		},
		Options: yamlOptions{
			RefreshRotation:  "rotate",
			ClientMismatch:   "http",
			PKCE:             "supported",
			ScopeAtToken:     "ignored",
			CodeLifetime:     b.cfg.CodeLifetime.String(),
			MaxExpiryWait:    "30s",
			ExpirySkew:       "250ms", // expires_in is rounded up (token.go), so a small margin is enough
			BadCertificate:   badCertificate,
			RefreshLifetime:  b.cfg.RefreshTokenLifetime.String(),
			TokenPairs:       tokenPairs,
			CodeAfterRefusal: codeAfterRefusal,
		},
	}
	if rl := b.cfg.RateLimit; rl.Requests > 0 && rl.Window > 0 {
		// The bank counts per client in fixed windows; the suite paces per host with a
		// token bucket. Half the rate, one at a time, never crosses a window's limit.
		p.RateLimit = &yamlRate{RequestsPerSecond: float64(rl.Requests) / rl.Window.Seconds() / 2, Burst: 1}
	}
	if b.reg != nil {
		effective := "immediately"
		if b.cfg.Register.EffectiveAfter > 0 {
			effective = "later"
		}
		p.Register = &yamlRegister{URL: base + PathRegister, Client: "primary", Effective: effective, Scope: b.cfg.Register.BootstrapScope}
	}
	if b.cfg.RequireSignature {
		// The test QSealCs have EC keys.
		p.Signing = &yamlSigning{Required: true, Algorithm: "ecdsa-sha256"}
	}
	if b.cfg.CBPII.Off {
		p.Roles, p.Clients.WithoutCBPII, p.Endpoints.Funds, p.Scopes.CBPII = []string{"aisp"}, nil, "", ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		panic("aspsp: encoding the bank profile: " + err.Error()) // plain structs of strings: never fails
	}
	_ = enc.Close()
	return buf.Bytes()
}

// scriptPSU is the PSU the profile's scripts log in as: DefaultPSU if configured, else the
// first by name.
func (b *Bank) scriptPSU() string {
	if _, ok := b.psus[DefaultPSU]; ok {
		return DefaultPSU
	}
	ids := make([]string, 0, len(b.psus))
	for id := range b.psus {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[0]
}

// redirectURIOf returns a client's first registered redirect URI, falling back to the
// default registration's.
func (b *Bank) redirectURIOf(id string) string {
	for _, regs := range [][]Registration{b.cfg.Clients, DefaultClients()} {
		for _, r := range regs {
			if r.ClientID == id && len(r.RedirectURIs) > 0 {
				return r.RedirectURIs[0]
			}
		}
	}
	return ""
}
