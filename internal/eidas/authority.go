package eidas

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Authority is a test CA (a stand-in for a QTSP).
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// KeyPair is an issued certificate and its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// QWACRequest says what to put in a QWAC. OrganizationIdentifier may be empty (then the
// subject has none) and PSD2 may be nil (then there is no PSD2 statement), to build
// certificates a bank must reject.
type QWACRequest struct {
	CommonName             string
	Organization           string
	Country                string
	OrganizationIdentifier string
	PSD2                   *PSD2
	NotBefore, NotAfter    time.Time
	DNSNames               []string
}

// newKey makes an ECDSA P-256 key: fast to generate, and accepted by Go TLS and OpenSSL.
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("eidas: generating P-256 key: %w", err)
	}
	return k, nil
}

// newSerial returns a random positive 128-bit serial number, so that certificates from
// different runs never collide in a client's or a bank's cache.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("eidas: generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func checkValidity(notBefore, notAfter time.Time) error {
	if notBefore.IsZero() || notAfter.IsZero() || !notAfter.After(notBefore) {
		return fmt.Errorf("eidas: expected notBefore < notAfter, found %s .. %s",
			notBefore.UTC().Format(time.RFC3339), notAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// NewAuthority makes a self-signed root CA with a fresh P-256 key.
func NewAuthority(commonName string, notBefore, notAfter time.Time) (*Authority, error) {
	if commonName == "" {
		return nil, errors.New("eidas: expected a CA common name, found empty")
	}
	if err := checkValidity(notBefore, notAfter); err != nil {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   commonName,
			Organization: []string{"stetconform test QTSP"},
			Country:      []string{"FR"},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Leaves are issued directly by the root, so no intermediate is ever allowed.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("eidas: self-signing CA %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("eidas: parsing new CA %q: %w", commonName, err)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// issue signs tmpl for a fresh key and returns the pair.
func (a *Authority) issue(tmpl *x509.Certificate) (*KeyPair, error) {
	if a == nil || a.Cert == nil || a.Key == nil {
		return nil, errors.New("eidas: expected an authority with certificate and key, found none")
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		return nil, fmt.Errorf("eidas: signing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("eidas: parsing new certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// splitHosts puts IP literals into IP SANs and everything else into DNS SANs.
func splitHosts(hosts []string) (dns []string, ips []net.IP) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// IssueQWAC issues a QWAC: serverAuth and clientAuth extended key usages (Go's TLS server
// checks clientAuth on client certificates), the qcStatements extension (QcCompliance,
// QcType web, and the PSD2 statement when req.PSD2 is not nil), and the QCP-w policy.
// Entries of req.DNSNames that are IP literals become IP SANs.
func (a *Authority) IssueQWAC(req QWACRequest) (*KeyPair, error) {
	if req.CommonName == "" {
		return nil, errors.New("eidas: expected a QWAC common name, found empty")
	}
	if err := checkValidity(req.NotBefore, req.NotAfter); err != nil {
		return nil, err
	}
	qc, err := marshalQCStatements(req.PSD2)
	if err != nil {
		return nil, err
	}
	// Go >= 1.24 encodes Policies and ignores PolicyIdentifiers.
	qcpw, err := x509.OIDFromInts(oidInts(OIDPolicyQCPWeb))
	if err != nil {
		return nil, fmt.Errorf("eidas: QCP-w policy OID: %w", err)
	}
	dns, ips := splitHosts(req.DNSNames)
	return a.issue(&x509.Certificate{
		Subject:               req.subject(),
		NotBefore:             req.NotBefore,
		NotAfter:              req.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
		Policies:              []x509.OID{qcpw},
		ExtraExtensions:       []pkix.Extension{{Id: OIDQCStatements, Value: qc}},
	})
}

// subject is the TPP's name in its QWAC and its QSealC alike: common name, organization,
// country and the organizationIdentifier (the PSD2 Authorization Number).
func (req QWACRequest) subject() pkix.Name {
	subject := pkix.Name{CommonName: req.CommonName}
	if req.Organization != "" {
		subject.Organization = []string{req.Organization}
	}
	if req.Country != "" {
		subject.Country = []string{req.Country}
	}
	if req.OrganizationIdentifier != "" {
		subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: OIDOrganizationIdentifier, Value: req.OrganizationIdentifier}}
	}
	return subject
}

// IssueQSealC issues a QSealC, the certificate a TPP seals (signs) its requests with: the
// same subject and PSD2 statement as its QWAC, QcType eseal, the QCP-l policy, and key
// usages for signatures only (no serverAuth, no clientAuth: it is not for TLS).
func (a *Authority) IssueQSealC(req QWACRequest) (*KeyPair, error) {
	if req.CommonName == "" {
		return nil, errors.New("eidas: expected a QSealC common name, found empty")
	}
	if err := checkValidity(req.NotBefore, req.NotAfter); err != nil {
		return nil, err
	}
	qc, err := marshalQCStatementsOfType(OIDQcTypeESeal, req.PSD2)
	if err != nil {
		return nil, err
	}
	qcpl, err := x509.OIDFromInts(oidInts(OIDPolicyQCPLegal))
	if err != nil {
		return nil, fmt.Errorf("eidas: QCP-l policy OID: %w", err)
	}
	return a.issue(&x509.Certificate{
		Subject:               req.subject(),
		NotBefore:             req.NotBefore,
		NotAfter:              req.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		Policies:              []x509.OID{qcpl},
		ExtraExtensions:       []pkix.Extension{{Id: OIDQCStatements, Value: qc}},
	})
}

// IssueServer issues a TLS server certificate for hosts (IP literals or DNS names); the
// first host is also the common name.
func (a *Authority) IssueServer(hosts []string, notBefore, notAfter time.Time) (*KeyPair, error) {
	if len(hosts) == 0 {
		return nil, errors.New("eidas: expected at least one server host, found none")
	}
	if err := checkValidity(notBefore, notAfter); err != nil {
		return nil, err
	}
	dns, ips := splitHosts(hosts)
	return a.issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"stetconform reference bank"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	})
}

func oidInts(oid []int) []uint64 {
	out := make([]uint64, len(oid))
	for i, v := range oid {
		out[i] = uint64(v)
	}
	return out
}

func certPEM(c *x509.Certificate) []byte {
	if c == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// CertPEM returns the CA certificate in PEM.
func (a *Authority) CertPEM() []byte { return certPEM(a.Cert) }

// CertPEM returns the certificate (only; not the CA) in PEM.
func (k *KeyPair) CertPEM() []byte { return certPEM(k.Cert) }

// KeyPEM returns the private key as PKCS#8 "PRIVATE KEY" PEM, or nil when the key type
// cannot be marshalled (never for keys made by this package).
func (k *KeyPair) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TLSCertificate returns the pair for tls.Config.Certificates. The chain is the leaf only:
// the peer is expected to trust the issuing root directly.
func (k *KeyPair) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{k.Cert.Raw}, PrivateKey: k.Key, Leaf: k.Cert}
}
