// Package seal signs a report.json with a certificate's key (the TPP's QSealC fits) into a
// detached JWS carrying the certificate chain, and verifies one: proof that a report is
// the one an unmodified run wrote, and whose key sealed it.
package seal

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/stetconform/stetconform/internal/eidas"
)

// Suffix is appended to the signed file's name: report.json -> report.json.jws.
const Suffix = ".jws"

// headerSignedAt is the protected header with the signing time (seconds since 1970), the
// claim "iat" of RFC 7519 section 4.1.6 carried as a header (section 5.3).
const headerSignedAt = jose.HeaderKey("iat")

// algorithms are those a seal is made and accepted with: one per key type.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// Signer seals files with a certificate's private key.
type Signer struct {
	cert  tls.Certificate
	leaf  *x509.Certificate
	alg   jose.SignatureAlgorithm
	clock func() time.Time
}

// NewSigner is a signer for cert, whose Certificate chain goes into the x5c header.
func NewSigner(cert tls.Certificate) (*Signer, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate to sign with")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("the signing certificate cannot be parsed: %w", err)
		}
	}
	alg, err := algorithmFor(cert.PrivateKey)
	if err != nil {
		return nil, err
	}
	return &Signer{cert: cert, leaf: leaf, alg: alg, clock: time.Now}, nil
}

// algorithmFor chooses the JWS algorithm of a key: RS256 for RSA (what every JOSE
// verifier reads), ES256/384/512 by curve, EdDSA for Ed25519.
func algorithmFor(key crypto.PrivateKey) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", fmt.Errorf("the signing key's curve %s has no JWS algorithm", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("the signing key (%T) has no JWS algorithm: use an RSA, ECDSA or Ed25519 key", key)
}

// Who names the signer: its subject and organizationIdentifier.
func (s *Signer) Who() string { return who(s.leaf) }

// Sign returns the detached compact JWS (header..signature) of payload.
func (s *Signer) Sign(payload []byte) (string, error) {
	x5c := make([]string, len(s.cert.Certificate))
	for i, der := range s.cert.Certificate {
		x5c[i] = base64.StdEncoding.EncodeToString(der) // RFC 7515 4.1.6: standard base64
	}
	opts := (&jose.SignerOptions{}).WithHeader("x5c", x5c).WithHeader(headerSignedAt, s.clock().Unix())
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.cert.PrivateKey}, opts)
	if err != nil {
		return "", fmt.Errorf("preparing the signature: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return obj.DetachedCompactSerialize()
}

// SignFile writes path+Suffix, the detached JWS of the file at path, and returns its path.
func (s *Signer) SignFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("signing %s: %w", path, err)
	}
	jws, err := s.Sign(data)
	if err != nil {
		return "", fmt.Errorf("signing %s: %w", path, err)
	}
	out := path + Suffix
	if err := os.WriteFile(out, []byte(jws+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", out, err)
	}
	return out, nil
}

// Sealed is what a valid seal says.
type Sealed struct {
	Signer                 *x509.Certificate // the leaf of the chain
	Chain                  []*x509.Certificate
	Subject                string // the signer's distinguished name
	OrganizationIdentifier string // eIDAS organizationIdentifier, "" when absent
	SignedAt               time.Time
	Algorithm              string
}

// Who is "CN=..., O=... (organizationIdentifier PSDFR-ACPR-12345)".
func (s *Sealed) Who() string { return who(s.Signer) }

// ErrInvalid is wrapped by every error that means "this seal does not prove the file":
// a changed byte, another key, a chain the CA did not issue.
var ErrInvalid = errors.New("the seal does not verify")

// Verify checks the detached JWS jws over payload: the signature with the key of the
// certificate in x5c, then that certificate's chain against roots at the signing time
// (a seal stays valid after its certificate expires, not if it was made after). A nil
// roots uses the system's roots.
func Verify(payload []byte, jws string, roots *x509.CertPool) (*Sealed, error) {
	obj, err := jose.ParseDetached(strings.TrimSpace(jws), payload, algorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: not a detached JWS of this project's algorithms: %v", ErrInvalid, err)
	}
	if len(obj.Signatures) != 1 {
		return nil, fmt.Errorf("%w: expected one signature, found %d", ErrInvalid, len(obj.Signatures))
	}
	h := obj.Signatures[0].Protected
	leaf, all, err := x5c(jws)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// The signature first, with the key the JWS names: whether the bytes are those sealed.
	if _, err := obj.Verify(leaf.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: the signature does not match the file (a changed byte, or another key): %v", ErrInvalid, err)
	}
	s := &Sealed{Signer: leaf, Chain: all, Subject: subject(leaf), OrganizationIdentifier: eidas.OrganizationIdentifier(leaf), Algorithm: h.Algorithm}
	if v, ok := h.ExtraHeaders[headerSignedAt].(float64); ok {
		s.SignedAt = time.Unix(int64(v), 0).UTC()
	} else {
		return nil, fmt.Errorf("%w: the JWS has no signing time (iat)", ErrInvalid)
	}
	inter := x509.NewCertPool()
	for _, c := range all[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: s.SignedAt,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return s, fmt.Errorf("%w: the signature is intact, but the certificate of %s does not chain to the CA given (at the signing time, %s): %v",
			ErrInvalid, s.Who(), s.SignedAt.Format(time.RFC3339), err)
	}
	return s, nil
}

// x5c returns the certificates of the JWS's x5c header, leaf first. go-jose hands them
// out only through its own chain check; reading them here keeps the two checks (the
// signature, then the chain at the signing time) apart, with their own messages.
func x5c(jws string) (*x509.Certificate, []*x509.Certificate, error) {
	seg, _, _ := strings.Cut(strings.TrimSpace(jws), ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, nil, fmt.Errorf("the JWS header is not base64url: %v", err)
	}
	var hdr struct {
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return nil, nil, fmt.Errorf("the JWS header is not JSON: %v", err)
	}
	if len(hdr.X5C) == 0 {
		return nil, nil, errors.New("the JWS carries no certificate (x5c)")
	}
	var chain []*x509.Certificate
	for i, b := range hdr.X5C {
		der, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			return nil, nil, fmt.Errorf("x5c[%d] is not base64: %v", i, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("x5c[%d] is not a certificate: %v", i, err)
		}
		chain = append(chain, c)
	}
	return chain[0], chain, nil
}

func who(c *x509.Certificate) string {
	if c == nil {
		return "(no certificate)"
	}
	s := subject(c)
	if id := eidas.OrganizationIdentifier(c); id != "" {
		s += " (organizationIdentifier " + id + ")"
	}
	return s
}

// subject is the certificate's distinguished name without the organizationIdentifier,
// which pkix prints as a hex OID and who() names in words.
func subject(c *x509.Certificate) string {
	n := c.Subject
	n.ExtraNames, n.Names = nil, nil
	return n.String()
}
