package preflight

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

// ExpiryWarning is how close to its end a certificate's validity is reported: a run that
// starts today must not fail next week because a certificate ran out.
const ExpiryWarning = 30 * 24 * time.Hour

// Static checks the loaded profile p without the network, at time now: each client's
// certificate against its client_id and its role in the suite (organizationIdentifier,
// PSD2 roles, validity, extended key usage), primary against second, the CA bundle, and
// tls.insecure_skip_verify.
func Static(p *profile.Profile, now time.Time) []Finding {
	s := &statics{p: p, now: now}
	s.trust()
	for _, name := range clientNames {
		if c := p.ClientByName(name); c != nil {
			s.client(c)
			s.qsealc(c)
		}
	}
	s.signing()
	s.pair()
	redact := redactor(p)
	for i := range s.out {
		s.out[i] = redact(s.out[i])
	}
	return s.out
}

// clientNames are the clients' keys in the order they are checked and reported.
var clientNames = []string{
	profile.ClientPrimary, profile.ClientSecond, profile.ClientWithoutAISPRole, profile.ClientExpired,
	profile.ClientWithoutCBPIIRole,
}

type statics struct {
	p   *profile.Profile
	now time.Time
	out []Finding
}

func (s *statics) add(l Level, field, format string, args ...any) {
	s.out = append(s.out, Finding{Level: l, Where: field, What: fmt.Sprintf(format, args...), At: s.p.Where(field)})
}

// trust reports the trust anchors for the bank's server certificate.
func (s *statics) trust() {
	if s.p.TLS.InsecureSkipVerify {
		s.add(Warn, "tls.insecure_skip_verify", "is set: the bank's server certificate is not checked, and every report says so")
	}
	if s.p.TLS.CA == "" {
		s.add(OK, "tls.ca", "not set: the bank's server certificate is checked against this machine's trust store")
		return
	}
	data, err := os.ReadFile(s.p.TLS.CA)
	if err != nil {
		s.add(Fail, "tls.ca", "%s cannot be read: %v", s.p.TLS.CA, err)
		return
	}
	cas, err := profile.ParseCertificates(data)
	if err != nil {
		return // Load has parsed the bundle already; nothing new to say
	}
	var names []string
	problems := false
	for _, ca := range cas {
		names = append(names, ca.Subject.String())
		what := fmt.Sprintf("CA certificate %s in %s", ca.Subject, s.p.TLS.CA)
		problems = s.validity(Fail, "tls.ca", what, ca) || problems
	}
	if !problems {
		s.add(OK, "tls.ca", "%d CA certificate(s) in %s: %s", len(names), s.p.TLS.CA, strings.Join(names, "; "))
	}
}

// validity reports a certificate that is expired, not yet valid or close to its end, at
// level expired for the first two; it returns whether it reported anything.
func (s *statics) validity(expired Level, field, what string, c *x509.Certificate) bool {
	switch {
	case s.now.After(c.NotAfter):
		s.add(expired, field, "%s expired on %s", what, day(c.NotAfter))
	case s.now.Before(c.NotBefore):
		s.add(expired, field, "%s is not valid before %s", what, c.NotBefore.UTC().Format(time.RFC3339))
	case c.NotAfter.Sub(s.now) < ExpiryWarning:
		s.add(Warn, field, "%s expires on %s, in %s", what, day(c.NotAfter), daysLeft(s.now, c.NotAfter))
	default:
		return false
	}
	return true
}

// certField is the key that gives the client's certificate: certificate or pkcs12.
func certField(c *profile.Client) string {
	if c.PKCS12 != "" {
		return "clients." + c.Name + ".pkcs12"
	}
	return "clients." + c.Name + ".certificate"
}

