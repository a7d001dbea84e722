package profile

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/stetconform/stetconform/internal/httpsig"
)

// Signing is how the bank wants requests signed (STET Part I section 3.5, "Applicative
// authentication"): with each TPP's QSealC (clients.<name>.qsealc), in the style of
// draft-cavage-http-signatures. Without it, no request is signed.
type Signing struct {
	// Required declares that the bank refuses unsigned API requests, and those signed with
	// another TPP's seal: checked (SIG-01).
	Required bool `yaml:"required"`
	// ResourceCalls signs calls to the bank's resources (default true).
	ResourceCalls *bool `yaml:"resource_calls,omitempty"`
	// TokenRequests signs POST /token as well (most STET banks do not ask for it).
	TokenRequests bool `yaml:"token_requests"`
	// Headers are the signed headers, lower case, pseudo-headers included; default
	// (request-target) date digest x-request-id. Each bank has its list.
	Headers []string `yaml:"headers"`
	// Algorithm is rsa-sha256 (default), hs2019 or ecdsa-sha256.
	Algorithm string `yaml:"algorithm"`
}

// SignsResourceCalls says whether resource calls are signed.
func (s *Signing) SignsResourceCalls() bool {
	return s != nil && (s.ResourceCalls == nil || *s.ResourceCalls)
}

// SignsTokenRequests says whether token requests are signed.
func (s *Signing) SignsTokenRequests() bool { return s != nil && s.TokenRequests }

// QSealC is a TPP's qualified certificate for electronic seals: the key its requests are
// signed with, and where the bank fetches the certificate (the signatures' keyId).
type QSealC struct {
	Certificate    string `yaml:"certificate,omitempty"` // PEM file
	Key            string `yaml:"key,omitempty"`         // PEM file
	PKCS12         string `yaml:"pkcs12,omitempty"`      // alternative to certificate+key
	PKCS12Password string `yaml:"pkcs12_password,omitempty"`
	KeyID          string `yaml:"key_id"` // the URL where the QSealC is published

	Cert tls.Certificate   `yaml:"-"` // the loaded certificate and key
	Leaf *x509.Certificate `yaml:"-"`
}

// Signer returns the signer of client c's requests (nil: c has no QSealC, or the profile
// declares no signing).
func (p *Profile) Signer(c *Client) *httpsig.Signer {
	if p.Signing == nil || c == nil || c.QSealC == nil || c.QSealC.Leaf == nil {
		return nil
	}
	key, ok := c.QSealC.Cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil
	}
	return &httpsig.Signer{KeyID: c.QSealC.KeyID, Key: key, Algorithm: p.Signing.Algorithm, Headers: p.Signing.Headers}
}

// signingClients are the clients whose requests must be signed where the bank declares
// signing: every client that calls the bank's resources.
var signingClients = []string{ClientPrimary, ClientSecond, ClientWithoutAISPRole, ClientWithoutCBPIIRole}

// checkSigning validates signing: and the clients' qsealc sections.
func (c *checker) checkSigning(p *Profile) {
	for _, s := range p.clientSlots() {
		if s.client == nil {
			continue
		}
		prefix := "clients." + s.name + ".qsealc"
		q := s.client.QSealC
		if q == nil {
			if p.Signing != nil && slices.Contains(signingClients, s.name) {
				c.addAt("clients."+s.name, "needs a qsealc (certificate and key, or pkcs12, and key_id) because the profile declares signing: its requests to the bank's resources are signed with it")
			}
			continue
		}
		hasPEM := q.Certificate != "" || q.Key != ""
		switch {
		case q.PKCS12 != "" && hasPEM:
			c.addAt(prefix+".pkcs12", "use either certificate and key, or pkcs12, not both")
		case q.PKCS12 == "" && (q.Certificate == "" || q.Key == ""):
			c.addAt(prefix+".certificate", "is required: certificate and key (PEM files), or pkcs12, give the TPP's QSealC")
		}
		switch u, err := url.Parse(q.KeyID); {
		case q.KeyID == "":
			c.addAt(prefix+".key_id", "is required: the URL where the bank can fetch this QSealC (the keyId of the signatures)")
		case !c.expand && strings.Contains(q.KeyID, "${"):
		case err != nil || u.Scheme == "" || u.Host == "":
			c.addAt(prefix+".key_id", "expected the URL where the QSealC is published, such as https://tpp.example/certs/qsealc.pem, found %s", c.show(prefix+".key_id", q.KeyID))
		}
	}
	if p.Signing == nil {
		return
	}
	c.enum("signing.algorithm", &p.Signing.Algorithm, httpsig.RSASHA256, httpsig.RSASHA256, httpsig.HS2019, httpsig.ECDSASHA256)
	if len(p.Signing.Headers) == 0 {
		p.Signing.Headers = slices.Clone(httpsig.DefaultHeaders)
	}
	for i, h := range p.Signing.Headers {
		p.Signing.Headers[i] = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			c.addAt("signing.headers", "has an empty header name")
		}
	}
}

// loadQSealC loads a client's QSealC with the loaders of the QWACs.
func (c *checker) loadQSealC(prefix string, q *QSealC, baseDir string) {
	tmp := &Client{Certificate: q.Certificate, Key: q.Key, PKCS12: q.PKCS12, PKCS12Password: q.PKCS12Password}
	before := len(c.errs)
	c.loadClient(prefix, tmp, baseDir)
	q.Certificate, q.Key, q.PKCS12 = tmp.Certificate, tmp.Key, tmp.PKCS12
	if len(c.errs) > before || tmp.Leaf == nil {
		return
	}
	q.Cert, q.Leaf = tmp.TLSCert, tmp.Leaf
	if _, ok := q.Cert.PrivateKey.(crypto.Signer); !ok {
		c.addAt(prefix+".key", "the private key (%T) cannot sign", q.Cert.PrivateKey)
	}
}

// describeQSealC names a QSealC for findings.
func describeQSealC(q *QSealC) string {
	if q == nil || q.Leaf == nil {
		return "no QSealC"
	}
	return fmt.Sprintf("%s (key_id %s)", q.Leaf.Subject.CommonName, q.KeyID)
}
