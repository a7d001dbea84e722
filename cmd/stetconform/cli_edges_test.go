package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/runner"
)

// execute runs the CLI in process and returns its exit code and output.
func execute(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := rootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil {
		out.WriteString("\nerror: " + err.Error())
	}
	return exitCode(err), out.String()
}

// TestRunRefusesFlagsThatWouldDoNothing: flags of the embedded bank with --bank, and a
// concurrency below 1, are errors (exit 2) before anything runs.
func TestRunRefusesFlagsThatWouldDoNothing(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "bank.yaml") // never read: the flags fail first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bank", profile, "--fault", "code-reusable"}, "--fault configure(s) the embedded reference bank, and --bank " + profile + " is another bank"},
		{[]string{"--bank", profile, "--access-token-lifetime", "1h", "--unsigned"}, "--access-token-lifetime, --unsigned configure(s) the embedded reference bank"},
		{[]string{"--bank", profile, "--refresh-token-lifetime", "1h"}, "--refresh-token-lifetime configure(s)"},
		{[]string{"--concurrency", "0"}, "--concurrency 0: give the number of scenarios run at once, 1 or more"},
		{[]string{"--concurrency", "-1"}, "--concurrency -1: give the number"},
		{[]string{"--strict-baseline"}, "--strict-baseline needs --baseline FILE"},
		{[]string{"--sign-cert", "x.pem"}, "--sign-cert needs --sign-key"},
		{[]string{"--sign-key", writeTemp(t, "k.pem", "-----BEGIN PRIVATE KEY-----\n")}, "is a PEM key: give its certificate with --sign-cert"},
		{[]string{"--format", "pretty", "--concurrency", "4"}, "--format pretty prints the features in order, one scenario at a time"},
		{[]string{"--tags", "@token &&"}, "is empty (a dangling"},
	} {
		code, out := execute(t, append([]string{"run", "--out", t.TempDir()}, tc.args...)...)
		if code != runner.ExitSetupError || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output:\n%s\nwant exit 2 with %q", tc.args, code, out, tc.want)
		}
		if strings.Contains(out, "embedded reference bank at") {
			t.Errorf("%v: a bank was started", tc.args)
		}
	}
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBankFailsBeforeWritingItsPKI: a busy port, an unknown fault or a non-loopback
// address leave .pki/ as it was (a running bank keeps being trusted).
func TestBankFailsBeforeWritingItsPKI(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--addr", busy.Addr().String()}, runner.ExitCouldNotFinish, "address already in use"},
		{[]string{"--addr", "127.0.0.1:0", "--fault", "no-such-fault"}, runner.ExitSetupError, "no-such-fault"},
		{[]string{"--addr", "0.0.0.0:8443"}, runner.ExitSetupError, "--addr 0.0.0.0:8443 listens on every interface, not on loopback"},
		{[]string{"--addr", ":8443"}, runner.ExitSetupError, "listens on every interface"},
		{[]string{"--addr", "192.0.2.1:8443"}, runner.ExitSetupError, "listens on 192.0.2.1, not on loopback: the reference bank and its test PSU would be reachable from other machines; add --public"},
		{[]string{"--addr", "8443"}, runner.ExitSetupError, `--addr "8443": expected host:port`},
		{[]string{"--addr", "127.0.0.1:0", "--psus", "0"}, runner.ExitSetupError, "--psus 0: give the number of PSUs, 1 or more"},
		{[]string{"--addr", "127.0.0.1:0", "--token-pairs", "one"}, runner.ExitSetupError, `--token-pairs "one": expected many or one-per-psu`},
		{[]string{"--addr", "127.0.0.1:0", "--rate-limit", "10"}, runner.ExitSetupError, "--rate-limit: rate limit \"10\": expected N/DURATION"},
	} {
		pki := filepath.Join(t.TempDir(), ".pki")
		code, out := execute(t, append([]string{"bank", "--pki", pki}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output:\n%s\nwant exit %d with %q", tc.args, code, out, tc.code, tc.want)
		}
		if _, err := os.Stat(pki); !os.IsNotExist(err) {
			t.Errorf("%v: %s was written (%v)", tc.args, pki, err)
		}
	}
}

func TestCheckListenAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8443", "[::1]:8443", "localhost:8443", "127.0.0.2:0"} {
		if err := checkListenAddr(ok, false); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := checkListenAddr("0.0.0.0:8443", true); err != nil {
		t.Errorf("--public: %v", err)
	}
	if got := string(loopbackProfile([]byte("token: https://0.0.0.0:8443/token\naccounts: https://[::]:8443/a\n"))); got != "token: https://127.0.0.1:8443/token\naccounts: https://127.0.0.1:8443/a\n" {
		t.Errorf("loopbackProfile: %q", got)
	}
}

