package eidas

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// OrganizationIdentifier returns the subject's organizationIdentifier (2.5.4.97), or "" when
// absent. It reads Subject.Names, which holds every parsed attribute whether encoded as
// PrintableString or UTF8String; Subject.String() would print it as hex instead.
func OrganizationIdentifier(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(OIDOrganizationIdentifier) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// findQCStatements returns the certificate's QC statements; ok is false when it has no
// qcStatements extension.
func findQCStatements(c *x509.Certificate) (stmts []qcStatement, ok bool, err error) {
	for _, ext := range c.Extensions {
		if ext.Id.Equal(OIDQCStatements) {
			stmts, err := parseQCStatements(ext.Value)
			return stmts, true, err
		}
	}
	return nil, false, nil
}

// ParsePSD2 returns the certificate's PSD2 QCStatement. It returns ErrNoPSD2Statement when
// the certificate has no qcStatements extension or none of its statements is PSD2, and
// another error when the extension or the statement is malformed.
func ParsePSD2(c *x509.Certificate) (*PSD2, error) {
	if c == nil {
		return nil, errors.New("eidas: expected a certificate, found nil")
	}
	stmts, ok, err := findQCStatements(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoPSD2Statement
	}
	for _, s := range stmts {
		if s.ID.Equal(OIDPSD2Statement) {
			return parsePSD2Info(s.Info)
		}
	}
	return nil, ErrNoPSD2Statement
}

// HasRole reports whether the certificate's PSD2 statement grants role r. A certificate
// without a (well-formed) PSD2 statement has no role.
func HasRole(c *x509.Certificate, r Role) bool {
	p, err := ParsePSD2(c)
	if err != nil {
		return false
	}
	for _, got := range p.Roles {
		if got == r {
			return true
		}
	}
	return false
}

// IsQWAC reports whether the certificate declares itself a qualified website authentication
// certificate: a QcCompliance statement and a QcType statement listing web.
func IsQWAC(c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	stmts, _, err := findQCStatements(c)
	if err != nil {
		return false
	}
	var compliant, web bool
	for _, s := range stmts {
		switch {
		case s.ID.Equal(OIDQcCompliance):
			compliant = true
		case s.ID.Equal(OIDQcType):
			web = qcTypeHasWeb(s.Info)
		}
	}
	return compliant && web
}

// IsQSealC reports whether c declares itself a qualified certificate for electronic seals:
// QcCompliance and QcType eseal (ETSI EN 319 412-5).
func IsQSealC(c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	stmts, _, err := findQCStatements(c)
	if err != nil {
		return false
	}
	var compliant, eseal bool
	for _, s := range stmts {
		switch {
		case s.ID.Equal(OIDQcCompliance):
			compliant = true
		case s.ID.Equal(OIDQcType):
			eseal = qcTypeHas(s.Info, OIDQcTypeESeal)
		}
	}
	return compliant && eseal
}

// Describe gives a one-line human description of a certificate for logs and reports, e.g.
// "PSDFR-ACPR-12345 (Test TPP A SAS; roles PSP_AI,PSP_IC; expires 2027-11-21)". It names the
// certificate by organizationIdentifier, else by common name, else by serial number.
func Describe(c *x509.Certificate) string {
	if c == nil {
		return "(no certificate)"
	}
	name := OrganizationIdentifier(c)
	if name == "" {
		name = c.Subject.CommonName
	}
	if name == "" {
		name = "serial " + c.SerialNumber.Text(16)
	}
	var parts []string
	if len(c.Subject.Organization) > 0 {
		parts = append(parts, strings.Join(c.Subject.Organization, ", "))
	}
	p, err := ParsePSD2(c)
	switch {
	case err == nil:
		roles := make([]string, len(p.Roles))
		for i, r := range p.Roles {
			roles[i] = string(r)
		}
		parts = append(parts, "roles "+strings.Join(roles, ","))
	case errors.Is(err, ErrNoPSD2Statement):
		parts = append(parts, "no PSD2 roles")
	default:
		parts = append(parts, "malformed PSD2 statement")
	}
	parts = append(parts, "expires "+c.NotAfter.UTC().Format(time.DateOnly))
	return fmt.Sprintf("%s (%s)", name, strings.Join(parts, "; "))
}

// VerifyClient checks a client certificate chain (leaf first, then any intermediates, as in
// tls.ConnectionState.PeerCertificates) against roots at time now, for client authentication
// (ExtKeyUsageClientAuth).
func VerifyClient(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 || chain[0] == nil {
		return errors.New("eidas: expected a client certificate chain, found none")
	}
	if roots == nil {
		return errors.New("eidas: expected a pool of trusted roots, found nil")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("eidas: client certificate %s does not verify for client auth at %s: %w",
			Describe(chain[0]), now.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// ParseCertificates reads every CERTIFICATE block of a PEM file, in order: the one reader
// of PEM bundles for the profile (QWACs, tls.ca) and the browser driver (tls.ca).
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the file cannot be parsed: %v", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found: expected PEM blocks -----BEGIN CERTIFICATE-----")
	}
	return certs, nil
}
