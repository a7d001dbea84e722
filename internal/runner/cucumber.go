package runner

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cucumber/godog"
	"github.com/cucumber/godog/formatters"
)

// cucumberFormat is godog's cucumber formatter writing into the run's own buffered
// file. Given "cucumber:PATH", godog (v0.15.1, run.go) creates PATH itself and wraps it in
// colors.Uncolored, which writes each rune with its own fmt.Fprint: one system call per
// byte of cucumber.json, some 120,000 for a whole run. Here the formatter writes to a
// bufio.Writer over the file instead (cucumber JSON has no colours to strip), flushed when
// the suite has run.
const cucumberFormat = "stetconform-cucumber"

var (
	// cucumberOuts maps a run's godog suite name to its cucumber.json writer: godog's
	// formatters are registered once for the process, and runs may go at once (a fleet).
	cucumberOuts sync.Map
	suiteSeq     atomic.Int64
)

func init() {
	godog.Format(cucumberFormat, "godog's cucumber JSON into the run's buffered cucumber.json", func(suite string, out io.Writer) formatters.Formatter {
		if w, ok := cucumberOuts.Load(suite); ok {
			out = w.(io.Writer)
		}
		return formatters.FindFmt("cucumber")("stetconform", out)
	})
}

// cucumberFile creates path for a run's cucumber JSON and returns the godog suite name
// that writes into it; done flushes and closes it (once; later calls return nil).
func cucumberFile(path string) (suite string, done func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return "", nil, err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	suite = fmt.Sprintf("stetconform#%d", suiteSeq.Add(1))
	cucumberOuts.Store(suite, w)
	var once sync.Once
	var closeErr error
	return suite, func() error {
		once.Do(func() {
			cucumberOuts.Delete(suite)
			closeErr = w.Flush()
			if err := f.Close(); closeErr == nil {
				closeErr = err
			}
		})
		return closeErr
	}, nil
}
