// Command stetconform checks a bank's (ASPSP's) STET PSD2 OAuth2 endpoints (STET Part I
// section 3.4) and writes a compliance report. See README.md.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/stetconform/stetconform/internal/runner"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	runner.Version = version
	runner.TuneGC()
	cmd := rootCommand()
	err := cmd.Execute()
	var done exitError // a run that went to the end has said everything already
	if err != nil && !errors.As(err, &done) {
		fmt.Fprintln(os.Stderr, "stetconform:", err)
	}
	os.Exit(exitCode(err))
}
