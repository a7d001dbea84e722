// Package fleettest starts reference banks for the tests of fleets: each bank its own,
// on its own loopback port, with its own test PKI, and a profile file that reaches it.
package fleettest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/eidas"
)

// Bank starts a reference bank, as the runner's embedded one (signed requests, bad
// client certificates refused in TLS, short lifetimes), stopped at the end of the test,
// and writes the profile that reaches it to dir/name.yaml, whose path it returns.
func Bank(t testing.TB, dir, name string) string {
	t.Helper()
	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(dir, name+"-pki")
	if err := pki.WriteDir(pkiDir); err != nil {
		t.Fatal(err)
	}
	bank, err := aspsp.New(aspsp.Config{PKI: pki, AccessTokenLifetime: 2 * time.Second, CodeLifetime: 4 * time.Second,
		RefreshTokenLifetime: 3 * time.Second, RequireSignature: true, RefuseBadCertificatesInTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := bank.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bank.Close() })
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, bank.ProfileYAML(pkiDir), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Broken writes dir/name.yaml, a profile that does not load.
func Broken(t testing.TB, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte("name: broken bank\nendpoint:\n  token: https://bank.example/token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
