package profile

import (
	"fmt"
	"slices"
	"strings"
)

// The TPP roles a bank may offer (roles:), and the register API's timing (register.effective).
const (
	RoleAISP  = "aisp"
	RoleCBPII = "cbpii"

	EffectiveImmediately = "immediately"
	EffectiveLater       = "later"
)

// HasRole reports whether the bank declares the role (aisp or cbpii).
func (p *Profile) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// RegisterDeclared reports whether the bank declares a register API: without one the
// registration checks are not applicable.
func (p *Profile) RegisterDeclared() bool { return p.Register != nil }

// checkRoles validates roles:, scopes.cbpii and clients.without_cbpii_role.
func (c *checker) checkRoles(p *Profile) {
	if _, given := c.lines["roles"]; given && len(p.Roles) == 0 {
		c.addAt("roles", "is empty: list the roles the bank offers, aisp and/or cbpii (or leave roles out for [aisp])")
	}
	if len(p.Roles) == 0 {
		p.Roles = []string{RoleAISP}
	}
	for i, r := range p.Roles {
		field := fmt.Sprintf("roles[%d]", i)
		switch {
		case r != RoleAISP && r != RoleCBPII:
			c.addAt(field, "expected aisp or cbpii (pisp is not checked by this suite), found %s", c.show(field, r))
		case slices.Index(p.Roles, r) < i:
			c.addAt(field, "%s is listed twice", r)
		}
	}
	switch p.Scopes.CBPII {
	case "":
		p.Scopes.CBPII = DefaultCBPIIScope
	case "cbpii", "piisp":
	default:
		c.addAt("scopes.cbpii", "expected cbpii (STET 1.4.2 on) or piisp (up to STET 1.4.0.x), found %s", c.show("scopes.cbpii", p.Scopes.CBPII))
	}
	if p.HasRole(RoleCBPII) {
		if p.Endpoints.FundsConfirmations == "" {
			c.addAt("endpoints.funds_confirmations", "is required with the cbpii role: the URL of POST /funds-confirmations")
		} else {
			c.checkEndpoint("endpoints.funds_confirmations", p.Endpoints.FundsConfirmations, true)
		}
	} else if p.Endpoints.FundsConfirmations != "" {
		c.checkEndpoint("endpoints.funds_confirmations", p.Endpoints.FundsConfirmations, false)
	}
	if p.Clients.WithoutCBPIIRole != nil && !p.HasRole(RoleCBPII) {
		c.addAt("clients.without_cbpii_role", "is given, but roles does not list cbpii: add cbpii to roles, or leave the client out")
	}
}

// checkRegister validates register:.
func (c *checker) checkRegister(p *Profile) {
	r := p.Register
	if r == nil {
		return
	}
	c.checkEndpoint("register.url", r.URL, true)
	if r.Client == "" {
		r.Client = ClientPrimary
	}
	names := make([]string, 0, 5)
	for _, s := range p.clientSlots() {
		names = append(names, s.name)
	}
	switch {
	case !slices.Contains(names, r.Client):
		c.addAt("register.client", "expected the name of a client under clients: (%s), found %s", strings.Join(names, ", "), c.show("register.client", r.Client))
	case p.ClientByName(r.Client) == nil:
		c.addAt("register.client", "names clients.%s, which the profile does not give", r.Client)
	case p.ClientByName(r.Client).QSealC == nil:
		c.addAt("register.client", "clients.%s needs a qsealc: registration requests are signed with the TPP's QSealC", r.Client)
	}
	if strings.ContainsAny(r.Scope, ",") {
		c.addAt("register.scope", "give one scope value (or several separated by spaces), found %s", c.show("register.scope", r.Scope))
	}
	c.enum("register.effective", &r.Effective, EffectiveImmediately, EffectiveImmediately, EffectiveLater)
}
