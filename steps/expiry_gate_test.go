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

// A consent of two roles (AUTHZ-10's request for both) never holds one role's gate while
// it waits for a watch of the other: a watch of the first would wait for it, and it for
// the watch of the second, and the first watch's check would come too late.
func TestAConsentOfTwoRolesHoldsNoGateWhileItWaits(t *testing.T) {
	aisp, cbpii := newGate(), newGate()
	cbpii.enterWatch(time.Now().Add(time.Second)) // a cbpii token watched
	entered := make(chan struct{})
	go func() {
		sa, sc := enterBoth(aisp, cbpii)
		aisp.leaveConsent(sa)
		cbpii.leaveConsent(sc)
		close(entered)
	}()
	time.Sleep(50 * time.Millisecond)
	watched := make(chan struct{})
	go func() {
		aisp.enterWatch(time.Now().Add(time.Second)) // an AISP token's watch begins meanwhile
		close(watched)
	}()
	select {
	case <-watched:
	case <-time.After(2 * time.Second):
		t.Fatal("the AISP watch waited for a consent that was itself waiting for the cbpii watch")
	}
	select {
	case <-entered:
		t.Fatal("the consent of both roles began while both roles' tokens were watched")
	case <-time.After(50 * time.Millisecond):
	}
	cbpii.leaveWatch()
	aisp.leaveWatch()
	select {
	case <-entered:
	case <-time.After(2 * time.Second):
		t.Fatal("the consent of both roles never began once the watches ended")
	}
}
