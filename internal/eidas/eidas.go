// Package eidas generates and parses eIDAS qualified website authentication certificates
// (QWACs) as PSD2 third-party providers (TPPs) present them over mutual TLS: the subject's
// organizationIdentifier (the Authorization Number, e.g. PSDFR-ACPR-12345, which STET requires
// to equal client_id) and the ETSI TS 119 495 PSD2 QCStatement (roles, NCA name and id).
//
// It uses only the standard library (crypto/x509, encoding/asn1). The issuing side (Authority,
// TestPKI) builds a throw-away test PKI for the reference bank and the suite's own tests; the
// parsing side (OrganizationIdentifier, ParsePSD2, HasRole, VerifyClient) is what a bank does
// with a presented certificate.
package eidas

import (
	"encoding/asn1"
	"errors"
)

// OIDOrganizationIdentifier is the X.520 organizationIdentifier attribute (ETSI EN 319 412-1
// puts the PSD2 Authorization Number there, e.g. "PSDFR-ACPR-12345").
var OIDOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// OIDs of the certificate extension and statements a QWAC carries.
var (
	// OIDQCStatements is the qcStatements certificate extension (RFC 3739).
	OIDQCStatements = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}
	// OIDQcCompliance is the ETSI EN 319 412-5 statement that the certificate is qualified.
	OIDQcCompliance = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 1}
	// OIDQcType is the ETSI EN 319 412-5 statement that lists the certificate's purpose.
	OIDQcType = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6}
	// OIDQcTypeWeb is the QcType value for website authentication.
	OIDQcTypeWeb = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6, 3}
	// OIDPSD2Statement is the ETSI TS 119 495 PSD2 QCStatement.
	OIDPSD2Statement = asn1.ObjectIdentifier{0, 4, 0, 19495, 2}
	// OIDPolicyQCPWeb is the QCP-w certificate policy (ETSI EN 319 411-2).
	OIDPolicyQCPWeb = asn1.ObjectIdentifier{0, 4, 0, 194112, 1, 4}
	// OIDQcTypeESeal is the QcType value for electronic seals (a QSealC).
	OIDQcTypeESeal = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6, 2}
	// OIDPolicyQCPLegal is ETSI EN 319 411-2's QCP-l: qualified certificates for legal
	// persons, the policy of a QSealC.
	OIDPolicyQCPLegal = asn1.ObjectIdentifier{0, 4, 0, 194112, 1, 1}
)

// Role is a PSD2 role of a payment service provider, spelled as in ETSI TS 119 495.
type Role string

// The four PSD2 roles.
const (
	RolePSPAS Role = "PSP_AS" // account servicing (the bank itself)
	RolePSPPI Role = "PSP_PI" // payment initiation
	RolePSPAI Role = "PSP_AI" // account information
	RolePSPIC Role = "PSP_IC" // issuing of card-based payment instruments
)

// roleOIDs are the ETSI TS 119 495 role identifiers 0.4.0.19495.1.{1..4}.
var roleOIDs = map[Role]asn1.ObjectIdentifier{
	RolePSPAS: {0, 4, 0, 19495, 1, 1},
	RolePSPPI: {0, 4, 0, 19495, 1, 2},
	RolePSPAI: {0, 4, 0, 19495, 1, 3},
	RolePSPIC: {0, 4, 0, 19495, 1, 4},
}

// RoleOID returns the ETSI TS 119 495 object identifier of r, and false for an unknown role.
func RoleOID(r Role) (asn1.ObjectIdentifier, bool) {
	oid, ok := roleOIDs[r]
	return oid, ok
}

// roleForOID returns the role whose identifier is oid, and false when none is.
func roleForOID(oid asn1.ObjectIdentifier) (Role, bool) {
	for r, o := range roleOIDs {
		if o.Equal(oid) {
			return r, true
		}
	}
	return "", false
}

// PSD2 is the ETSI TS 119 495 PSD2 QCStatement (OID 0.4.0.19495.2): roles, NCA name and id.
type PSD2 struct {
	Roles   []Role
	NCAName string // national competent authority, e.g. "Autorite de Controle Prudentiel et de Resolution"
	NCAID   string // its identifier, e.g. "FR-ACPR"
}

// ErrNoPSD2Statement is returned by ParsePSD2 when a certificate carries no PSD2 QCStatement.
var ErrNoPSD2Statement = errors.New("eidas: certificate has no PSD2 QCStatement (0.4.0.19495.2)")
