package steps

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/internal/profile"
)

// A refresh token an earlier run kept proves the end of its lifetime by its refusal only
// if that run saw it working in the last tenth of its life: otherwise it may have been
// revoked, or superseded by a later consent of the same PSU, long before (a bank that
// keeps one token pair per PSU and never ends refresh tokens would pass).
func TestAKeptRefreshTokenMustHaveBeenSeenNearItsEnd(t *testing.T) {
	life := 90 * 24 * time.Hour
	consent := time.Now().Add(-life - 2*24*time.Hour)
	end := consent.Add(life)
	for _, c := range []struct {
		name string
		seen time.Time
		ok   bool
	}{
		{"seen the day before its end (a daily run)", end.Add(-24 * time.Hour), true},
		{"seen a week before its end (a weekly run)", end.Add(-7 * 24 * time.Hour), true},
		{"seen on the day of its consent only", consent.Add(time.Hour), false},
		{"seen a month before its end", end.Add(-30 * 24 * time.Hour), false},
		{"never said (a state file of an earlier version)", time.Time{}, false},
	} {
		w := newWorld(&Env{Profile: &profile.Profile{Options: profile.Options{RefreshTokenLifetime: life}}})
		w.tokens = &tokenSet{consentAt: consent, seen: c.seen}
		w.keptRun = "run-1"
		err := w.seenNearItsEnd()
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: expected the refusal to count, got %v: %s", c.name, err, w.inconclusiveWhy)
		case !c.ok && (!errors.Is(err, godog.ErrSkip) || !strings.Contains(w.inconclusiveWhy, "run run-1")):
			t.Errorf("%s: expected inconclusive, got %v: %q", c.name, err, w.inconclusiveWhy)
		}
	}
}
