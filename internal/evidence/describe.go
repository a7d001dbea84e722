package evidence

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Describe says in plain words what went wrong on the wire: "timeout", "TLS handshake
// failed: remote error: tls: certificate required", "connection reset by peer",
// "connection refused", "connection closed by the server before the response was
// complete"... Errors it does not recognise are returned as they read, without the
// `Get "url":` prefix (the exchange records the URL). "" for a nil error.
func Describe(err error) string { return describeAfter(err, 0) }

// DescribeAfter is Describe, saying how long a timeout took: "timeout after 2s".
func DescribeAfter(err error, elapsed time.Duration) string { return describeAfter(err, elapsed) }

// describeAfter is Describe, saying how long a timeout took when elapsed is known.
func describeAfter(err error, elapsed time.Duration) string {
	if err == nil {
		return ""
	}
	if isTimeout(err) {
		what := "timeout"
		if strings.Contains(err.Error(), "TLS handshake timeout") {
			what = "TLS handshake timeout"
		}
		if elapsed > 0 {
			what += " after " + humanDuration(elapsed)
		}
		return what
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	if s := describeTLS(err); s != "" {
		return s
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EPIPE):
		return "connection closed by the server while the request was sent (broken pipe)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server before the response was complete"
	case errors.Is(err, io.EOF):
		return "connection closed by the server without a response"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS lookup failed: no such host " + dnsErr.Name
		}
		return "DNS lookup failed for " + dnsErr.Name + ": " + dnsErr.Err
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// describeTLS names TLS failures, or returns "".
func describeTLS(err error) string {
	const failed = "TLS handshake failed: "
	var (
		opErr     *net.OpError
		alertErr  tls.AlertError
		recErr    tls.RecordHeaderError
		verifyErr *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &opErr) && (opErr.Op == "remote error" || opErr.Op == "local error"):
		// crypto/tls reports alerts as net.OpError{Op: "remote error", Err: alert}.
		return failed + opErr.Op + ": " + opErr.Err.Error()
	case errors.As(err, &alertErr):
		return failed + "alert: " + alertErr.Error()
	case errors.As(err, &recErr):
		if strings.HasPrefix(string(recErr.RecordHeader[:]), "HTTP/") {
			return failed + "the server answered in plain HTTP"
		}
		return failed + "the server did not answer in TLS (" + recErr.Msg + ")"
	case errors.As(err, &verifyErr):
		return failed + "server certificate rejected: " + verifyErr.Err.Error()
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return failed + "server certificate rejected: " + err.Error()
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return failed + "the server answered in plain HTTP"
	case strings.Contains(msg, "tls: "):
		return failed + msg[strings.Index(msg, "tls: "):]
	}
	return ""
}

// humanDuration rounds to what a person reads: "15s", "2.5s", "120ms".
func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.String()
}

func tlsVersionName(v uint16) string { return tls.VersionName(v) }

func cloneHeader(h map[string][]string) map[string][]string {
	if h == nil {
		return nil
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}
