package httpsig

import (
	"crypto"
	"crypto/ecdsa"
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

// Signature is a parsed Signature header.
type Signature struct {
	KeyID, Algorithm string
	Headers          []string
	Created, Expires int64
	Value            []byte
}

// Parse reads a request's Signature header.
func Parse(req *http.Request) (*Signature, error) {
	h := req.Header.Get("Signature")
	if h == "" {
		return nil, errors.New("the request has no Signature header")
	}
	s := &Signature{Headers: []string{"date"}} // the draft's default when headers is absent
	for _, part := range SplitParams(h) {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("Signature header: %q is not a name=value parameter", part)
		}
		v = strings.Trim(v, `"`)
		switch strings.ToLower(k) {
		case "keyid":
			s.KeyID = v
		case "algorithm":
			s.Algorithm = v
		case "headers":
			s.Headers = strings.Fields(strings.ToLower(v))
		case "created":
			s.Created, _ = strconv.ParseInt(v, 10, 64)
		case "expires":
			s.Expires, _ = strconv.ParseInt(v, 10, 64)
		case "signature":
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("Signature header: the signature is not base64: %v", err)
			}
			s.Value = b
		}
	}
	switch {
	case s.KeyID == "":
		return nil, errors.New("Signature header: no keyId")
	case len(s.Value) == 0:
		return nil, errors.New("Signature header: no signature")
	}
	return s, nil
}

// SplitParams splits auth-params (a Signature header, a WWW-Authenticate challenge) on
// commas outside quoted strings (RFC 7235 section 2.1; a backslash escapes in quotes).
func SplitParams(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quoted:
			escaped = true
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(out, cur.String())
}

// Verify checks req's signature with pub, that it signs at least the required headers,
// that the Digest header matches body, and that a signed (expires) has not passed.
func Verify(req *http.Request, body []byte, pub crypto.PublicKey, required []string, now time.Time) (*Signature, error) {
	s, err := Parse(req)
	if err != nil {
		return nil, err
	}
	for _, h := range required {
		if !slices.Contains(s.Headers, strings.ToLower(h)) {
			return s, fmt.Errorf("the signature does not sign %s (it signs %s)", h, strings.Join(s.Headers, " "))
		}
	}
	if d := req.Header.Get("Digest"); d != "" || slices.Contains(s.Headers, "digest") {
		if d != Digest(body) {
			return s, fmt.Errorf("the Digest header %q does not match the body (SHA-256 %s)", d, Digest(body))
		}
	}
	if s.Expires != 0 && now.Unix() > s.Expires {
		return s, fmt.Errorf("the signature expired at %s", time.Unix(s.Expires, 0).UTC().Format(time.RFC3339))
	}
	str, err := signingString(req, params{headers: s.Headers, created: s.Created, expires: s.Expires})
	if err != nil {
		return s, err
	}
	if err := verify(pub, s.Algorithm, []byte(str), s.Value); err != nil {
		return s, fmt.Errorf("the signature does not verify with the key of %s: %w", s.KeyID, err)
	}
	return s, nil
}

func verify(pub crypto.PublicKey, alg string, data, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case RSASHA256, "":
			sum := sha256.Sum256(data)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig)
		case HS2019:
			sum := sha512.Sum512(data)
			return rsa.VerifyPSS(k, crypto.SHA512, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
	case *ecdsa.PublicKey:
		var ok bool
		switch alg {
		case ECDSASHA256, "":
			sum := sha256.Sum256(data)
			ok = ecdsa.VerifyASN1(k, sum[:], sig)
		case HS2019:
			sum := sha512.Sum512(data)
			ok = ecdsa.VerifyASN1(k, sum[:], sig)
		default:
			return fmt.Errorf("algorithm %q does not fit an EC key", alg)
		}
		if !ok {
			return errors.New("ECDSA verification failed")
		}
		return nil
	}
	return fmt.Errorf("algorithm %q with a %T key is not supported", alg, pub)
}
