package preflight

import (
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

// STET's "direct or indirect matching": a client_id issued by registration differs from
// the certificate's organizationIdentifier. That is a profile error only where the bank
// declares direct matching.
func TestClientIDMatch(t *testing.T) {
	f := newFixture(t)
	clients := replaceClient(defaultClients(), client{profile.ClientPrimary, "registered-7f3a", "tpp-a"})

	direct := Static(f.load(t, "https://bank.example", "", clients), time.Now())
	if !has(direct, expect{Fail, []string{"clients.primary.certificate: organizationIdentifier " + eidas.OrgTPPA + " differs from client_id registered-7f3a", "client_id_match: indirect"}}) {
		t.Errorf("direct matching: want the mismatch failed, got:%s", dump(direct))
	}

	p := f.load(t, "https://bank.example", "", clients)
	p.Options.ClientIDMatch = "indirect"
	indirect := Static(p, time.Now())
	if has(indirect, expect{Fail, []string{"differs from client_id"}}) {
		t.Errorf("indirect matching: the mismatch must not fail, got:%s", dump(indirect))
	}
	if !has(indirect, expect{OK, []string{"client_id registered-7f3a was issued by registration and is linked to organizationIdentifier " + eidas.OrgTPPA}}) {
		t.Errorf("indirect matching: want the link stated, got:%s", dump(indirect))
	}
}
