package profile

import (
	"crypto/tls"
	"strings"
)

// LoadKeyPair loads a certificate (with its chain) and its private key as a client's are
// loaded, for keys that live outside a profile (the report's seal, --sign-key): PEM
// certificate and key files, or a PKCS#12 file (certFile and keyFile empty) opened with
// password. names maps the fields "certificate", "key", "pkcs12" and "pkcs12_password"
// to what the user typed (a flag, an environment variable) for the messages.
func LoadKeyPair(certFile, keyFile, p12File, password string, names map[string]string) (tls.Certificate, error) {
	c := newChecker("", false)
	cl := &Client{Certificate: certFile, Key: keyFile, PKCS12: p12File, PKCS12Password: password}
	c.loadClient("x", cl, ".")
	if len(c.errs) > 0 {
		for _, e := range c.errs {
			if n, ok := names[strings.TrimPrefix(e.Field, "x.")]; ok {
				e.Field = n
			}
		}
		return tls.Certificate{}, c.result()
	}
	return cl.TLSCert, nil
}
