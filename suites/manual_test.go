package suites

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/aspsp"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
)

// The manual PSU driver, with a stand-in for the person: it reads what the suite prints,
// goes through the bank's pages as told (approve, refuse, or try a request the bank must
// stop), and pastes the callback URL, or "stopped", as a person at the terminal would.
var _ = Describe("a run with the manual PSU driver", func() {
	It("passes every scenario with a person answering at the terminal", func() {
		bank, path, dir := referenceBank(aspsp.Config{AccessTokenLifetime: 2 * time.Second, CodeLifetime: 5 * time.Second, RefreshTokenLifetime: 4 * time.Second,
			RequireSignature: true, RefuseBadCertificatesInTLS: true, Register: aspsp.RegisterConfig{Enabled: true}}, nil)
		prof, err := profile.Load(path)
		Expect(err).NotTo(HaveOccurred())

		consoleR, consoleW := io.Pipe()
		stdinR, stdinW := io.Pipe()
		lines := make(chan string, 10000) // the console is never held up by the person
		go func() {
			defer GinkgoRecover()
			sc := bufio.NewScanner(consoleR)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		answers := make(chan string, 100)
		go func() {
			for a := range answers {
				_, _ = fmt.Fprintln(stdinW, a)
			}
		}()
		var journeys, stops atomic.Int32
		go func() {
			defer GinkgoRecover()
			instruction := ""
			for l := range lines {
				if strings.HasPrefix(l, ">>> ") { // the manual driver's "what to do" line
					instruction = l
				}
				t := strings.TrimSpace(l)
				if !strings.HasPrefix(t, bank.URL()+aspsp.PathAuthorize+"?") {
					continue
				}
				journeys.Add(1)
				a := actAsPSU(prof, t, instruction)
				if a == "stopped" {
					stops.Add(1)
				}
				answers <- a
			}
		}()

		res, err := runner.Run(context.Background(), runner.Options{Profile: path, PSUDriver: "manual", StateFile: "none",
			OutDir: filepath.Join(dir, "reports"), Console: io.MultiWriter(consoleW, GinkgoWriter), Stdin: stdinR})
		Expect(err).NotTo(HaveOccurred())
		consoleW.Close()
		close(answers)
		for _, s := range res.Report.Scenarios {
			Expect(s.Verdict).To(Equal(report.Passed), "%s %q: %s", s.ID, s.Name, s.Reason)
		}
		Expect(res.ExitCode).To(Equal(runner.ExitCompliant))
		// The person went through the journeys the run made, no more: with the consent plan
		// that is its strong customer authentications (12 with both roles), an abandon and
		// the deliberately wrong requests, about 20 (the bound was "more than 20" before).
		Expect(journeys.Load()).To(BeNumerically(">=", 12))
		Expect(journeys.Load()).To(BeNumerically("<=", res.Report.Journeys.Made))
		// AUTHZ-06 and AUTHZ-07: the bank stops the PSU on its error page (AUTHZ-08 ends on
		// the callback with unsupported_response_type).
		Expect(stops.Load()).To(BeNumerically(">=", 2))
	})
})

// actAsPSU goes through the bank's pages as the instruction says, with the profile's
// scripts, and returns what the person pastes: the callback URL, or "stopped".
func actAsPSU(p *profile.Profile, authorizeURL, instruction string) string {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return "stopped"
	}
	script := p.PSU.Approve
	switch {
	case strings.Contains(instruction, "REFUSE"):
		script = p.PSU.Refuse
	case strings.Contains(instruction, "ABANDON"):
		script = p.PSU.Abandon
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.TLSConfig(nil)}}
	out, _ := psu.NewFormDriver(hc).Drive(context.Background(), psu.Journey{AuthorizeURL: authorizeURL,
		CallbackPrefix: u.Query().Get("redirect_uri"), Script: script, Timeout: 10 * time.Second})
	if out == nil || out.Callback == nil {
		return "stopped"
	}
	return out.Callback.String()
}
