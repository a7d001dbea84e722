package runner

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
)

// TestBrowserDriverTrustsTLSCA checks the browser driver's setup from the profile: tls.ca
// is trusted with no notice of ignored certificate errors, and what would fail every
// journey (an unreadable tls.ca, no certutil) stops the run before it starts.
func TestBrowserDriverTrustsTLSCA(t *testing.T) {
	if _, err := psu.FindChromium(""); err != nil {
		t.Skipf("no Chromium: %v", err)
	}
	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pki.CA.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	browser := func(caPath string) *profile.Profile {
		p := &profile.Profile{}
		p.PSU.Driver, p.TLS.CA = "browser", caPath
		return p
	}

	t.Run("tls.ca", func(t *testing.T) {
		if _, err := exec.LookPath("certutil"); err != nil {
			t.Skipf("no certutil: %v", err)
		}
		newDriver, notices, err := psuDrivers(browser(ca), Options{}, io.Discard)
		if err != nil || newDriver == nil || len(notices) != 0 {
			t.Errorf("psuDrivers = %v, %q, want a driver and no notice", err, notices)
		}
	})
	t.Run("unreadable tls.ca", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing.pem")
		_, _, err := psuDrivers(browser(missing), Options{}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "tls.ca") || !strings.Contains(err.Error(), missing) {
			t.Errorf("error = %v, want one naming tls.ca and %s", err, missing)
		}
	})
	t.Run("no certutil", func(t *testing.T) {
		exe, _ := psu.FindChromium("")
		p := browser(ca)
		p.PSU.Browser.Executable = exe
		t.Setenv("PATH", t.TempDir())
		_, _, err := psuDrivers(p, Options{}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "psu.driver browser") || !strings.Contains(err.Error(), "libnss3-tools") {
			t.Errorf("error = %v, want one saying to install libnss3-tools", err)
		}
	})
}
