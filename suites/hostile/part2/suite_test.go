// Package part2 runs the hostile bank's behaviours of hostile.Parts[1], in a process of its own.
package part2

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/suites/hostile"
)

func TestHostilePart2(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "stetconform suites: a hostile bank, part 2")
}

var _ = BeforeSuite(func() {
	// The runs keep no token in the user's ~/.local/state.
	stateHome, err := os.MkdirTemp("", "stetconform-suites-state-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Setenv("XDG_STATE_HOME", stateHome)).To(Succeed())
	DeferCleanup(os.RemoveAll, stateHome)
})

var _ = hostile.DescribePart(2)
