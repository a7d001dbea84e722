package profile

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stetconform/stetconform/internal/eidas"

	"software.sslmate.com/src/go-pkcs12"
)

// profileDir is the folder relative paths in the profile at path are resolved against,
// made absolute so that resolved paths stay valid if the working directory changes.
func profileDir(path string) string {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// loadFiles resolves the profile's paths against baseDir and loads the CA bundle and the
// clients' certificates and keys.
func (c *checker) loadFiles(p *Profile, baseDir string) {
	if p.TLS.CA != "" {
		if data, ok := c.readFile("tls.ca", &p.TLS.CA, baseDir); ok {
			pool, err := parseCAPool(data)
			if err != nil {
				c.addAt("tls.ca", "%s: %v", p.TLS.CA, err)
			} else {
				p.RootCAs = pool
			}
		}
	}
	for _, s := range p.clientSlots() {
		if s.client != nil {
			c.loadClient("clients."+s.name, s.client, baseDir)
			if s.client.QSealC != nil {
				c.loadQSealC("clients."+s.name+".qsealc", s.client.QSealC, baseDir)
			}
		}
	}
}

// readFile resolves *path against baseDir (writing the resolved path back) and reads it.
func (c *checker) readFile(field string, path *string, baseDir string) ([]byte, bool) {
	orig := *path
	resolved := orig
	if !filepath.IsAbs(orig) {
		resolved = filepath.Join(baseDir, orig)
	}
	*path = resolved
	data, err := os.ReadFile(resolved)
	if err == nil {
		return data, true
	}
	where := orig
	if resolved != orig {
		where = fmt.Sprintf("%s (resolved to %s)", orig, resolved)
	}
	if errors.Is(err, fs.ErrNotExist) {
		c.addAt(field, "file %s does not exist", where)
	} else {
		c.addAt(field, "file %s cannot be read: %s", where, pathErrText(err))
	}
	return nil, false
}

// pathErrText is an os error without the path it repeats.
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, fs.ErrNotExist) {
			return "file does not exist"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

func parseCAPool(data []byte) (*x509.CertPool, error) {
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool, nil
}

// ParseCertificates reads every CERTIFICATE block of a PEM file, in order.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	return eidas.ParseCertificates(data)
}

func (c *checker) loadClient(prefix string, cl *Client, baseDir string) {
	switch {
	case cl.PKCS12 != "" && cl.Certificate == "" && cl.Key == "":
		c.loadPKCS12(prefix, cl, baseDir)
	case cl.PKCS12 == "" && cl.Certificate != "" && cl.Key != "":
		c.loadPEMPair(prefix, cl, baseDir)
	}
	// Other combinations were reported by validate.
}

func (c *checker) loadPEMPair(prefix string, cl *Client, baseDir string) {
	certPEM, certOK := c.readFile(prefix+".certificate", &cl.Certificate, baseDir)
	keyPEM, keyOK := c.readFile(prefix+".key", &cl.Key, baseDir)
	if !certOK || !keyOK {
		return
	}
	chain, err := ParseCertificates(certPEM)
	if err != nil {
		c.addAt(prefix+".certificate", "%s: %v", cl.Certificate, err)
		return
	}
	if problem := keyPEMProblem(keyPEM); problem != "" {
		c.addAt(prefix+".key", "%s: %s", cl.Key, problem)
		return
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			c.addAt(prefix+".key", "the key in %s does not match the certificate in %s (their public keys differ)", cl.Key, cl.Certificate)
		} else {
			c.addAt(prefix+".key", "%s: %s", cl.Key, strings.TrimPrefix(err.Error(), "tls: "))
		}
		return
	}
	if pair.Leaf == nil {
		pair.Leaf = chain[0]
	}
	cl.TLSCert = pair
	cl.Leaf = pair.Leaf
}

// keyPEMProblem explains the key files tls.X509KeyPair would refuse with a vague message.
func keyPEMProblem(data []byte) string {
	sawCert := false
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
			return "the key is encrypted, which is not supported: give an unencrypted PEM key, or pkcs12 with pkcs12_password"
		case block.Type == "CERTIFICATE":
			sawCert = true
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			return ""
		}
	}
	if sawCert {
		return "found a certificate, expected a private key (-----BEGIN PRIVATE KEY-----)"
	}
	return "no private key found: expected a PEM block such as -----BEGIN PRIVATE KEY-----, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY"
}

func (c *checker) loadPKCS12(prefix string, cl *Client, baseDir string) {
	data, ok := c.readFile(prefix+".pkcs12", &cl.PKCS12, baseDir)
	if !ok {
		return
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, cl.PKCS12Password)
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		c.addAt(prefix+".pkcs12_password", "does not open %s (wrong or missing password)", cl.PKCS12)
		return
	}
	if err != nil {
		c.addAt(prefix+".pkcs12", "%s: %v", cl.PKCS12, err)
		return
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		c.addAt(prefix+".pkcs12", "%s: the private key (%T) cannot sign", cl.PKCS12, key)
		return
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		c.addAt(prefix+".pkcs12", "%s: the private key does not match the certificate (their public keys differ)", cl.PKCS12)
		return
	}
	chain := [][]byte{leaf.Raw}
	for _, ca := range cas {
		chain = append(chain, ca.Raw)
	}
	cl.TLSCert = tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}
	cl.Leaf = leaf
}
