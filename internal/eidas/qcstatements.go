package eidas

import (
	"encoding/asn1"
	"fmt"
)

// qcStatement is RFC 3739 QCStatement ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL }.
// A zero Info is omitted when marshalled and left zero when absent on parsing.
type qcStatement struct {
	ID   asn1.ObjectIdentifier
	Info asn1.RawValue `asn1:"optional"`
}

// psd2QcType is ETSI TS 119 495 PSD2QcType ::= SEQUENCE { rolesOfPSP, nCAName, nCAId }.
// The utf8 tags are needed because encoding/asn1 would otherwise emit PrintableString,
// while the standard says UTF8String. Parsing accepts either.
type psd2QcType struct {
	Roles   []roleOfPSP
	NCAName string `asn1:"utf8"`
	NCAID   string `asn1:"utf8"`
}

// roleOfPSP is RoleOfPSP ::= SEQUENCE { roleOfPspOid OID, roleOfPspName UTF8String }.
type roleOfPSP struct {
	OID  asn1.ObjectIdentifier
	Name string `asn1:"utf8"`
}

// marshalQCStatements encodes the value of a QWAC's qcStatements extension: QcCompliance,
// QcType web and, when p is not nil, the PSD2 statement.
func marshalQCStatements(p *PSD2) ([]byte, error) {
	return marshalQCStatementsOfType(OIDQcTypeWeb, p)
}

// marshalQCStatementsOfType is marshalQCStatements for another QcType (a QSealC's eseal).
func marshalQCStatementsOfType(qcTypeOID asn1.ObjectIdentifier, p *PSD2) ([]byte, error) {
	qcType, err := asn1.Marshal([]asn1.ObjectIdentifier{qcTypeOID})
	if err != nil {
		return nil, fmt.Errorf("eidas: encoding QcType: %w", err)
	}
	stmts := []qcStatement{
		{ID: OIDQcCompliance},
		{ID: OIDQcType, Info: asn1.RawValue{FullBytes: qcType}},
	}
	if p != nil {
		info, err := marshalPSD2(p)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, qcStatement{ID: OIDPSD2Statement, Info: asn1.RawValue{FullBytes: info}})
	}
	der, err := asn1.Marshal(stmts)
	if err != nil {
		return nil, fmt.Errorf("eidas: encoding qcStatements: %w", err)
	}
	return der, nil
}

// marshalPSD2 encodes the PSD2QcType of p.
func marshalPSD2(p *PSD2) ([]byte, error) {
	if len(p.Roles) == 0 {
		return nil, fmt.Errorf("eidas: PSD2 statement needs at least one role, found none")
	}
	if p.NCAName == "" || p.NCAID == "" {
		return nil, fmt.Errorf("eidas: PSD2 statement needs an NCA name and id, found name %q id %q", p.NCAName, p.NCAID)
	}
	v := psd2QcType{NCAName: p.NCAName, NCAID: p.NCAID}
	for _, r := range p.Roles {
		oid, ok := RoleOID(r)
		if !ok {
			return nil, fmt.Errorf("eidas: expected a PSD2 role (PSP_AS, PSP_PI, PSP_AI, PSP_IC), found %q", r)
		}
		v.Roles = append(v.Roles, roleOfPSP{OID: oid, Name: string(r)})
	}
	der, err := asn1.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("eidas: encoding PSD2 statement: %w", err)
	}
	return der, nil
}

// parseQCStatements decodes the value of a qcStatements extension.
func parseQCStatements(der []byte) ([]qcStatement, error) {
	var stmts []qcStatement
	rest, err := asn1.Unmarshal(der, &stmts)
	if err != nil {
		return nil, fmt.Errorf("eidas: qcStatements is not a SEQUENCE OF QCStatement: %w", err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("eidas: qcStatements has %d trailing bytes", len(rest))
	}
	return stmts, nil
}

// parsePSD2Info decodes a PSD2 statement's statementInfo. A role is named by its OID; an
// unknown OID keeps the name the certificate gives, so that it is still shown.
func parsePSD2Info(info asn1.RawValue) (*PSD2, error) {
	if len(info.FullBytes) == 0 {
		return nil, fmt.Errorf("eidas: PSD2 statement has no statementInfo, expected PSD2QcType")
	}
	var v psd2QcType
	rest, err := asn1.Unmarshal(info.FullBytes, &v)
	if err != nil {
		return nil, fmt.Errorf("eidas: PSD2 statementInfo is not a PSD2QcType: %w", err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("eidas: PSD2 statementInfo has %d trailing bytes", len(rest))
	}
	p := &PSD2{NCAName: v.NCAName, NCAID: v.NCAID}
	for _, r := range v.Roles {
		role, ok := roleForOID(r.OID)
		if !ok {
			role = Role(r.Name)
		}
		p.Roles = append(p.Roles, role)
	}
	return p, nil
}

// qcTypeHasWeb reports whether a QcType statementInfo (SEQUENCE OF OID) lists QcType web.
func qcTypeHasWeb(info asn1.RawValue) bool { return qcTypeHas(info, OIDQcTypeWeb) }

// qcTypeHas reports whether a QcType statementInfo (SEQUENCE OF OID) lists want.
func qcTypeHas(info asn1.RawValue, want asn1.ObjectIdentifier) bool {
	var types []asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(info.FullBytes, &types); err != nil {
		return false
	}
	for _, t := range types {
		if t.Equal(want) {
			return true
		}
	}
	return false
}
