package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/runner"
	"github.com/stetconform/stetconform/internal/seal"
)

// signPasswordEnv holds the password of a PKCS#12 --sign-key: never a flag, which any
// user of the machine sees in the process list.
const signPasswordEnv = "STETCONFORM_SIGN_PASSWORD"

// embeddedOnly are run's flags that configure the embedded reference bank: with --bank
// they would be silently ignored, and a user would believe the fault was in force.
var embeddedOnly = []string{"fault", "access-token-lifetime", "refresh-token-lifetime", "unsigned"}

func badFlag(format string, args ...any) error {
	return &runner.Error{Code: runner.ExitSetupError, Err: fmt.Errorf(format, args...)}
}

// checkRunFlags refuses flags that would not do what they say.
func checkRunFlags(cmd *cobra.Command, opts *runner.Options) error {
	f := cmd.Flags()
	if opts.Profile != "" {
		var set []string
		for _, name := range embeddedOnly {
			if f.Changed(name) {
				set = append(set, "--"+name)
			}
		}
		if len(set) > 0 {
			return badFlag("%s configure(s) the embedded reference bank, and --bank %s is another bank: remove %s, or drop --bank to run against the embedded bank",
				strings.Join(set, ", "), opts.Profile, strings.Join(set, ", "))
		}
	}
	if f.Changed("concurrency") {
		if opts.Concurrency < 1 {
			return badFlag("--concurrency %d: give the number of scenarios run at once, 1 or more", opts.Concurrency)
		}
	} else {
		opts.Concurrency = 0 // the runner's default: 12 (8 with the browser or manual driver), or 1 with --format pretty
	}
	if opts.StrictBaseline && opts.Baseline == "" {
		return badFlag("--strict-baseline needs --baseline FILE")
	}
	return nil
}

// loadSigner loads --sign-key and --sign-cert with the profile's certificate loaders: PEM
// key and certificate chain, or a PKCS#12 key file holding both.
func loadSigner(keyFile, certFile string) (*seal.Signer, error) {
	if keyFile == "" {
		return nil, badFlag("--sign-cert needs --sign-key, the certificate's private key")
	}
	names := map[string]string{"certificate": "--sign-cert", "key": "--sign-key", "pkcs12": "--sign-key", "pkcs12_password": "$" + signPasswordEnv}
	var cert, key, p12 string
	switch {
	case isPKCS12(keyFile) && certFile != "":
		return nil, badFlag("--sign-key %s is a PKCS#12 file, which holds the certificate: leave out --sign-cert", keyFile)
	case isPKCS12(keyFile):
		p12 = keyFile
	case certFile == "":
		return nil, badFlag("--sign-key %s is a PEM key: give its certificate with --sign-cert (or a PKCS#12 file as --sign-key)", keyFile)
	default:
		cert, key = certFile, keyFile
	}
	pair, err := profile.LoadKeyPair(cert, key, p12, os.Getenv(signPasswordEnv), names)
	if err != nil {
		return nil, &runner.Error{Code: runner.ExitSetupError, Err: err}
	}
	s, err := seal.NewSigner(pair)
	if err != nil {
		return nil, badFlag("--sign-key %s: %v", keyFile, err)
	}
	return s, nil
}

// isPKCS12 tells a PKCS#12 file by its name, or by not being PEM.
func isPKCS12(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".p12", ".pfx":
		return true
	case ".pem", ".key":
		return false
	}
	data, err := os.ReadFile(path)
	return err == nil && !bytes.Contains(data, []byte("-----BEGIN"))
}

// checkListenAddr refuses, without --public, an address that is not on loopback: the
// reference bank's test PSU and its faults are for this machine only.
func checkListenAddr(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return badFlag("--addr %q: expected host:port, such as 127.0.0.1:8443 (%v)", addr, err)
	}
	if public || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	what := host
	if host == "" || host == "0.0.0.0" || host == "::" {
		what = "every interface"
	}
	return badFlag("--addr %s listens on %s, not on loopback: the reference bank and its test PSU would be reachable from other machines; add --public if that is meant (e.g. in a container)", addr, what)
}

// loopbackProfile makes the printed profile of a bank listening on every interface reach
// it through loopback: the test server certificate names 127.0.0.1, ::1 and localhost.
func loopbackProfile(yaml []byte) []byte {
	yaml = bytes.ReplaceAll(yaml, []byte("https://0.0.0.0:"), []byte("https://127.0.0.1:"))
	return bytes.ReplaceAll(yaml, []byte("https://[::]:"), []byte("https://127.0.0.1:"))
}
