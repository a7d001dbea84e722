package profile

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/psu"
)

// Defaults applied where the profile leaves a value out (or zero).
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultRequestTimeout = 15 * time.Second
	DefaultPSUJourney     = 2 * time.Minute
	DefaultMaxExpiryWait  = 30 * time.Second
	DefaultExpirySkew     = 2 * time.Second
	// DefaultRefreshTokenLifetime is STET's and the seeds' 90 days.
	DefaultRefreshTokenLifetime = 90 * 24 * time.Hour
	// DefaultResourceMediaType is the media type of STET's resources (Part III).
	DefaultResourceMediaType = "application/hal+json"
	DefaultAISPScope         = "aisp"
	DefaultCBPIIScope        = "cbpii"
	DefaultMinTLSVersion     = "1.2"
)

// Values of the enumerated keys.
const (
	DriverForm    = "form"
	DriverBrowser = "browser"
	DriverManual  = "manual"
)

// validate applies defaults and reports every missing or malformed value.
func (c *checker) validate(p *Profile) {
	if strings.TrimSpace(p.Name) == "" {
		c.addAt("name", "is required: a short name for the bank, shown in reports")
	}

	c.checkEndpoint("endpoints.authorize", p.Endpoints.Authorize, true)
	c.checkEndpoint("endpoints.token", p.Endpoints.Token, true)
	c.checkEndpoint("endpoints.accounts", p.Endpoints.Accounts, true)
	c.checkEndpoint("endpoints.revoke", p.Endpoints.Revoke, false)

	switch p.TLS.MinVersion {
	case "":
		p.TLS.MinVersion = DefaultMinTLSVersion
	case "1.2", "1.3":
	default:
		c.addAt("tls.min_version", `expected "1.2" or "1.3", found %s`, c.show("tls.min_version", p.TLS.MinVersion))
	}

	c.duration("timeouts.connect", &p.Timeouts.Connect, DefaultConnectTimeout)
	c.duration("timeouts.request", &p.Timeouts.Request, DefaultRequestTimeout)
	c.duration("timeouts.psu_journey", &p.Timeouts.PSUJourney, DefaultPSUJourney)

	for _, name := range slices.Sorted(maps.Keys(p.Headers)) {
		field := "headers." + name
		if !validHeaderName(name) {
			c.addAt(field, "%q is not an HTTP header name (letters, digits and !#$%%&'*+-.^_`|~ only)", name)
		}
		if strings.ContainsAny(p.Headers[name], "\r\n") {
			c.addAt(field, "the value contains a line break")
		}
	}

	if p.Clients.Primary == nil {
		c.addAt("clients.primary", "is required: the TPP under test (client_id, certificate and key, redirect_uri)")
	}
	if p.Clients.Second == nil {
		c.addAt("clients.second", "is required: a second registered TPP, used to check that codes and tokens are bound to their client")
	}
	for _, s := range p.clientSlots() {
		if s.client != nil {
			s.client.Name = s.name
			c.checkClient("clients."+s.name, s.client)
		}
	}

	if p.Scopes.AISP == "" {
		p.Scopes.AISP = DefaultAISPScope
	}
	c.checkRoles(p)
	c.checkRegister(p)

	c.checkPSU(&p.PSU)
	c.checkSigning(p)
	c.checkRateLimit(p.RateLimit)

	c.enum("options.refresh_rotation", &p.Options.RefreshRotation, "either", "rotate", "reuse", "either")
	c.enum("options.client_mismatch", &p.Options.ClientMismatch, "either", "tls", "http", "either")
	c.enum("options.bad_certificate", &p.Options.BadCertificate, "either", "tls", "http", "either")
	c.enum("options.client_id_match", &p.Options.ClientIDMatch, "direct", "direct", "indirect")
	c.duration("options.refresh_token_lifetime", &p.Options.RefreshTokenLifetime, DefaultRefreshTokenLifetime)
	c.enum("options.token_pairs", &p.Options.TokenPairs, "many", "many", "one_per_psu")
	if p.Options.ResourceMediaType == "" {
		p.Options.ResourceMediaType = DefaultResourceMediaType
	}
	c.enum("options.code_after_refusal", &p.Options.CodeAfterRefusal, "survives", "survives", "burned")
	c.enum("options.pkce", &p.Options.PKCE, "none", "none", "supported", "required")
	c.enum("options.scope_at_token", &p.Options.ScopeAtToken, "either", "ignored", "rejected", "either")
	c.duration("options.code_lifetime", &p.Options.CodeLifetime, 0)
	c.duration("options.max_expiry_wait", &p.Options.MaxExpiryWait, DefaultMaxExpiryWait)
	c.duration("options.expiry_skew", &p.Options.ExpirySkew, DefaultExpirySkew)
}

