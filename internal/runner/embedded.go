package runner

import (
	"fmt"
	"io"
	"net"
	"net/url"
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
	// PIISP makes the bank accept piisp, the CBPII scope's name before STET 1.4.2, as it
	// accepts cbpii (a profile then declares scopes.cbpii: piisp).
	PIISP bool
	// AISPOnly makes a bank that offers the AISP role only (profile roles [aisp]).
	AISPOnly bool

	// The modes of real STET banks (aspsp.Config's fields of the same names), all off by
	// default, so that the suite can be proven against them.
	PSUCount         int             // PSUs psu1..psuN, sharing psu1's password
	TokenPairs       string          // aspsp.TokenPairsMany (default) or aspsp.TokenPairsOnePerPSU
	OneSessionPerPSU bool            // a PSU's second concurrent login is refused
	BurnCodes        bool            // a refused code exchange ends the code (code_after_refusal: burned)
	RateLimit        aspsp.RateLimit // 429 beyond RateLimit.Requests per client and window
	// Counted, when set, receives what the bank counted (SCA journeys, code exchanges...)
	// as the run ends: the cost of a run measured from the bank's side.
	Counted func(aspsp.Stats)
	// LoopbackCallbacks registers the TPPs' redirect URIs on http://127.0.0.1:PORT (one
	// free port, a path per TPP) instead of https://tpp-X.example: the manual driver then
	// catches the callback in the person's browser, who pastes nothing. A bank may ignore a
	// loopback redirect URI's port (RFC 8252 section 7.3): that check is then not applicable.
	LoopbackCallbacks bool
}

// embeddedRegisterScope is the scope of the embedded bank's initial access token for its
// register API (a client credentials grant, as at BPCE).
const embeddedRegisterScope = "tpp_registration"

// A person's pace, for `--psu manual` against the embedded bank: the code and the refresh
// token must outlive a callback URL pasted by hand, and a journey take the time to read,
// sign in and decide. The access token stays short: it is issued by the exchange, right
// after the callback, and its expiry check keeps running.
const (
	personCodeLifetime    = 10 * time.Minute
	personRefreshLifetime = 10 * time.Minute
	personJourney         = 10 * time.Minute
)

// forPerson returns the bank's settings for a person driving the journeys: the lifetimes
// not set are a person's, not a machine's.
func (b EmbeddedBank) forPerson() EmbeddedBank {
	if b.CodeLifetime <= 0 {
		b.CodeLifetime = personCodeLifetime
	}
	if b.RefreshTokenLifetime <= 0 {
		b.RefreshTokenLifetime = personRefreshLifetime
	}
	b.LoopbackCallbacks = true
	return b
}

// loopbackClients are the default TPPs with their redirect URIs on one free loopback port.
func loopbackClients() ([]aspsp.Registration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("finding a free port for the callbacks: %w", err)
	}
	base := "http://" + l.Addr().String()
	_ = l.Close() // the manual driver listens there, journey by journey
	clients := aspsp.DefaultClients()
	for i := range clients {
		for j, u := range clients[i].RedirectURIs {
			if p, err := url.Parse(u); err == nil {
				clients[i].RedirectURIs[j] = base + "/" + strings.TrimSuffix(p.Hostname(), ".example") + p.Path
			}
		}
	}
	return clients, nil
}

// embedded is a running reference bank with the profile that reaches it.
type embedded struct {
	URL     string
	Profile *profile.Profile
	bank    *aspsp.Bank
	dir     string
	counted func(aspsp.Stats)
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
	e := &embedded{dir: dir, counted: opts.Counted}
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
	var clients []aspsp.Registration // nil: the bank's defaults
	if opts.LoopbackCallbacks {
		if clients, err = loopbackClients(); err != nil {
			return nil, err
		}
	}
	e.bank, err = aspsp.New(aspsp.Config{PKI: pki, Clients: clients, AccessTokenLifetime: opts.AccessTokenLifetime,
		CodeLifetime: opts.CodeLifetime, RefreshTokenLifetime: opts.RefreshTokenLifetime, Faults: opts.Faults,
		RequireSignature: !opts.Unsigned, RefuseBadCertificatesInTLS: true,
		PSUCount: opts.PSUCount, TokenPairs: opts.TokenPairs, OneSessionPerPSU: opts.OneSessionPerPSU, BurnCodes: opts.BurnCodes, RateLimit: opts.RateLimit,
		Register: aspsp.RegisterConfig{Enabled: true, BootstrapScope: embeddedRegisterScope}, // a BPCE-style register API, for the REG checks
		CBPII:    aspsp.CBPIIConfig{AcceptPIISP: opts.PIISP, Off: opts.AISPOnly}})
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

// forPerson gives the profile's journeys a person's time.
func (e *embedded) forPerson() {
	e.Profile.Timeouts.PSUJourney = max(e.Profile.Timeouts.PSUJourney, personJourney)
}

// credentials are the PSU id and password the profile's approving script signs in with.
func (e *embedded) credentials() (id, password string) {
	for _, st := range e.Profile.PSU.Approve {
		if v, ok := st.Fill[aspsp.SelectorPSUID]; ok {
			id = v
		}
		if v, ok := st.Fill[aspsp.SelectorPassword]; ok {
			password = v
		}
	}
	return id, password
}

// printCredentials tells the person how to sign in at the bank, and at what pace the run
// goes. w must be the console itself, not a redacting writer (see Run).
func (e *embedded) printCredentials(w io.Writer, b EmbeddedBank) {
	id, password := e.credentials()
	fmt.Fprintf(w, `
TEST CREDENTIALS of the local reference bank (made for this run, valid for it only;
not a real bank's): at each journey, sign in at the bank's page with
    PSU id:    %s
    password:  %s
Each journey may take up to %s; codes live %s, refresh tokens %s.

`, id, password, shortDuration(e.Profile.Timeouts.PSUJourney), shortDuration(b.CodeLifetime), shortDuration(b.RefreshTokenLifetime))
}

// shortDuration prints 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

// Close stops the bank and removes its PKI.
func (e *embedded) Close() {
	if e.bank != nil {
		_ = e.bank.Close()
		if e.counted != nil {
			e.counted(e.bank.Stats())
		}
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
