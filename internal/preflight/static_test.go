package preflight

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/profile"
)

func TestStatic(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	qwac := func(org string, psd2 *eidas.PSD2, notAfter time.Time) *eidas.KeyPair {
		kp, err := f.pki.CA.IssueQWAC(eidas.QWACRequest{
			CommonName: "tpp.localhost", Organization: "Test TPP", Country: "FR",
			OrganizationIdentifier: org, PSD2: psd2, NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
		})
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	ai := &eidas.PSD2{Roles: []eidas.Role{eidas.RolePSPAI}, NCAName: eidas.TestNCAName, NCAID: eidas.TestNCAID}
	pi := &eidas.PSD2{Roles: []eidas.Role{eidas.RolePSPPI}, NCAName: eidas.TestNCAName, NCAID: eidas.TestNCAID}
	f.writeQWAC(t, "no-org", qwac("", ai, now.AddDate(1, 0, 0)))
	f.writeQWAC(t, "no-psd2", qwac(eidas.OrgTPPA, nil, now.AddDate(1, 0, 0)))
	f.writeQWAC(t, "pi-only", qwac(eidas.OrgTPPA, pi, now.AddDate(1, 0, 0)))
	f.writeQWAC(t, "expiring", qwac(eidas.OrgTPPA, ai, now.Add(10*24*time.Hour+12*time.Hour)))
	f.writeQWAC(t, "server", f.pki.Server)
	f.writeQWAC(t, "expired-b", f.pki.TPPAExpired)
	expiredB, err := f.pki.CA.IssueQWAC(eidas.QWACRequest{
		CommonName: "tpp-b.localhost", OrganizationIdentifier: eidas.OrgTPPB, PSD2: ai,
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.writeQWAC(t, "expired-other-org", expiredB)

	base := "https://bank.example"
	primary := func(id, file string) client { return client{profile.ClientPrimary, id, file} }
	tests := []struct {
		name    string
		tls     string
		cbpii   bool // the bank offers the cbpii role too
		clients []client
		want    []expect
		notWant []expect
	}{
		{
			name:    "all good",
			clients: defaultClients(),
			want: []expect{
				{OK, []string{"clients.primary: client_id PSDFR-ACPR-12345, certificate PSDFR-ACPR-12345 (Test TPP A SAS; roles PSP_AI,PSP_IC"}},
				{OK, []string{"clients.expired: client_id PSDFR-ACPR-12345"}},
				{OK, []string{"tls.ca: 1 CA certificate(s)", "stetconform Test QTSP Root CA"}},
			},
			notWant: []expect{{Fail, nil}, {Warn, nil}},
		},
		{
			name:    "client_id differs from the certificate's organizationIdentifier",
			clients: replaceClient(defaultClients(), client{profile.ClientSecond, "PSDFR-ACPR-99999", "tpp-b"}),
			want: []expect{{Fail, []string{
				"FAIL clients.second.certificate: organizationIdentifier PSDFR-ACPR-67890 differs from client_id PSDFR-ACPR-99999 (",
				"bank.yaml:",
			}}},
		},
		{
			name:    "expired client that is not expired",
			clients: replaceClient(defaultClients(), client{profile.ClientExpired, eidas.OrgTPPA, "tpp-a"}),
			want:    []expect{{Fail, []string{"clients.expired.certificate: the certificate is not expired"}}},
		},
		{
			name:    "expired client with another identity than primary",
			clients: replaceClient(defaultClients(), client{profile.ClientExpired, eidas.OrgTPPB, "expired-other-org"}),
			want:    []expect{{Fail, []string{"clients.expired.certificate", "not the primary client's PSDFR-ACPR-12345"}}},
		},
		{
			name:    "without_aisp_role that has PSP_AI",
			clients: replaceClient(defaultClients(), client{profile.ClientWithoutAISPRole, eidas.OrgTPPA, "tpp-a"}),
			want:    []expect{{Fail, []string{"clients.without_aisp_role.certificate", "has the PSP_AI role", "meaningless"}}},
		},
		{
			name:    "no organizationIdentifier",
			clients: replaceClient(defaultClients(), primary(eidas.OrgTPPA, "no-org")),
			want:    []expect{{Fail, []string{"clients.primary.certificate", "has no organizationIdentifier"}}},
		},
		{
			name:    "no PSD2 statement",
			clients: replaceClient(defaultClients(), primary(eidas.OrgTPPA, "no-psd2")),
			want:    []expect{{Warn, []string{"clients.primary.certificate", "no PSD2 QCStatement"}}},
			notWant: []expect{{Fail, nil}},
		},
		{
			name:    "primary without PSP_AI",
			clients: replaceClient(defaultClients(), primary(eidas.OrgTPPA, "pi-only")),
			want:    []expect{{Warn, []string{"clients.primary.certificate", "PSP_PI, without PSP_AI"}}},
			notWant: []expect{{Fail, nil}},
		},
		{
			name:    "primary expired",
			clients: replaceClient(defaultClients(), primary(eidas.OrgTPPA, "tpp-a-expired")),
			want:    []expect{{Fail, []string{"clients.primary.certificate: the certificate expired on"}}},
		},
		{
			name:    "primary expiring soon",
			clients: replaceClient(defaultClients(), primary(eidas.OrgTPPA, "expiring")),
			want:    []expect{{Warn, []string{"clients.primary.certificate: the certificate expires on", "in 10 days"}}},
			notWant: []expect{{Fail, nil}},
		},
		{
			name:    "certificate not for client auth",
			clients: replaceClient(defaultClients(), primary(eidas.OrgTPPA, "server")),
			want:    []expect{{Fail, []string{"clients.primary.certificate", "extended key usage (serverAuth) lacks clientAuth"}}},
		},
		{
			name:    "primary and second the same",
			clients: replaceClient(defaultClients(), client{profile.ClientSecond, eidas.OrgTPPA, "tpp-a"}),
			want: []expect{
				{Fail, []string{"clients.second.client_id: same client_id as clients.primary"}},
				{Fail, []string{"clients.second.certificate: the same certificate as clients.primary"}},
			},
		},
		{
			name:    "second without PSP_IC at a bank offering cbpii",
			cbpii:   true,
			clients: replaceClient(defaultClients(), client{profile.ClientSecond, eidas.OrgTPPNoIC, "tpp-noic"}),
			want:    []expect{{Warn, []string{"clients.second.certificate", "without PSP_IC", "BEARER-06", "skipped"}}},
			notWant: []expect{{Fail, nil}},
		},
		{
			name:    "second with PSP_IC at a bank offering cbpii",
			cbpii:   true,
			clients: defaultClients(),
			notWant: []expect{{Warn, []string{"clients.second.certificate"}}},
		},
		{
			name:    "insecure_skip_verify",
			tls:     "  insecure_skip_verify: true\n",
			clients: defaultClients(),
			want:    []expect{{Warn, []string{"tls.insecure_skip_verify: is set"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := f.loadRoles(t, base, tc.tls, tc.clients, tc.cbpii)
			got := Static(p, now)
			for _, e := range tc.want {
				if !has(got, e) {
					t.Errorf("missing %s in:%s", e, dump(got))
				}
			}
			for _, e := range tc.notWant {
				if has(got, e) {
					t.Errorf("unexpected %s in:%s", e, dump(got))
				}
			}
		})
	}
}

// A finding about a field names the line of that field in the file.
func TestStaticPointsAtTheLine(t *testing.T) {
	f := newFixture(t)
	p := f.load(t, "https://bank.example", "", replaceClient(defaultClients(), client{profile.ClientPrimary, "PSDFR-ACPR-99999", "tpp-a"}))
	path := filepath.Join(f.dir, "bank.yaml")
	want := fmt.Sprintf("FAIL clients.primary.certificate: organizationIdentifier PSDFR-ACPR-12345 differs from client_id PSDFR-ACPR-99999 (declare options.client_id_match: indirect if the bank issues client_ids by registration) (%s:%d)",
		path, lineOf(t, path, "certificate: tpp-a.pem"))
	got := Static(p, time.Now())
	for _, f := range got {
		if f.String() == want {
			return
		}
	}
	t.Errorf("missing %q in:%s", want, dump(got))
}

// Values from the environment are secrets: never in a finding.
func TestStaticRedactsSecrets(t *testing.T) {
	f := newFixture(t)
	t.Setenv("PREFLIGHT_TEST_CLIENT_ID", "PSDFR-ACPR-55555")
	cs := replaceClient(defaultClients(), client{profile.ClientPrimary, "${PREFLIGHT_TEST_CLIENT_ID}", "tpp-a"})
	p := f.load(t, "https://bank.example", "", cs)
	got := Static(p, time.Now())
	if !has(got, expect{Fail, []string{"clients.primary.certificate", "differs from client_id [redacted:"}}) {
		t.Errorf("expected the mismatch, with client_id redacted:%s", dump(got))
	}
	if strings.Contains(dump(got), "PSDFR-ACPR-55555") {
		t.Errorf("a value from the environment is shown:%s", dump(got))
	}
}
