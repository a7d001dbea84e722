package httpsig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	gofed "github.com/go-fed/httpsig"
)

func newRequest(t *testing.T, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://bank.example/stet/psd2/v1.4.2/funds-confirmations?x=1", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-ID", "0f4b3c1e-9e4e-4c2e-9d7e-5a1a0b6f2d11")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("PSU-IP-Address", "192.0.2.10")
	return req
}

// An independent implementation (go-fed/httpsig) verifies what the signer makes, for the
// header sets STET banks ask for.
func TestSignedRequestsVerifyWithAnIndependentImplementation(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, headers := range map[string][]string{
		"default (BPCE-like)": nil,
		"CIC/CM":              {"(request-target)", "host", "date", "content-type", "x-request-id", "digest", "psu-ip-address"},
		"draft-12 created/expires (BNP Paribas Fortis)": {"(request-target)", "(created)", "(expires)", "host", "x-request-id", "digest"},
	} {
		t.Run(name, func(t *testing.T) {
			body := `{"instructedAmount":{"currency":"EUR","amount":"12.25"}}`
			req := newRequest(t, body)
			s := &Signer{KeyID: "https://tpp.example/qsealc.pem", Key: key, Headers: headers}
			if err := s.Sign(req, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(req.Header.Get("Signature"), `algorithm="rsa-sha256"`) {
				t.Errorf("Signature %q does not name rsa-sha256", req.Header.Get("Signature"))
			}
			v, err := gofed.NewVerifier(req)
			if err != nil {
				t.Fatalf("go-fed cannot read the Signature header %q: %v", req.Header.Get("Signature"), err)
			}
			if v.KeyId() != "https://tpp.example/qsealc.pem" {
				t.Errorf("keyId %q", v.KeyId())
			}
			if err := v.Verify(&key.PublicKey, gofed.RSA_SHA256); err != nil {
				t.Errorf("go-fed does not verify the signature %q: %v", req.Header.Get("Signature"), err)
			}
			if _, err := Verify(req, []byte(body), &key.PublicKey, []string{"digest", "x-request-id"}, time.Now()); err != nil {
				t.Errorf("own verifier: %v", err)
			}
		})
	}
}

// The digest of an empty body is the SHA-256 of nothing: STET asks for it even then.
func TestDigestOfAnEmptyBody(t *testing.T) {
	if got, want := Digest(nil), "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; got != want {
		t.Errorf("Digest(empty) = %s, want %s", got, want)
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	sign := func(headers []string, now time.Time) *http.Request {
		req := newRequest(t, "{}")
		s := &Signer{KeyID: "k", Key: key, Headers: headers, Now: func() time.Time { return now }}
		if err := s.Sign(req, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		return req
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		req  *http.Request
		body string
		pub  *rsa.PublicKey
		req2 []string
		want string
	}{
		{"another key", sign(nil, now), "{}", &other.PublicKey, nil, "does not verify"},
		{"a changed body", sign(nil, now), `{"a":1}`, &key.PublicKey, nil, "does not match the body"},
		{"a header not signed", sign([]string{"(request-target)", "digest"}, now), "{}", &key.PublicKey, []string{"x-request-id"}, "does not sign x-request-id"},
		{"expired", sign([]string{"(request-target)", "(created)", "(expires)", "digest"}, now.Add(-time.Hour)), "{}", &key.PublicKey, nil, "expired"},
		{"unsigned", newRequest(t, "{}"), "{}", &key.PublicKey, nil, "no Signature header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.req, []byte(tc.body), tc.pub, tc.req2, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: %v, want an error with %q", err, tc.want)
			}
		})
	}
	// A tampered signed header breaks the signature.
	req := sign(nil, now)
	req.Header.Set("X-Request-ID", "another")
	if _, err := Verify(req, []byte("{}"), &key.PublicKey, nil, now); err == nil {
		t.Error("a changed X-Request-ID still verifies")
	}
}

func TestECDSAAndHS2019RoundTrip(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, s := range []*Signer{{KeyID: "k", Key: ec, Algorithm: ECDSASHA256}, {KeyID: "k", Key: rk, Algorithm: HS2019}, {KeyID: "k", Key: ec, Algorithm: HS2019}} {
		req := newRequest(t, "")
		if err := s.Sign(req, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(req, nil, s.Key.Public(), nil, time.Now()); err != nil {
			t.Errorf("%s with %T: %v", s.Algorithm, s.Key, err)
		}
	}
	if err := (&Signer{KeyID: "k", Key: ec}).Sign(newRequest(t, ""), nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("needs an RSA key")) {
		t.Errorf("rsa-sha256 with an EC key: %v", err)
	}
}
