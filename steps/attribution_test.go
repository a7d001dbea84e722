package steps

import (
	"crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"3", 3 * time.Second},
		{"0", 0},
		{"Wed, 02 Dec 2026 16:00:05 GMT", 5 * time.Second},
		{"Wed, 02 Dec 2026 15:59:00 GMT", 0}, // already past
		{"", time.Second},                    // none: one second
		{"soon", time.Second},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// Only a protocol_version alert, or the server picking a newer version, proves that TLS
// 1.1 was refused; a handshake_failure may be "no cipher suite in common".
func TestVersionRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{tls.AlertError(70), true},
		{fmt.Errorf("dial: %w", tls.AlertError(70)), true},
		{errors.New("tls: server selected unsupported protocol version 303"), true},
		{tls.AlertError(40), false}, // handshake_failure
		{errors.New("EOF"), false},
		{errors.New("read: connection reset by peer"), false},
	} {
		if got := versionRefused(tc.err); got != tc.want {
			t.Errorf("versionRefused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestLoopbackIP(t *testing.T) {
	for in, want := range map[string]bool{
		"http://127.0.0.1:8080/cb": true, "http://[::1]:9/cb": true, "http://127.0.0.1/cb": true,
		"http://localhost:8080/cb": false, // RFC 8252 section 7.3 names IP literals
		"https://tpp.example/cb":   false,
	} {
		if got := loopbackIP(in); got != want {
			t.Errorf("loopbackIP(%q) = %v, want %v", in, got, want)
		}
	}
}
