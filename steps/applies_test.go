package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

// A check tagged @client:NAME:ROLE needs a client NAME whose certificate carries ROLE: a
// second TPP without PSP_IC skips the binding check of a cbpii token with what to add,
// rather than reaching a positive control it cannot pass.
func TestAppliesNeedsTheClientsRole(t *testing.T) {
	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{"@cbpii", "@BEARER-06", "@client:second:PSP_IC"}
	p := &profile.Profile{Roles: []string{profile.RoleAISP, profile.RoleCBPII}}
	p.Clients.Primary = &profile.Client{Name: profile.ClientPrimary, Leaf: pki.TPPA.Cert}

	p.Clients.Second = &profile.Client{Name: profile.ClientSecond, Leaf: pki.TPPB.Cert}
	if na, skip := applies(p, tags); na != "" || skip != "" {
		t.Fatalf("a second TPP with PSP_IC: na %q, skip %q; want the check to run", na, skip)
	}
	p.Clients.Second.Leaf = pki.TPPNoIC.Cert
	_, skip := applies(p, tags)
	if !strings.Contains(skip, "clients.second lacks the PSD2 role PSP_IC") {
		t.Fatalf("a second TPP without PSP_IC: skip %q; want it to name the client and the role", skip)
	}
	p.Clients.Second = nil
	if _, skip := applies(p, tags); !strings.Contains(skip, "has no clients.second") {
		t.Fatalf("no second TPP: skip %q", skip)
	}
}
