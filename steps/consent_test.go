package steps

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/consent"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/state"
)

// Tokens a scenario hands to the state file for a later run belong to a grant no other
// check of the run may refresh, revoke or replay the code of: a bank may end every token
// of a code presented twice (RFC 6749 section 4.1.2), and the later run would see them
// refused before their time.
func TestKeptTokensServeNoOtherCheck(t *testing.T) {
	primary := &profile.Client{Name: "primary"}
	for _, c := range []struct {
		name string
		keep func(w *World)
		use  consent.Use
	}{
		{"an access token kept for a later run's expiry check (BEARER-04)", func(w *World) { w.keptAccess = true }, consent.Mutate},
		{"a refresh token taken for good and kept (REFRESH-13)", func(w *World) { w.keepRefreshAtEnd = true }, consent.Consume},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := state.Open(filepath.Join(t.TempDir(), "state.json"))
			if err != nil {
				t.Fatal(err)
			}
			b := consent.New(consent.Options{})
			ctx := context.Background()
			tk, err := b.Journey(ctx, "primary")
			if err != nil {
				t.Fatal(err)
			}
			code := tk.NewCode("code", "", time.Now(), time.Now(), time.Time{})
			tk.Done()
			w := newWorld(&Env{Profile: &profile.Profile{}, State: st, Consents: b})
			w.tokens = &tokenSet{owner: primary, access: "at", refresh: "rt"}
			w.leases = []*consent.Lease{b.Add(code, w.tokens, c.use)}
			c.keep(w)
			w.settleConsents(true)
			if l := b.Lease(ctx, "primary", consent.GrantWant{Use: consent.Replay}); l != nil {
				t.Fatalf("the grant whose tokens went to the state file was lent again (%v)", l.Use)
			}
		})
	}
}