// TestMakefileSendsTheBanksLoopbackPassword: `bank` in one terminal and `make conformance
// BANK=fixtures/banks/reference.yaml` in another agree on the PSU's password.
func TestMakefileSendsTheBanksLoopbackPassword(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^export REFERENCE_PSU_PASSWORD \?= (\S+)$`).FindSubmatch(data)
	if m == nil || string(m[1]) != aspsp.LoopbackPSUPassword {
		t.Errorf("the Makefile's REFERENCE_PSU_PASSWORD default is %q, the bank's loopback password %q", m, aspsp.LoopbackPSUPassword)
	}
	fixture, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "banks", "reference.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(fixture), "${REFERENCE_PSU_PASSWORD}") {
		t.Error("fixtures/banks/reference.yaml does not read $REFERENCE_PSU_PASSWORD")
	}
}

// TestReportDiffAndVerify: the report subcommands' exit codes.
func TestReportDiffAndVerify(t *testing.T) {
	dir := t.TempDir()
	old := writeTemp(t, "old.json", `{"summary":{"outcome":"COMPLIANT"},"requirements":[{"id":"A","verdict":"passed"},{"id":"B","verdict":"failed","reason":"x"}]}`)
	fixed := writeTemp(t, "fixed.json", `{"summary":{"outcome":"COMPLIANT"},"requirements":[{"id":"A","verdict":"passed"},{"id":"B","verdict":"passed"}]}`)
	worse := writeTemp(t, "worse.json", `{"summary":{"outcome":"NOT COMPLIANT"},"requirements":[{"id":"A","verdict":"failed","reason":"500"},{"id":"B","verdict":"failed","reason":"x"}]}`)
	if code, out := execute(t, "report", "diff", old, fixed); code != 0 || !strings.Contains(out, "FIXES (1):") {
		t.Errorf("diff with a fix: exit %d\n%s", code, out)
	}
	if code, out := execute(t, "report", "diff", old, worse); code != 1 || !strings.Contains(out, "REGRESSIONS (1):\n  A            passed -> failed") {
		t.Errorf("diff with a regression: exit %d\n%s", code, out)
	}
	if code, out := execute(t, "report", "diff", old, writeTemp(t, "x.json", "{}")); code != 2 || !strings.Contains(out, "is not a stetconform report.json") {
		t.Errorf("diff with a non-report: exit %d\n%s", code, out)
	}

	pki, err := eidas.NewTestPKI(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	s, err := loadSigner(filepath.Join(dir, eidas.FileTPPASealKey), filepath.Join(dir, eidas.FileTPPASealCert))
	if err != nil {
		t.Fatal(err)
	}
	rep := writeTemp(t, "report.json", `{"summary":{"outcome":"COMPLIANT"}}`)
	if _, err := s.SignFile(rep); err != nil {
		t.Fatal(err)
	}
	code, out := execute(t, "report", "verify", rep, "--ca", filepath.Join(dir, eidas.FileCA))
	if code != 0 || !strings.Contains(out, "VALID "+rep+": sealed by CN=tpp-a") || !strings.Contains(out, "organizationIdentifier: "+eidas.OrgTPPA) || !strings.Contains(out, "signed at: ") {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
	if code, out := execute(t, "report", "verify", rep, "--ca", filepath.Join(dir, eidas.FileUntrustedCA)); code != 1 || !strings.Contains(out, "INVALID") || !strings.Contains(out, "does not chain to the CA given") {
		t.Errorf("verify with the wrong CA: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(rep, []byte(`{"summary":{"outcome":"COMPLIANT"}} `), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := execute(t, "report", "verify", rep, "--ca", filepath.Join(dir, eidas.FileCA)); code != 1 || !strings.Contains(out, "does not match the file") {
		t.Errorf("verify a changed report: exit %d\n%s", code, out)
	}
	if code, out := execute(t, "report", "verify", old); code != 2 || !strings.Contains(out, "old.json.jws") {
		t.Errorf("verify without a seal: exit %d\n%s", code, out)
	}
}

// TestCertsWritesCertificatesLackingEachRole: `certs` writes, besides TPP A (PSP_AI and
// PSP_IC), one TPP certificate lacking PSP_AI (tpp-norole) and one lacking PSP_IC
// (tpp-noic), each with its QSealC, under the names the profiles use.
func TestCertsWritesCertificatesLackingEachRole(t *testing.T) {
	out := t.TempDir()
	code, text := execute(t, "certs", "--out", out)
	if code != 0 {
		t.Fatalf("certs: exit %d:\n%s", code, text)
	}
	for _, tc := range []struct {
		file string
		org  string
		has  []eidas.Role
		lack eidas.Role
	}{
		{eidas.FileTPPACert, eidas.OrgTPPA, []eidas.Role{eidas.RolePSPAI, eidas.RolePSPIC}, eidas.RolePSPPI},
		{eidas.FileTPPNoRoleCert, eidas.OrgTPPNoRole, []eidas.Role{eidas.RolePSPIC}, eidas.RolePSPAI},
		{eidas.FileTPPNoICCert, eidas.OrgTPPNoIC, []eidas.Role{eidas.RolePSPAI}, eidas.RolePSPIC},
		{eidas.FileTPPNoICSealCert, eidas.OrgTPPNoIC, []eidas.Role{eidas.RolePSPAI}, eidas.RolePSPIC},
	} {
		data, err := os.ReadFile(filepath.Join(out, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		certs, err := eidas.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			t.Fatalf("%s: %d certificates, %v", tc.file, len(certs), err)
		}
		c := certs[0]
		if got := eidas.OrganizationIdentifier(c); got != tc.org {
			t.Errorf("%s: organizationIdentifier %q, want %q", tc.file, got, tc.org)
		}
		for _, r := range tc.has {
			if !eidas.HasRole(c, r) {
				t.Errorf("%s lacks %s", tc.file, r)
			}
		}
		if eidas.HasRole(c, tc.lack) {
			t.Errorf("%s carries %s, want it without", tc.file, tc.lack)
		}
		if !strings.Contains(text, tc.org) {
			t.Errorf("certs output does not name %s:\n%s", tc.org, text)
		}
	}
	if _, err := os.Stat(filepath.Join(out, eidas.FileTPPNoICKey)); err != nil {
		t.Errorf("tpp-noic key: %v", err)
	}
}
