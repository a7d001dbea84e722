// Package faults proves that every check can fail: the fault matrix runs the built
// binary, as a user would, against the reference bank broken by each named fault, and
// checks the fault catalogue's declarations. It is a package of its own so that go test
// runs it beside the other suites: its runs take about 2 minutes, most of it one run
// waiting out a bank's Retry-After (authorize-unavailable), and in ./suites its specs,
// which wait for the runs, could come first in Ginkgo's random order and hold the other
// specs back until the runs were done.
package faults

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// cliPath is the stetconform binary the matrix's runs start.
var cliPath string

func TestMatrix(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "stetconform suites: the fault matrix")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	path, err := gexec.Build("github.com/stetconform/stetconform/cmd/stetconform")
	Expect(err).NotTo(HaveOccurred())
	return []byte(path)
}, func(path []byte) {
	cliPath = string(path)
	// The runs keep no token in the user's ~/.local/state.
	stateHome, err := os.MkdirTemp("", "stetconform-suites-state-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Setenv("XDG_STATE_HOME", stateHome)).To(Succeed())
	DeferCleanup(os.RemoveAll, stateHome)
	// The matrix's runs start at once; the catalogue's specs run meanwhile.
	if matrixWillRun() {
		startMatrix()
	}
	DeferCleanup(endMatrix)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})
