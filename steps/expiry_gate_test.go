package steps

import (
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
)

// A watch of a TPP's AISP token holds back that TPP's consents of either role: a bank may
// keep one token pair per PSU and TPP whatever the role (tokens-superseded-never-expire),
// and a cbpii consent would then supersede the watched token, which refused after its
// expiry would pass BEARER-04 for the wrong reason.
func TestAWatchHoldsBackConsentsOfBothRoles(t *testing.T) {
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
	aisp, cbpii := entered(""), entered(profile.RoleCBPII)
	select {
	case <-aisp:
		t.Fatal("an AISP consent began while the TPP's AISP token was watched")
	case <-cbpii:
		t.Fatal("a cbpii consent began while the TPP's AISP token was watched")
	case <-time.After(100 * time.Millisecond):
	}
	watcher.openGate()
	for name, done := range map[string]<-chan struct{}{"AISP": aisp, "cbpii": cbpii} {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("the %s consent still waited after the watch ended", name)
		}
	}
}
