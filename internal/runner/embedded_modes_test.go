package runner

import (
	"slices"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/aspsp"
)

// TestEmbeddedBankModes: the embedded bank takes the modes of real banks, and hands its
// counters over as it closes.
func TestEmbeddedBankModes(t *testing.T) {
	var got *aspsp.Stats
	e, err := startEmbedded(EmbeddedBank{PSUCount: 3, TokenPairs: aspsp.TokenPairsOnePerPSU, OneSessionPerPSU: true,
		RateLimit: aspsp.RateLimit{Requests: 100, Window: time.Second}, Counted: func(s aspsp.Stats) { got = &s }})
	if err != nil {
		t.Fatal(err)
	}
	if ids := e.bank.PSUIDs(); !slices.Equal(ids, []string{"psu1", "psu2", "psu3"}) {
		t.Errorf("PSUs: expected psu1..psu3, found %v", ids)
	}
	e.Close()
	if got == nil || got.SCAJourneys() != 0 {
		t.Fatalf("Counted: expected the bank's counters (no journey), found %+v", got)
	}
	if _, err := startEmbedded(EmbeddedBank{TokenPairs: "one"}); err == nil {
		t.Error("TokenPairs \"one\": expected an error")
	}
}
