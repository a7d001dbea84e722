// Package suites proves the suite itself: the features pass against the reference bank,
// no secret reaches a report, the command behaves as documented. Its sibling packages
// prove that every named fault of the reference bank is caught by exactly the checks it
// breaks (faults: the fault matrix), that a hostile bank cannot hang or crash a run
// (hostile/part1..4), and a run with the PSU in Chromium (browser); go test runs them side
// by side. The suites drive the same runner and the same binary users do.
package suites

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// cliPath is the stetconform binary, built once for every suite that runs it.
var cliPath string

func TestSuites(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "stetconform suites")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	path, err := gexec.Build("github.com/stetconform/stetconform/cmd/stetconform")
	Expect(err).NotTo(HaveOccurred())
	return []byte(path)
}, func(path []byte) {
	cliPath = string(path)
	// A run with a bank profile and no --state keeps tokens in $XDG_STATE_HOME: the
	// tests' runs, in process and in the binaries they start, keep theirs in a
	// temporary folder, never in the user's ~/.local/state.
	stateHome, err := os.MkdirTemp("", "stetconform-suites-state-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Setenv("XDG_STATE_HOME", stateHome)).To(Succeed())
	DeferCleanup(os.RemoveAll, stateHome)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})
