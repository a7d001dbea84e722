// Package httpsig signs and verifies HTTP requests the way STET banks ask (Part I section
// 3.5, "Applicative authentication"): a Digest header (SHA-256, also of an empty body) and a
// Signature header in the style of draft-cavage-http-signatures, made with the TPP's
// QSealC key, whose keyId is the URL where the QSealC is published. Banks differ in the
// headers they sign (BPCE: date digest x-request-id; CIC: host date content-type
// x-request-id digest psu-ip-address; BNP Paribas Fortis: draft-12's (created) and
// (expires)), so the list is the caller's.
package httpsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Algorithms this package signs and verifies with.
const (
	RSASHA256   = "rsa-sha256"   // RSASSA-PKCS1-v1_5 with SHA-256: what STET banks' examples use
	HS2019      = "hs2019"       // draft-12: the algorithm comes from the key (RSA: PSS with SHA-512)
	ECDSASHA256 = "ecdsa-sha256" // an EC QSealC
)

// DefaultHeaders is what is signed when a bank says nothing more: the request target, the
// date, the body's digest and the request ID.
var DefaultHeaders = []string{"(request-target)", "date", "digest", "x-request-id"}

// Signer signs requests with one key.
type Signer struct {
	KeyID     string        // the URL where the signing certificate (QSealC) is published
	Key       crypto.Signer // its private key
	Algorithm string        // RSASHA256 (default), HS2019 or ECDSASHA256
	Headers   []string      // lower-case names, pseudo-headers included; default DefaultHeaders
	// Expires is the validity of a signature that signs (expires) (default 60 s, as BNP
	// Paribas Fortis uses).
	Expires time.Duration
	Now     func() time.Time // default time.Now
}

// Digest is the Digest header of body: SHA-256, base64 (RFC 3230), also for an empty body.
func Digest(body []byte) string {
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// Sign adds Digest (of body, which must be the request's body as sent), Date when absent,
// and the Signature header. Every header to sign must be on the request by then, except
// Digest, Date and Host, which Sign knows.
func (s *Signer) Sign(req *http.Request, body []byte) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now()
	headers := s.Headers
	if len(headers) == 0 {
		headers = DefaultHeaders
	}
	alg := s.Algorithm
	if alg == "" {
		alg = RSASHA256
	}
	req.Header.Set("Digest", Digest(body))
	if req.Header.Get("Date") == "" {
		req.Header.Set("Date", t.UTC().Format(http.TimeFormat))
	}
	p := params{keyID: s.KeyID, algorithm: alg, headers: headers}
	if slices.Contains(headers, "(created)") {
		p.created = t.Unix()
	}
	if slices.Contains(headers, "(expires)") {
		exp := s.Expires
		if exp <= 0 {
			exp = time.Minute
		}
		p.expires = t.Add(exp).Unix()
	}
	str, err := signingString(req, p)
	if err != nil {
		return err
	}
	sig, err := sign(s.Key, alg, []byte(str))
	if err != nil {
		return err
	}
	p.signature = base64.StdEncoding.EncodeToString(sig)
	req.Header.Set("Signature", p.String())
	return nil
}

// params are the parameters of a Signature header.
type params struct {
	keyID, algorithm string
	headers          []string
	created, expires int64
	signature        string
}

func (p params) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `keyId="%s",algorithm="%s"`, p.keyID, p.algorithm)
	if p.created != 0 {
		fmt.Fprintf(&b, ",created=%d", p.created)
	}
	if p.expires != 0 {
		fmt.Fprintf(&b, ",expires=%d", p.expires)
	}
	fmt.Fprintf(&b, `,headers="%s",signature="%s"`, strings.Join(p.headers, " "), p.signature)
	return b.String()
}

// signingString is the text that is signed: one "name: value" line per signed header, in
// the order given (draft-cavage-http-signatures-12 section 2.3).
func signingString(req *http.Request, p params) (string, error) {
	lines := make([]string, 0, len(p.headers))
	for _, h := range p.headers {
		h = strings.ToLower(h)
		var v string
		switch h {
		case "(request-target)":
			v = strings.ToLower(req.Method) + " " + req.URL.RequestURI()
		case "(created)":
			if p.created == 0 {
				return "", errors.New("(created) is signed but the signature has no created parameter")
			}
			v = strconv.FormatInt(p.created, 10)
		case "(expires)":
			if p.expires == 0 {
				return "", errors.New("(expires) is signed but the signature has no expires parameter")
			}
			v = strconv.FormatInt(p.expires, 10)
		case "host":
			v = req.Host
			if v == "" {
				v = req.URL.Host
			}
		default:
			vals := req.Header.Values(h)
			if len(vals) == 0 {
				return "", fmt.Errorf("the header %s is to be signed but the request has none", h)
			}
			for i := range vals {
				vals[i] = strings.TrimSpace(vals[i])
			}
			v = strings.Join(vals, ", ")
		}
		lines = append(lines, h+": "+v)
	}
	return strings.Join(lines, "\n"), nil
}

func sign(key crypto.Signer, alg string, data []byte) ([]byte, error) {
	switch alg {
	case RSASHA256:
		if _, ok := key.Public().(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("algorithm %s needs an RSA key", alg)
		}
		sum := sha256.Sum256(data)
		return key.Sign(rand.Reader, sum[:], crypto.SHA256)
	case HS2019:
		switch key.Public().(type) {
		case *rsa.PublicKey:
			sum := sha512.Sum512(data)
			return key.Sign(rand.Reader, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA512})
		case *ecdsa.PublicKey:
			sum := sha512.Sum512(data)
			return key.Sign(rand.Reader, sum[:], crypto.SHA512)
		}
		return nil, fmt.Errorf("algorithm %s: unsupported key type %T", alg, key.Public())
	case ECDSASHA256:
		if _, ok := key.Public().(*ecdsa.PublicKey); !ok {
			return nil, fmt.Errorf("algorithm %s needs an EC key", alg)
		}
		sum := sha256.Sum256(data)
		return key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	return nil, fmt.Errorf("unknown signature algorithm %q: use %s, %s or %s", alg, RSASHA256, HS2019, ECDSASHA256)
}