// checkRateLimit wants a positive rate and burst, and defaults the burst to the rate
// rounded up: one second's worth of requests.
func (c *checker) checkRateLimit(rl *RateLimit) {
	if rl == nil {
		return
	}
	switch rps := rl.RequestsPerSecond; {
	case c.lines["rate_limit.requests_per_second"] == 0:
		c.addAt("rate_limit.requests_per_second", "is required with rate_limit: expected a positive number of requests per second, such as 5 or 0.5")
		return
	case math.IsNaN(rps) || math.IsInf(rps, 0) || rps <= 0:
		c.addAt("rate_limit.requests_per_second", "expected a positive number of requests per second, such as 5 or 0.5, found %v", rps)
		return
	}
	switch b := rl.Burst; {
	case c.lines["rate_limit.burst"] == 0:
		rl.Burst = max(1, math.Ceil(rl.RequestsPerSecond))
	case math.IsNaN(b) || b < 1 || b != math.Trunc(b) || b > 1e6:
		c.addAt("rate_limit.burst", "expected a whole positive number of requests, found %v", b)
	}
}

// checkEndpoint wants an absolute https URL; http is accepted for loopback hosts only
// (a bank running on this machine, such as the reference bank).
func (c *checker) checkEndpoint(field, v string, required bool) {
	if v == "" {
		if required {
			c.addAt(field, "is required: expected an absolute https URL")
		}
		return
	}
	if !c.expand && strings.Contains(v, "${") {
		return // Decode: the URL is only known once expanded
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		c.addAt(field, "expected an absolute URL such as https://bank.example/oauth/token, found %s", c.show(field, v))
		return
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		c.addAt(field, "expected an https URL (http only for 127.0.0.1, localhost or [::1]), found %s", c.show(field, v))
	}
}

