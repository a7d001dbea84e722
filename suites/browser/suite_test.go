// Package browser proves a whole run with the browser PSU driver, the PSU in headless
// Chromium. It is a package of its own so that go test runs it beside the other suites
// (./suites, ./suites/hostile/...): a Chromium run takes about a minute, mostly waiting.
package browser

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestBrowser(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "stetconform suites: the browser PSU driver")
}

var _ = BeforeSuite(func() {
	// The run keeps no token in the user's ~/.local/state.
	stateHome, err := os.MkdirTemp("", "stetconform-suites-state-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Setenv("XDG_STATE_HOME", stateHome)).To(Succeed())
	DeferCleanup(os.RemoveAll, stateHome)
})
