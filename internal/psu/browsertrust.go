package psu

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stetconform/stetconform/internal/eidas"
)

// How the browser driver trusts the bank's private CA (the profile's tls.ca).
//
// Chromium on Linux adds to its built-in roots the CAs its user trusts in the NSS database
// at $HOME/.pki/nssdb. Each journey's Chromium gets a temporary HOME whose database trusts
// the CAs of tls.ca for TLS servers, and nothing else changes: Chromium still builds and
// verifies every chain itself, on every connection, host name and validity included, so a
// host whose certificate is not under tls.ca (or not issued for that host) still fails.
// The user's own HOME and the system's store are never touched.
//
// The alternatives are less exact. --ignore-certificate-errors-spki-list ignores every
// error (host name included) for a connection where any certificate the server presents
// has a listed key: listing the CA's key lets any server that sends the public CA
// certificate along pass, and listing the bank's server key covers only the hosts probed
// beforehand, and any server that presents that certificate as an intermediate. CDP's
// Security.setIgnoreCertificateErrors is all or nothing, and the protocol has no
// per-error handling any more (the certificateError event is gone from cdproto v0.159.0,
// and never carried the certificate), so Go cannot verify the chain Chromium was given.

// certutilHint says how to get certutil, which builds the NSS database.
const certutilHint = "install it (Debian: apt-get install libnss3-tools)"

// parseCAs returns the certificates of the bank's CA bundle, in order.
func parseCAs(data []byte) ([]*x509.Certificate, error) {
	certs, err := eidas.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("the bank's CA bundle (tls.ca) given to the browser: %w", err)
	}
	return certs, nil
}

// findCertutil returns the path of NSS's certutil.
func findCertutil() (string, error) {
	p, err := exec.LookPath("certutil")
	if err != nil {
		return "", fmt.Errorf("the browser cannot be made to trust the bank's CA (tls.ca): certutil (NSS) was not found on PATH; %s", certutilHint)
	}
	return p, nil
}

// trustHome makes a temporary home directory whose NSS database holds cas, trusted as
// issuers of TLS server certificates, and nothing else. The caller removes it once the
// browser has exited.
func trustHome(ctx context.Context, certutil string, cas []*x509.Certificate) (home string, err error) {
	home, err = os.MkdirTemp("", "stetconform-psu-home-")
	if err != nil {
		return "", fmt.Errorf("making the browser's home directory: %v", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(home)
		}
	}()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return "", fmt.Errorf("making the browser's NSS database: %v", err)
	}
	run := func(stdin []byte, args ...string) error {
		cmd := exec.CommandContext(ctx, certutil, append([]string{"-d", "sql:" + db}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v: %s", certutil, args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run(nil, "-N", "--empty-password"); err != nil {
		return "", fmt.Errorf("making the browser's NSS database: %v", err)
	}
	for i, ca := range cas {
		// "C,,": a trusted issuer of TLS server certificates; not of e-mail or code signing.
		if err := run(ca.Raw, "-A", "-n", fmt.Sprintf("tls.ca %d", i+1), "-t", "C,,"); err != nil {
			return "", fmt.Errorf("adding certificate %d of tls.ca (%s) to the browser's NSS database: %v", i+1, ca.Subject, err)
		}
	}
	return home, nil
}