// client checks one client's certificate against what the suite uses it for.
func (s *statics) client(c *profile.Client) {
	field := certField(c)
	leaf := c.Leaf
	if leaf == nil {
		s.add(Fail, field, "no certificate is loaded for this client")
		return
	}
	start := len(s.out)

	org := eidas.OrganizationIdentifier(leaf)
	switch {
	case org == "":
		s.add(Fail, field, "the certificate %s has no organizationIdentifier (OID 2.5.4.97): STET requires it to equal client_id %s", eidas.Describe(leaf), c.ClientID)
	case org != c.ClientID && s.p.Options.ClientIDMatch == "indirect":
		s.add(OK, field, "client_id %s was issued by registration and is linked to organizationIdentifier %s (options.client_id_match: indirect)", c.ClientID, org)
	case org != c.ClientID:
		s.add(Fail, field, "organizationIdentifier %s differs from client_id %s (declare options.client_id_match: indirect if the bank issues client_ids by registration)", org, c.ClientID)
	}
	if primary := s.p.Clients.Primary; c.Name == profile.ClientExpired && primary != nil && org != "" && org != primary.OrganizationIdentifier() {
		s.add(Fail, field, "organizationIdentifier %s is not the primary client's %s: clients.expired must be the primary TPP's identity in an expired certificate, so that only the expiry differs", org, primary.ClientID)
	}

	psd2, err := eidas.ParsePSD2(leaf)
	switch {
	case errors.Is(err, eidas.ErrNoPSD2Statement):
		s.add(Warn, field, "the certificate has no PSD2 QCStatement (ETSI TS 119 495, OID 0.4.0.19495.2): a bank that checks PSD2 roles refuses it")
	case err != nil:
		s.add(Warn, field, "the certificate's PSD2 QCStatement cannot be read: %v", err)
	}
	hasAI := eidas.HasRole(leaf, eidas.RolePSPAI)
	switch {
	case c.Name == profile.ClientWithoutAISPRole && hasAI:
		s.add(Fail, field, "the certificate has the PSP_AI role: the check that a TPP without it gets no AISP access would be meaningless")
	case c.Name != profile.ClientWithoutAISPRole && psd2 != nil && !hasAI:
		s.add(Warn, field, "the certificate's PSD2 roles are %s, without PSP_AI (account information): the bank may refuse it AISP access", roles(psd2))
	}
	hasIC := eidas.HasRole(leaf, eidas.RolePSPIC)
	switch {
	case c.Name == profile.ClientWithoutCBPIIRole && hasIC:
		s.add(Fail, field, "the certificate has the PSP_IC role: the check that a TPP without it gets no cbpii access would be meaningless")
	case c.Name == profile.ClientPrimary && s.p.HasRole(profile.RoleCBPII) && psd2 != nil && !hasIC:
		s.add(Warn, field, "the certificate's PSD2 roles are %s, without PSP_IC: the bank declares the cbpii role, and may refuse this TPP cbpii access", roles(psd2))
	case c.Name == profile.ClientSecond && s.p.HasRole(profile.RoleCBPII) && psd2 != nil && !hasIC:
		s.add(Warn, field, "the certificate's PSD2 roles are %s, without PSP_IC: the bank declares the cbpii role, and the check that a cbpii token is bound to its TPP's certificate (BEARER-06) needs a second TPP with PSP_IC; it will be skipped", roles(psd2))
	}

	if c.Name == profile.ClientExpired {
		if !s.now.After(leaf.NotAfter) {
			s.add(Fail, field, "the certificate is not expired (valid until %s): clients.expired needs an expired certificate", day(leaf.NotAfter))
		}
	} else {
		s.validity(Fail, field, "the certificate", leaf)
	}
	for i, der := range c.TLSCert.Certificate[min(1, len(c.TLSCert.Certificate)):] {
		if ca, err := x509.ParseCertificate(der); err == nil {
			s.validity(Fail, field, fmt.Sprintf("chain certificate %d (%s)", i+2, ca.Subject), ca)
		}
	}

	if !clientAuthAllowed(leaf) {
		s.add(Fail, field, "the certificate's extended key usage (%s) lacks clientAuth: banks refuse it for mutual TLS", extKeyUsages(leaf))
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		s.add(Warn, field, "the certificate's key usage lacks digitalSignature, which a TLS client certificate needs to sign the handshake")
	}

	if len(s.out) == start {
		s.add(OK, "clients."+c.Name, "client_id %s, certificate %s", c.ClientID, eidas.Describe(leaf))
	}
}

// pair checks that second is another TPP than primary.
func (s *statics) pair() {
	a, b := s.p.Clients.Primary, s.p.Clients.Second
	if a == nil || b == nil {
		return
	}
	if a.ClientID == b.ClientID {
		s.add(Fail, "clients.second.client_id", "same client_id as clients.primary (%s): the second TPP must be another registered client, to check that codes and tokens are bound to their client", a.ClientID)
	}
	if a.Leaf != nil && b.Leaf != nil && bytes.Equal(a.Leaf.Raw, b.Leaf.Raw) {
		s.add(Fail, certField(b), "the same certificate as clients.primary: the second TPP needs its own")
	}
}

// clientAuthAllowed follows crypto/x509: no extended key usage at all allows any usage.
func clientAuthAllowed(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

func extKeyUsages(c *x509.Certificate) string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
		x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageTimeStamping: "timeStamping", x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
	}
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("usage %d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out = append(out, oid.String())
	}
	return strings.Join(out, ", ")
}

func roles(p *eidas.PSD2) string {
	if len(p.Roles) == 0 {
		return "none"
	}
	rs := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		rs[i] = string(r)
	}
	return strings.Join(rs, ",")
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// daysLeft says how long until t, in whole days ("0 days" on its last day).
func daysLeft(now, t time.Time) string {
	d := int(t.Sub(now) / (24 * time.Hour))
	if d == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", d)
}
