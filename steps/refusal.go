package steps

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// isTLSRefusal says whether a transport error is the bank refusing the client at the TLS
// layer: a handshake alert, or the connection closed or reset during or right after the
// handshake (STET Part I section 3.2: the connection is closed on an authentication
// failure). A timeout or a refused connection is not: the bank did not answer at all.
func isTLSRefusal(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	var alert tls.AlertError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &cv), errors.As(err, &ua):
		// The TPP did not trust the bank: a problem of the profile, not a refusal.
		return false
	case errors.As(err, &alert), errors.As(err, &rh):
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		// TLS 1.3: the server checks the client certificate after the client considers
		// the handshake done, and its alert closes the connection while the request is
		// being written.
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "remote error: tls:") || strings.Contains(msg, "connection reset")
}
