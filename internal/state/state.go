// Package state keeps what must outlive a run: access tokens that live longer than a run
// may wait, so that the first run after their expiry can check that the bank refuses
// them (BEARER-04). The file holds live tokens: it is private (0600), lives outside
// reports/, and nothing from it is ever written to a report.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Token is an access token kept for a later run's expiry check.
type Token struct {
	Bank        string    `json:"bank"`      // the token endpoint it came from
	ClientID    string    `json:"client_id"` // the TPP it was issued to
	AccessToken string    `json:"access_token"`
	IssuedAt    time.Time `json:"issued_at"`
	ExpiresAt   time.Time `json:"expires_at"` // issue time plus expires_in
	IssuedByRun string    `json:"issued_by_run"`
	// Role is the TPP role it was granted for ("" for aisp, cbpii): it is watched at that
	// role's resource.
	Role string `json:"role,omitempty"`
}

// Store is the state file. Safe for concurrent use.
type Store struct {
	path string
	mu   sync.Mutex
	file struct {
		Tokens  []Token   `json:"tokens"`
		Refresh []Refresh `json:"refresh_tokens,omitempty"` // as loaded: what this run may take
		// Registrations are clients registered through a register API whose
		// registrations take effect later (BPCE: the next working day).
		Registrations []Registration `json:"registrations,omitempty"`
	}
	// newRefresh are the refresh tokens kept during this run: saved for the next run, never
	// taken by this one, so that no scenario depends on what another left behind.
	newRefresh []Refresh
	// newRegistrations likewise: a registration kept now is for a later run.
	newRegistrations []Registration
}

// Refresh is a refresh token kept so that later runs can run the refresh checks without a
// new PSU journey, while it is valid.
type Refresh struct {
	Bank         string    `json:"bank"`
	ClientID     string    `json:"client_id"`
	RefreshToken string    `json:"refresh_token"`
	KeptAt       time.Time `json:"kept_at"`
	KeptByRun    string    `json:"kept_by_run"`
	// ConsentAt is when the PSU consented (the SCA) to the grant the token belongs to: its
	// lifetime counts from there, across refreshes. Zero when unknown.
	ConsentAt time.Time `json:"consent_at,omitzero"`
	// Lifetime marks a grant kept to watch its refresh token live and die (REFRESH-10/13):
	// no other check takes it.
	Lifetime bool `json:"lifetime,omitempty"`
	// SeenWorkingAt is when the refresh token was last seen working: issued, or honoured
	// by a refresh. Zero when unknown (a state file of an earlier version).
	SeenWorkingAt time.Time `json:"seen_working_at,omitzero"`
}

// Registration is a client a run registered through the bank's register API, kept for a
// later run because the bank puts registrations in force later (register.effective:
// later): that run checks what needs the client in force, then deletes it.
type Registration struct {
	Register     string    `json:"register"`   // the register API's URL
	Registrant   string    `json:"registrant"` // the registering TPP's client_id
	For          string    `json:"for"`        // the check it is kept for (a requirement id)
	ClientID     string    `json:"client_id"`
	Token        string    `json:"registration_access_token"`
	URI          string    `json:"registration_client_uri"`
	RedirectURI  string    `json:"redirect_uri"`
	RegisteredAt time.Time `json:"registered_at"`
	KeptByRun    string    `json:"kept_by_run"`
}

// KeepRegistration keeps a registration for a later run.
func (s *Store) KeepRegistration(r Registration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newRegistrations = append(s.newRegistrations, r)
}

// TakeRegistration removes and returns the oldest registration kept by an earlier run
// for the same register API, registrant and check.
func (s *Store) TakeRegistration(register, registrant, check string) (Registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.file.Registrations {
		if r.Register == register && r.Registrant == registrant && r.For == check {
			s.file.Registrations = append(s.file.Registrations[:i], s.file.Registrations[i+1:]...)
			return r, true
		}
	}
	return Registration{}, false
}

// DefaultPath is $XDG_STATE_HOME/stetconform/state.json, or ~/.local/state/... .
func DefaultPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "stetconform", "state.json")
}

