package profile

import (
	"slices"
	"strings"
	"testing"
)

func TestRolesDefaultToAISP(t *testing.T) {
	p, err := Decode([]byte(minimal), "bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Roles, []string{RoleAISP}) || p.Scopes.CBPII != "cbpii" || p.HasRole(RoleCBPII) {
		t.Errorf("defaults: roles %v, scopes.cbpii %q", p.Roles, p.Scopes.CBPII)
	}
	if p.RegisterDeclared() {
		t.Error("a profile without register: declares a register API")
	}
}

// withCBPII is minimal offering both roles, with piisp and a client lacking PSP_IC, and a
// register API applied later.
var withCBPII = strings.Replace(strings.Replace(minimal, "  accounts: https://bank.example/accounts\n",
	"  accounts: https://bank.example/accounts\n  funds_confirmations: https://bank.example/stet/psd2/v1.4.2/funds-confirmations\n", 1), "psu:\n", `  without_cbpii_role:
    client_id: PSDFR-ACPR-22222
    certificate: certs/noic.pem
    key: certs/noic.key
    redirect_uri: https://tpp.example/cb
roles: [aisp, cbpii]
scopes:
  cbpii: piisp
register:
  url: https://bank.example/stet/setting/v1/register
  client: second
  scope: manageRegistration
  effective: later
psu:
`, 1)

func TestRolesCBPIIAndRegister(t *testing.T) {
	text := strings.Replace(withCBPII, "    redirect_uri: https://tpp.example/cb\n  without_cbpii_role:", `    redirect_uri: https://tpp.example/cb
    qsealc:
      certificate: certs/second-qsealc.pem
      key: certs/second-qsealc.key
      key_id: https://tpp.example/qsealc.pem
  without_cbpii_role:`, 1)
	p, err := Decode([]byte(text), "bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasRole(RoleCBPII) || !p.HasRole(RoleAISP) || p.Scopes.CBPII != "piisp" || p.Endpoints.FundsConfirmations == "" {
		t.Errorf("roles %v, scopes.cbpii %q", p.Roles, p.Scopes.CBPII)
	}
	if c := p.ClientByName(ClientWithoutCBPIIRole); c == nil || c.ClientID != "PSDFR-ACPR-22222" || c.Name != ClientWithoutCBPIIRole {
		t.Errorf("clients.without_cbpii_role: %+v", c)
	}
	r := p.Register
	if !p.RegisterDeclared() || r.URL != "https://bank.example/stet/setting/v1/register" || r.Client != "second" || r.Scope != "manageRegistration" || r.Effective != EffectiveLater {
		t.Errorf("register: %+v", r)
	}
}

func TestRolesAndRegisterErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, field, msg string
		at                         string // the text of the error's line, when not to
	}{
		{"unknown role", "roles: [aisp, cbpii]", "roles: [aisp, pisp]", "roles[1]", `expected aisp or cbpii (pisp is not checked by this suite), found "pisp"`, ""},
		{"role twice", "roles: [aisp, cbpii]", "roles: [cbpii, cbpii]", "roles[1]", "cbpii is listed twice", ""},
		{"empty roles", "roles: [aisp, cbpii]", "roles: []", "roles", "is empty", ""},
		{"bad cbpii scope", "cbpii: piisp", "cbpii: funds", "scopes.cbpii", `expected cbpii (STET 1.4.2 on) or piisp (up to STET 1.4.0.x), found "funds"`, ""},
		{"client without the role", "roles: [aisp, cbpii]", "roles: [aisp]", "clients.without_cbpii_role", "roles does not list cbpii", "without_cbpii_role:"},
		{"register without url", "  url: https://bank.example/stet/setting/v1/register\n", "", "register.url", "is required", ""},
		{"register url not https", "url: https://bank.example/stet/setting/v1/register", "url: http://bank.example/register", "register.url", "expected an https URL", ""},
		{"unknown register client", "client: second", "client: third", "register.client", `expected the name of a client under clients:`, ""},
		{"absent register client", "client: second", "client: expired", "register.client", "names clients.expired, which the profile does not give", ""},
		{"register client without seal", "client: second", "client: primary", "register.client", "clients.primary needs a qsealc", ""},
		{"bad effective", "effective: later", "effective: tomorrow", "register.effective", `expected one of immediately, later, found "tomorrow"`, ""},
		{"cbpii without its resource", "  funds_confirmations: https://bank.example/stet/psd2/v1.4.2/funds-confirmations\n", "", "endpoints.funds_confirmations", "is required with the cbpii role", "endpoints:"},
		{"comma scopes", "scope: manageRegistration", "scope: aisp,cbpii", "register.scope", "give one scope value", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(withCBPII, "  client: second", "  client: second\n", 1)
			text = strings.Replace(text, "    redirect_uri: https://tpp.example/cb\n  without_cbpii_role:", `    redirect_uri: https://tpp.example/cb
    qsealc:
      certificate: certs/second-qsealc.pem
      key: certs/second-qsealc.key
      key_id: https://tpp.example/qsealc.pem
  without_cbpii_role:`, 1)
			if !strings.Contains(text, tc.from) {
				t.Fatalf("the test profile lacks %q", tc.from)
			}
			text = strings.Replace(text, tc.from, tc.to, 1)
			_, err := Decode([]byte(text), "bank.yaml")
			errs, _ := err.(Errors)
			if len(errs) == 0 {
				t.Fatalf("expected an error about %s, found none", tc.field)
			}
			e := find(t, errs, tc.field)
			if !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("%s: %q, want it to contain %q", tc.field, e.Msg, tc.msg)
			}
			key := tc.to
			if tc.at != "" {
				key = tc.at
			} else if key == "" {
				key = "register:"
			}
			if want := lineOfText(t, text, key); e.Line != want || e.File != "bank.yaml" {
				t.Errorf("%s at %s:%d, want bank.yaml:%d", tc.field, e.File, e.Line, want)
			}
		})
	}
}