func isLoopback(host string) bool {
	switch strings.ToLower(host) {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	return false
}

func (c *checker) checkClient(prefix string, cl *Client) {
	if strings.TrimSpace(cl.ClientID) == "" {
		c.addAt(prefix+".client_id", "is required: the client_id the bank registered (for STET, the QWAC's organizationIdentifier, e.g. PSDFR-ACPR-12345)")
	}

	field := prefix + ".redirect_uri"
	switch u, err := url.Parse(cl.RedirectURI); {
	case cl.RedirectURI == "":
		c.addAt(field, "is required: the callback URL registered for this client at the bank")
	case !c.expand && strings.Contains(cl.RedirectURI, "${"):
	case err != nil || u.Scheme == "" || u.Host == "":
		c.addAt(field, "expected an absolute URL such as https://tpp.example/callback, found %s", c.show(field, cl.RedirectURI))
	case u.Fragment != "":
		c.addAt(field, "must not contain a fragment (#...): RFC 6749 section 3.1.2")
	}

	hasPEM := cl.Certificate != "" || cl.Key != ""
	switch {
	case cl.PKCS12 != "" && hasPEM:
		c.addAt(prefix+".pkcs12", "use either certificate and key, or pkcs12, not both")
	case cl.PKCS12 == "" && !hasPEM:
		c.addAt(prefix+".certificate", "is required: certificate and key (PEM files), or pkcs12, give the client's QWAC")
	case cl.PKCS12 == "" && cl.Certificate == "":
		c.addAt(prefix+".certificate", "is required with key: the PEM file of the client's QWAC")
	case cl.PKCS12 == "" && cl.Key == "":
		c.addAt(prefix+".key", "is required with certificate: the PEM file of the QWAC's private key")
	}
	if cl.PKCS12Password != "" && cl.PKCS12 == "" {
		c.addAt(prefix+".pkcs12_password", "is set but pkcs12 is not")
	}
}

func (c *checker) checkPSU(ps *PSU) {
	switch ps.Driver {
	case DriverForm, DriverBrowser, DriverManual:
	case "":
		c.addAt("psu.driver", "is required: form, browser or manual")
	default:
		c.addAt("psu.driver", "expected form, browser or manual, found %s", c.show("psu.driver", ps.Driver))
	}
	scripts := []struct {
		field, what string
		script      psu.Script
	}{
		{"psu.approve", "log the PSU in and approve the consent", ps.Approve},
		{"psu.refuse", "log the PSU in and refuse the consent", ps.Refuse},
		{"psu.abandon", "", ps.Abandon}, // optional: the bank then calls back on abandonment (AUTHZ-05)
	}
	placeholder := regexp.MustCompile(`\{psu\.([A-Za-z0-9_]+)\}`)
	for i, id := range ps.Identities {
		if len(id) == 0 {
			c.addAt(fmt.Sprintf("psu.identities[%d]", i), "is empty: give the values the scripts fill in, e.g. id and password")
		}
	}
	for _, s := range scripts {
		for i, st := range s.script {
			for _, k := range slices.Sorted(maps.Keys(st.Fill)) {
				for _, m := range placeholder.FindAllStringSubmatch(st.Fill[k], -1) {
					if len(ps.Identities) == 0 {
						c.addAt(fmt.Sprintf("%s[%d].fill.%s", s.field, i, k), "uses %s but the profile lists no psu.identities to fill it from", m[0])
					}
					for j, id := range ps.Identities {
						if _, ok := id[m[1]]; !ok && len(id) > 0 {
							c.addAt(fmt.Sprintf("psu.identities[%d]", j), "has no %s, which %s[%d].fill.%s uses", m[1], s.field, i, k)
						}
					}
				}
			}
		}
		if len(s.script) == 0 && ps.Driver != DriverManual && s.what != "" {
			c.addAt(s.field, "is required with driver %s: the steps that %s", cmp.Or(ps.Driver, DriverForm), s.what)
		}
		for i, st := range s.script {
			f := fmt.Sprintf("%s[%d]", s.field, i)
			if len(st.Fill) == 0 && st.Press == "" && st.WaitFor == "" {
				c.addAt(f, "the step does nothing: give it fill, press or wait_for")
			}
			if st.Timeout < 0 {
				c.addAt(f+".timeout", "must not be negative, found %s", st.Timeout)
			}
			c.selector(f+".wait_for", f+".wait_for", st.WaitFor)
			for _, k := range slices.Sorted(maps.Keys(st.Fill)) {
				c.selector(f+".fill", f+".fill."+k, k)
			}
			c.selector(f+".press", f+".press", st.Press)
		}
	}
}

// selector reports a selector of a PSU step that the form and browser drivers would not
// both understand, as an error about field at the line of at (a fill's key).
func (c *checker) selector(field, at, sel string) {
	if sel == "" || c.suppressed(field) || !c.expand && strings.Contains(sel, "${") {
		return
	}
	if err := psu.CheckSelector(sel); err != nil {
		msg := err.Error()
		if c.fromEnv[c.lineOf(at)] {
			msg = "the selector, a value from the environment, is not one both PSU drivers understand"
		}
		c.add(c.lineOf(at), field, "%s", msg)
	}
}

// enum applies a default to an empty value and checks the others against allowed.
func (c *checker) enum(field string, v *string, def string, allowed ...string) {
	if *v == "" {
		*v = def
		return
	}
	if !slices.Contains(allowed, *v) {
		c.addAt(field, "expected one of %s, found %s", strings.Join(allowed, ", "), c.show(field, *v))
	}
}

// duration rejects a negative value and replaces zero by def (when def is not zero).
func (c *checker) duration(field string, v *time.Duration, def time.Duration) {
	switch {
	case *v < 0:
		c.addAt(field, "must not be negative, found %s", *v)
	case *v == 0:
		*v = def
	}
}

// validHeaderName is RFC 9110's token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		ok := r < 0x7f && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", r))
		if !ok {
			return false
		}
	}
	return true
}

// collectSecrets lists the values reports must redact: every value taken from the
// environment, every PSU fill value and every PKCS#12 password. Longest first, so that a
// redactor replacing substrings never leaves part of a longer secret behind.
func (c *checker) collectSecrets(p *Profile) []string {
	all := slices.Clone(c.secrets)
	for _, id := range p.PSU.Identities {
		for _, v := range id {
			all = append(all, v)
		}
	}
	for _, script := range []psu.Script{p.PSU.Approve, p.PSU.Refuse, p.PSU.Abandon} {
		for _, st := range script {
			for _, v := range st.Fill {
				all = append(all, v)
			}
		}
	}
	for _, s := range p.clientSlots() {
		if s.client != nil {
			all = append(all, s.client.PKCS12Password)
			if s.client.QSealC != nil {
				all = append(all, s.client.QSealC.PKCS12Password)
			}
		}
	}
	all = slices.DeleteFunc(all, func(s string) bool { return s == "" })
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return slices.Compact(all)
}
