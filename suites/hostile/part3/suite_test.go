// Package part3 runs the hostile bank's behaviours of hostile.Parts[2], in a process of its own.
package part3

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/suites/hostile"
)

func TestHostilePart3(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "stetconform suites: a hostile bank, part 3")
}

var _ = BeforeSuite(func() {
	// The runs keep no token in the user's ~/.local/state.
	stateHome, err := os.MkdirTemp("", "stetconform-suites-state-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Setenv("XDG_STATE_HOME", stateHome)).To(Succeed())
	DeferCleanup(os.RemoveAll, stateHome)
})

var _ = hostile.DescribePart(3)
