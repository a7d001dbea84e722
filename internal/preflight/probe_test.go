package preflight

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	f := newFixture(t)
	pki := f.pki
	now := time.Now()
	untrustedServer, err := pki.Untrusted.IssueServer([]string{"127.0.0.1"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	verifying := bank{cert: pki.Server, auth: tls.RequireAndVerifyClientCert, clientCAs: pool(pki.CA.Cert)}
	tls12 := verifying
	tls12.maxTLS = tls.VersionTLS12

	tests := []struct {
		name    string
		base    func(t *testing.T) string
		want    []expect
		notWant []expect
	}{
		{
			name: "bank verifying client certificates, TLS 1.3",
			base: verifying.start,
			want: []expect{
				{OK, []string{"127.0.0.1:", "TCP connection to 127.0.0.1:"}},
				{OK, []string{"TLS 1.3", "server certificate CN=127.0.0.1", "issued by CN=stetconform Test QTSP Root CA", "trusted through tls.ca (", "ca.pem)"}},
				{OK, []string{"asks for a client certificate (acceptable CAs: CN=stetconform Test QTSP Root CA", "without one, it refuses"}},
				{OK, []string{"clients.primary (PSDFR-ACPR-12345): the handshake with its certificate succeeded (TLS 1.3); HEAD /oauth/token gets 200 OK"}},
				{OK, []string{"clients.second (PSDFR-ACPR-67890): the handshake with its certificate succeeded"}},
				{OK, []string{"clients.expired (PSDFR-ACPR-12345): the bank refused its certificate after the handshake (TLS 1.3): remote error: tls:"}},
			},
			notWant: []expect{{Fail, nil}, {Warn, nil}},
		},
		{
			name: "bank verifying client certificates, TLS 1.2",
			base: tls12.start,
			want: []expect{
				{OK, []string{"TLS 1.2 ("}},
				{OK, []string{"asks for a client certificate", "without one, it refuses the handshake: remote error: tls:"}},
				{OK, []string{"clients.primary (PSDFR-ACPR-12345): the handshake with its certificate succeeded (TLS 1.2)"}},
				{OK, []string{"clients.expired (PSDFR-ACPR-12345): the handshake with its certificate failed: remote error: tls:"}},
			},
			notWant: []expect{{Fail, nil}, {Warn, nil}},
		},
		{
			name: "bank asking for any client certificate",
			base: bank{cert: pki.Server, auth: tls.RequestClientCert}.start,
			want: []expect{
				{OK, []string{"asks for a client certificate (any CA: it lists none); without one, it completes the handshake and HEAD /oauth/token gets 200 OK"}},
				{OK, []string{"clients.without_aisp_role (PSDFR-ACPR-11111): the handshake with its certificate succeeded"}},
			},
			notWant: []expect{{Fail, nil}, {Warn, nil}},
		},
		{
			name: "bank refusing the primary client's CA",
			base: bank{cert: pki.Server, auth: tls.RequireAndVerifyClientCert, clientCAs: pool(pki.Untrusted.Cert)}.start,
			want: []expect{
				{Fail, []string{"clients.primary (PSDFR-ACPR-12345): the bank refused its certificate after the handshake (TLS 1.3): remote error: tls:"}},
				{Warn, []string{"clients.primary (PSDFR-ACPR-12345): its issuer CN=stetconform Test QTSP Root CA", "is not among the 1 CA(s) the bank lists as acceptable"}},
			},
		},
		{
			name: "bank listing another CA but taking any certificate",
			base: bank{cert: pki.Server, auth: tls.RequestClientCert, clientCAs: pool(pki.Untrusted.Cert)}.start,
			want: []expect{
				{OK, []string{"asks for a client certificate (acceptable CAs: CN=stetconform Untrusted Root CA"}},
				{OK, []string{"clients.primary (PSDFR-ACPR-12345): the handshake with its certificate succeeded"}},
				{Warn, []string{"clients.second (PSDFR-ACPR-67890): its issuer", "is not among"}},
			},
			notWant: []expect{{Fail, nil}},
		},
		{
			name: "bank not asking for a client certificate",
			base: bank{cert: pki.Server, auth: tls.NoClientCert}.start,
			want: []expect{
				{OK, []string{"server certificate CN=127.0.0.1"}},
				{Warn, []string{"the bank does not request a client certificate: mutual TLS cannot work"}},
			},
			notWant: []expect{{Fail, nil}, {OK, []string{"clients.primary"}}},
		},
		{
			name: "server certificate from a CA the profile does not trust",
			base: bank{cert: untrustedServer, auth: tls.RequestClientCert}.start,
			want: []expect{{Fail, []string{
				"server certificate CN=127.0.0.1", "issued by CN=stetconform Untrusted Root CA",
				"does not verify against tls.ca (", "ca.pem): x509: certificate signed by unknown authority",
				"bank.yaml:",
			}}},
			notWant: []expect{{OK, []string{"asks for a client certificate"}}},
		},
		{
			name: "nothing listening",
			base: func(t *testing.T) string { return "https://" + closedPort(t) },
			want: []expect{{Fail, []string{"TCP connection failed", "connection refused"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := f.load(t, tc.base(t), "", defaultClients())
			var streamed []Finding
			got := Probe(context.Background(), p, func(f Finding) { streamed = append(streamed, f) })
			if len(streamed) != len(got) {
				t.Errorf("each got %d findings, Probe returned %d", len(streamed), len(got))
			}
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

// With tls.insecure_skip_verify the untrusted server is probed further, and the
// verification it skips is reported as a warning.
func TestProbeInsecureSkipVerify(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	srv, err := f.pki.Untrusted.IssueServer([]string{"127.0.0.1"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	base := bank{cert: srv, auth: tls.RequestClientCert}.start(t)
	p := f.load(t, base, "  insecure_skip_verify: true\n", defaultClients())
	got := Probe(context.Background(), p, nil)
	for _, e := range []expect{
		{Warn, []string{"does not verify against tls.ca", "accepted only because tls.insecure_skip_verify is set"}},
		{OK, []string{"asks for a client certificate"}},
		{OK, []string{"clients.primary (PSDFR-ACPR-12345): the handshake with its certificate succeeded"}},
	} {
		if !has(got, e) {
			t.Errorf("missing %s in:%s", e, dump(got))
		}
	}
}

// Hosts are probed once each, with the endpoints they serve; http on loopback has no TLS.
func TestProbeHosts(t *testing.T) {
	f := newFixture(t)
	tlsBase := bank{cert: f.pki.Server, auth: tls.RequestClientCert}.start(t)
	p := f.load(t, tlsBase, "", defaultClients())
	p.Endpoints.Authorize = "http://" + closedPort(t) + "/authorize"
	got := Probe(context.Background(), p, nil)
	if n := strings.Count(dump(got), "asks for a client certificate"); n != 1 {
		t.Errorf("the token and accounts host should be probed once, found %d:%s", n, dump(got))
	}
	if !has(got, expect{Fail, []string{"TCP connection failed (serves endpoints.authorize)", "connection refused"}}) {
		t.Errorf("missing the authorize host's failure:%s", dump(got))
	}
}

func TestProbeCancelled(t *testing.T) {
	f := newFixture(t)
	p := f.load(t, "https://"+closedPort(t), "", defaultClients())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := Probe(ctx, p, nil)
	if !has(got, expect{Fail, []string{"not probed: context canceled"}}) {
		t.Errorf("missing the cancellation:%s", dump(got))
	}
}

func TestFindingString(t *testing.T) {
	for _, tc := range []struct {
		f    Finding
		want string
	}{
		{Finding{OK, "tls.ca", "fine", ""}, "OK   tls.ca: fine"},
		{Finding{Warn, "h:443", "hmm", ""}, "WARN h:443: hmm"},
		{Finding{Fail, "clients.primary.certificate", "bad", "bank.yaml:31"}, "FAIL clients.primary.certificate: bad (bank.yaml:31)"},
		{Finding{Fail, "", "bank.yaml:3: name: is required", ""}, "FAIL bank.yaml:3: name: is required"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	ok, warn, fail := Count([]Finding{{Level: OK}, {Level: Fail}, {Level: OK}})
	if ok != 2 || warn != 0 || fail != 1 {
		t.Errorf("Count = %d, %d, %d; want 2, 0, 1", ok, warn, fail)
	}
}

// A bank that takes the TCP connection and never speaks TLS fails within timeouts.connect.
func TestProbeSilentBank(t *testing.T) {
	f := newFixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	p := f.load(t, "https://"+l.Addr().String(), "", defaultClients())
	p.Timeouts.Connect = 100 * time.Millisecond
	got := Probe(context.Background(), p, nil)
	if !has(got, expect{Fail, []string{"TLS handshake failed before the server's certificate: no TLS handshake within timeouts.connect (100ms)"}}) {
		t.Errorf("missing the timeout:%s", dump(got))
	}
}

// A host name is resolved first; the test server's certificate names localhost.
func TestProbeResolvesNames(t *testing.T) {
	f := newFixture(t)
	base := bank{cert: f.pki.Server, auth: tls.RequestClientCert}.start(t)
	p := f.load(t, strings.Replace(base, "127.0.0.1", "localhost", 1), "", defaultClients())
	got := Probe(context.Background(), p, nil)
	for _, e := range []expect{
		{OK, []string{"localhost:", "localhost resolves to", "127.0.0.1", "(serves endpoints.authorize, endpoints.token, endpoints.accounts)"}},
		{OK, []string{"clients.primary (PSDFR-ACPR-12345): the handshake with its certificate succeeded"}},
	} {
		if !has(got, e) {
			t.Errorf("missing %s in:%s", e, dump(got))
		}
	}
	if has(got, expect{Fail, nil}) {
		t.Errorf("unexpected FAIL:%s", dump(got))
	}
}
