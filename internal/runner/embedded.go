package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

// EmbeddedBank configures the reference bank a run starts when no profile is given.
type EmbeddedBank struct {
	Faults []string // named faults in force
	// AccessTokenLifetime is short by default (2s) so that the expired-token check runs in
	// every embedded run without a long wait.
	AccessTokenLifetime time.Duration
	// CodeLifetime is short by default (4s) for the same reason (the expired-code check),
	// yet long enough for a code to be exchanged on a loaded machine.
	CodeLifetime time.Duration
	// RefreshTokenLifetime is short by default (3s), so that the check that a refresh
	// token dies with its consent's lifetime (REFRESH-10) runs within every embedded run.
	RefreshTokenLifetime time.Duration
	// Unsigned serves the embedded bank without requiring signed requests (by default it
	// requires them, as STET Part I 3.5 and real STET banks do).
	Unsigned bool
}

// embedded is a running reference bank with the profile that reaches it.
type embedded struct {
	URL     string
	Profile *profile.Profile
	bank    *aspsp.Bank
	dir     string
}

// startEmbedded generates a test PKI, starts the reference bank on a free loopback port
// and loads the profile it prints, through the same loader as a real bank's profile.
func startEmbedded(opts EmbeddedBank) (*embedded, error) {
	if err := checkFaults(opts.Faults); err != nil {
		return nil, err
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = 2 * time.Second
	}
	if opts.CodeLifetime <= 0 {
		opts.CodeLifetime = 4 * time.Second
	}
	if opts.RefreshTokenLifetime <= 0 {
		opts.RefreshTokenLifetime = 3 * time.Second
	}
	dir, err := os.MkdirTemp("", "stetconform-bank-")
	if err != nil {
		return nil, err
	}
	e := &embedded{dir: dir}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		return nil, err
	}
	if err := pki.WriteDir(filepath.Join(dir, "pki")); err != nil {
		return nil, err
	}
	// Like most STET banks: signed requests required, bad client certificates refused in
	// the TLS handshake; and like BPCE, a register API.
	e.bank, err = aspsp.New(aspsp.Config{PKI: pki, AccessTokenLifetime: opts.AccessTokenLifetime,
		CodeLifetime: opts.CodeLifetime, RefreshTokenLifetime: opts.RefreshTokenLifetime, Faults: opts.Faults,
		RequireSignature: !opts.Unsigned, RefuseBadCertificatesInTLS: true,
		Register: aspsp.RegisterConfig{Enabled: true}}) // a BPCE-style register API, for the REG checks
	if err != nil {
		return nil, err
	}
	if err := e.bank.Start(); err != nil {
		return nil, err
	}
	e.URL = e.bank.URL()
	path := filepath.Join(dir, "reference-bank.yaml")
	if err := os.WriteFile(path, e.bank.ProfileYAML(filepath.Join(dir, "pki")), 0o600); err != nil {
		return nil, err
	}
	if e.Profile, err = profile.Load(path); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// Close stops the bank and removes its PKI.
func (e *embedded) Close() {
	if e.bank != nil {
		_ = e.bank.Close()
	}
	_ = os.RemoveAll(e.dir)
}

// checkFaults refuses a fault name the reference bank does not know, listing the valid ones.
func checkFaults(names []string) error {
	known := map[string]bool{}
	var valid []string
	for _, f := range aspsp.Faults() {
		known[f.Name] = true
		valid = append(valid, f.Name)
	}
	for _, n := range names {
		if !known[n] {
			return badInput(fmt.Errorf("unknown fault %q; the reference bank's faults are: %s", n, strings.Join(valid, ", ")))
		}
	}
	return nil
}