// Open reads the state file at path; a missing file is an empty state. A file that others
// can read is refused: it holds live tokens.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("state file %s is readable by others (mode %v); it holds live tokens: chmod 600 it", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &s.file); err != nil {
		return nil, fmt.Errorf("state file %s is not valid JSON: %v", path, err)
	}
	return s, nil
}

// Path is where the state is kept.
func (s *Store) Path() string { return s.path }

// TakeExpired removes and returns a kept token of bank and clientID that has expired at
// now (with skew), the oldest first.
func (s *Store) TakeExpired(bank, clientID string, now time.Time, skew time.Duration) (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range s.file.Tokens {
		if t.Bank == bank && t.ClientID == clientID && now.After(t.ExpiresAt.Add(skew)) {
			s.file.Tokens = append(s.file.Tokens[:i], s.file.Tokens[i+1:]...)
			return t, true
		}
	}
	return Token{}, false
}

// TakeNext removes and returns the kept token of bank, clientID and role that expires
// first, expired or not.
func (s *Store) TakeNext(bank, clientID, role string) (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for i, t := range s.file.Tokens {
		if t.Bank == bank && t.ClientID == clientID && t.Role == role && (best < 0 || t.ExpiresAt.Before(s.file.Tokens[best].ExpiresAt)) {
			best = i
		}
	}
	if best < 0 {
		return Token{}, false
	}
	t := s.file.Tokens[best]
	s.file.Tokens = append(s.file.Tokens[:best], s.file.Tokens[best+1:]...)
	return t, true
}

// Pending returns the earliest expiry of the tokens kept for bank and clientID.
func (s *Store) Pending(bank, clientID string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first time.Time
	for _, t := range s.file.Tokens {
		if t.Bank == bank && t.ClientID == clientID && (first.IsZero() || t.ExpiresAt.Before(first)) {
			first = t.ExpiresAt
		}
	}
	return first, !first.IsZero()
}

// Keep adds a token for a later run.
func (s *Store) Keep(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.file.Tokens = append(s.file.Tokens, t)
}

// KeepRefresh adds a refresh token for a later run.
func (s *Store) KeepRefresh(r Refresh) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newRefresh = append(s.newRefresh, r)
}

// TakeRefresh removes and returns the newest refresh token an earlier run kept for bank
// and clientID (not one kept to watch its lifetime).
func (s *Store) TakeRefresh(bank, clientID string) (Refresh, bool) {
	return s.takeRefresh(func(r Refresh) bool { return r.Bank == bank && r.ClientID == clientID && !r.Lifetime })
}

// TakeLifetime removes and returns the newest refresh token kept to watch its lifetime for
// bank and clientID whose consent age (at now) satisfies age.
func (s *Store) TakeLifetime(bank, clientID string, now time.Time, age func(time.Duration) bool) (Refresh, bool) {
	return s.takeRefresh(func(r Refresh) bool {
		return r.Bank == bank && r.ClientID == clientID && r.Lifetime && !r.ConsentAt.IsZero() && age(now.Sub(r.ConsentAt))
	})
}

// Lifetimes lists the consent times of the grants kept to watch their lifetime.
func (s *Store) Lifetimes(bank, clientID string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, r := range append(append([]Refresh(nil), s.file.Refresh...), s.newRefresh...) {
		if r.Bank == bank && r.ClientID == clientID && r.Lifetime {
			out = append(out, r.ConsentAt)
		}
	}
	return out
}

func (s *Store) takeRefresh(match func(Refresh) bool) (Refresh, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.file.Refresh) - 1; i >= 0; i-- {
		if r := s.file.Refresh[i]; match(r) {
			s.file.Refresh = append(s.file.Refresh[:i], s.file.Refresh[i+1:]...)
			return r, true
		}
	}
	return Refresh{}, false
}

// Save writes the state file (0600, through a temporary file and a rename).
func (s *Store) Save() error {
	s.mu.Lock()
	out := s.file
	out.Refresh = append(append([]Refresh(nil), s.file.Refresh...), s.newRefresh...)
	out.Registrations = append(append([]Registration(nil), s.file.Registrations...), s.newRegistrations...)
	data, err := json.MarshalIndent(&out, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".state-*.json")
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}
