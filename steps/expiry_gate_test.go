package steps

import (
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
)

// A watch of a TPP's AISP token holds back that TPP's AISP consents, not its cbpii ones:
// a bank keeps one token pair per PSU, TPP and role, so a cbpii consent cannot supersede
// the watched token, and the cbpii checks (their own expiry watch among them) need not
// wait for it.
func TestAWatchHoldsBackConsentsOfItsRoleOnly(t *testing.T) {
	env := &Env{Profile: &profile.Profile{Timeouts: profile.Timeouts{Request: time.Second}}}
	watcher := newWorld(env)
	watcher.closeGate("PSDFR-ACPR-12345", time.Now().Add(time.Second))

	entered := func(role string) <-chan struct{} {
		w := newWorld(env)
		w.role = role
		done := make(chan struct{})
		go func() {
			w.enterConsent("PSDFR-ACPR-12345")
			w.leaveConsent()
			close(done)
		}()
		return done
	}
	select {
	case <-entered(profile.RoleCBPII):
	case <-time.After(2 * time.Second):
		t.Fatal("a cbpii consent waited for the watch of an AISP token")
	}
	aisp := entered("")
	select {
	case <-aisp:
		t.Fatal("an AISP consent began while the TPP's AISP token was watched")
	case <-time.After(100 * time.Millisecond):
	}
	watcher.openGate()
	select {
	case <-aisp:
	case <-time.After(2 * time.Second):
		t.Fatal("the AISP consent still waited after the watch ended")
	}
}
