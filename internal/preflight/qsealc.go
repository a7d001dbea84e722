package preflight

import (
	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

// qsealc checks a client's QSealC against what a bank verifies (STET Part I 3.5, and the
// bank-side checks Airlock lists): a qualified seal certificate (QcType eseal), valid now,
// issued to the same TPP as the client's QWAC. Its key was matched to it at load.
func (s *statics) qsealc(c *profile.Client) {
	q := c.QSealC
	if q == nil {
		return
	}
	field := "clients." + c.Name + ".qsealc.certificate"
	if q.PKCS12 != "" {
		field = "clients." + c.Name + ".qsealc.pkcs12"
	}
	leaf := q.Leaf
	if leaf == nil {
		s.add(Fail, field, "no QSealC is loaded for this client")
		return
	}
	problems := 0
	fail := func(format string, args ...any) {
		s.add(Fail, field, format, args...)
		problems++
	}
	switch {
	case s.now.After(leaf.NotAfter):
		fail("the QSealC expired on %s: the bank refuses what it signs", leaf.NotAfter.Format("2006-01-02"))
	case s.now.Before(leaf.NotBefore):
		fail("the QSealC is not valid before %s", leaf.NotBefore.Format("2006-01-02"))
	}
	if !eidas.IsQSealC(leaf) {
		fail("the certificate %s is not a QSealC: it lacks the QcCompliance and QcType eseal statements (ETSI EN 319 412-5)", eidas.Describe(leaf))
	}
	org, qwacOrg := eidas.OrganizationIdentifier(leaf), c.OrganizationIdentifier()
	if org != qwacOrg {
		fail("organizationIdentifier %q is not the QWAC's %q: a bank accepts a signature only from the TPP of the connection's QWAC", org, qwacOrg)
	}
	if problems == 0 {
		s.add(OK, field, "QSealC %s, published at %s", eidas.Describe(leaf), q.KeyID)
	}
	if s.p.Signing == nil {
		s.add(Warn, field, "the profile declares no signing: section, so this QSealC signs nothing")
	}
}

// signing reports what the profile says about signed requests.
func (s *statics) signing() {
	sg := s.p.Signing
	if sg == nil {
		return
	}
	what := "resource calls"
	if sg.SignsTokenRequests() {
		what += " and token requests"
	}
	req := ""
	if sg.Required {
		req = "; the bank refuses unsigned requests (SIG-01 is checked)"
	}
	s.add(OK, "signing", "%s signed with %s over %v%s", what, sg.Algorithm, sg.Headers, req)
}
