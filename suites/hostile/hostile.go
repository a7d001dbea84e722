// Package hostile proves that a hostile bank (suites/hostilebank) gets a clear verdict
// within the profile's timeouts, with bounded memory, and never hangs or crashes a run.
// Its runs mostly wait (for a hang to time out, for a grant that never comes), and each
// checks what the whole process holds after it (goroutines, heap), so one runs at a time
// in a process: the behaviours are shared among the packages part1 to part4, which go
// test runs side by side, each in its own process.
package hostile

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/runner"
	"github.com/stetconform/stetconform/suites/hostilebank"
)

// hostileCase says what a run against one hostile behaviour must show.
type hostileCase struct {
	behaviour hostilebank.Behaviour
	// cause is what the reason of every failed or inconclusive scenario must say
	// (case-insensitive regexp), in the words of a bank engineer.
	cause string
	// fails lists the requirements the misbehaviour touches; all others must pass. When
	// fails is nil, pass lists the requirements whose scenarios must pass, and all others
	// are touched. A touched scenario never passes: it fails where its own request met
	// the misbehaviour, and is inconclusive where a precondition did (a Given), or where
	// the answer is not a verdict (429, 503). Either way, the requirements of unchecked
	// are left out.
	fails, pass []string
	// direct lists the requirements whose own check meets the misbehaviour: they must
	// fail, or, where the bank only said it cannot serve now (503), be inconclusive.
	direct []string
	// unavailable marks a bank that answers 503: not a verdict, so the run is INCOMPLETE.
	unavailable bool
	// spared says which scenarios of the requirements in fails never meet the
	// misbehaviour, and pass: a requirement checked for each role has a scenario at each
	// role's resource.
	spared func(report.ScenarioResult) bool
	// unchecked lists the requirements whose verdict is not asserted, and why.
	unchecked map[string]string
	// setup, when set, says the run must stop before its first scenario with a SETUP
	// ERROR whose message matches it (case-insensitive regexp): the pre-run checks find
	// that no TLS connection can work, and no check is blamed on the bank.
	setup string
}

// expect returns what scenario s must be: report.Passed or report.Failed, or "" with the
// reason it is not asserted.
func (c hostileCase) expect(s report.ScenarioResult) (report.Verdict, string) {
	for _, r := range s.Requirements {
		if why, ok := c.unchecked[r]; ok {
			return "", why
		}
	}
	switch {
	case c.spared != nil && c.spared(s):
		return report.Passed, ""
	case c.fails != nil && touches(s, c.fails), c.fails == nil && !touches(s, c.pass):
		return report.Failed, ""
	}
	return report.Passed, ""
}

// tokenCase: /token misbehaves. Only what needs no token endpoint passes (BEARER-03 and
// BEARER-09 too, but their positive control is an accounts call with a token, which no
// scenario of such a run gets: inconclusive). AUTHZ-10 passes: the request for both roles
// is refused at the bank's first page.
func tokenCase(b hostilebank.Behaviour, cause string) hostileCase {
	return hostileCase{behaviour: b, cause: cause, direct: []string{"TOKEN-01", "TOKEN-02"},
		pass: []string{"AUTHZ-01", "AUTHZ-02", "AUTHZ-03", "AUTHZ-04", "AUTHZ-05", "AUTHZ-06", "AUTHZ-07", "AUTHZ-08", "AUTHZ-10", "AUTHZ-12", "MTLS-09"}}
}

// accountsCase: the accounts resource misbehaves. Only the checks that call it are touched
// (CBPII-03 calls it with a cbpii token); the cbpii scenarios of BEARER-04 and BEARER-06
// call funds-confirmations instead, and pass.
func accountsCase(b hostilebank.Behaviour, cause string) hostileCase {
	return hostileCase{behaviour: b, cause: cause, direct: []string{"BEARER-01"},
		fails: []string{"BEARER-01", "BEARER-02", "BEARER-03", "BEARER-04", "BEARER-05", "BEARER-06", "BEARER-09", "BEARER-10", "CBPII-03", "REFRESH-02", "SIG-01"},
		spared: func(s report.ScenarioResult) bool {
			return s.URI == "cbpii.feature" && touches(s, []string{"BEARER-04", "BEARER-06"})
		}}
}

// authorizeCase: /authorize misbehaves. What needs no code passes, but for the checks whose
// positive control is elsewhere in the run, which no scenario of such a run gets.
func authorizeCase(b hostilebank.Behaviour, cause string) hostileCase {
	return hostileCase{behaviour: b, cause: cause, direct: []string{"AUTHZ-01"},
		pass: []string{"MTLS-09"}}
}

// unavailable is a case whose bank answers 503: never a verdict.
func unavailable(c hostileCase) hostileCase {
	c.unavailable = true
	return c
}

// tlsCase: no TLS connection works, which the pre-run checks see: a SETUP ERROR, with
// the cause, where every check used to fail.
func tlsCase(b hostilebank.Behaviour, setup string) hostileCase {
	return hostileCase{behaviour: b, setup: setup}
}

// refusalAnswered200 is how a check that expects a refusal names a bank that answers 200
// to everything: the refusal is what is missing, whatever the 200's body.
const refusalAnswered200 = `expected the bank to refuse.*; it answered HTTP 200$`

var hostileCases = []hostileCase{
	tokenCase(hostilebank.TokenHangs, `no HTTP answer: timeout after 2(\.\d)?s`),
	tokenCase(hostilebank.TokenTrickles, `HTTP 200, .*but reading its body failed after \d+ bytes: timeout after 2(\.\d)?s`),
	tokenCase(hostilebank.TokenHugeBody, `HTTP 200, .*but its body is larger than the suite's limit of 1 MiB`),
	tokenCase(hostilebank.TokenEndlessBody, `HTTP 200, .*but its body is larger than the suite's limit of 1 MiB`),
	tokenCase(hostilebank.TokenMalformedJSON, `unexpected end of JSON input|`+refusalAnswered200),
	tokenCase(hostilebank.TokenWrongTypes, `access_token is a JSON number, not a string|not a string: access_token|`+refusalAnswered200),
	tokenCase(hostilebank.TokenHTMLPage, `Content-Type(: | is ")text/html|`+refusalAnswered200),
	tokenCase(hostilebank.TokenReset, `connection reset by peer`),
	tokenCase(hostilebank.Token500Body, `HTTP 500, Content-Type: text/html.*Internal Server Error`),
	tokenCase(hostilebank.Token500Empty, `HTTP 500$`),
	unavailable(tokenCase(hostilebank.Token503Body, `HTTP 503`)),
	unavailable(tokenCase(hostilebank.Token503Empty, `HTTP 503`)),
	accountsCase(hostilebank.Accounts500Body, `HTTP 500, .*NullPointerException`),
	accountsCase(hostilebank.Accounts500Empty, `HTTP 500$`),
	unavailable(accountsCase(hostilebank.Accounts503Body, `HTTP 503`)),
	unavailable(accountsCase(hostilebank.Accounts503Empty, `HTTP 503`)),
	authorizeCase(hostilebank.AuthorizeRedirectLoop, `redirect loop`),
	authorizeCase(hostilebank.AuthorizeForeignRedirect, `elsewhere\.invalid`),
	tlsCase(hostilebank.TLSClientCAMismatch, `clients\.primary \(PSDFR-ACPR-12345\): the handshake with its certificate failed: remote error: tls: `),
	tlsCase(hostilebank.TLSClosedOnAccept, `TLS handshake failed before the server's certificate: the bank (closed|reset) the connection`),
	tlsCase(hostilebank.TLSUntrustedServer, `server certificate .* does not verify against tls\.ca .*certificate signed by unknown authority`),
	tlsCase(hostilebank.TLSOldVersionsOnly, `TLS handshake failed before the server's certificate: .*protocol version`),
}

// hostileWallBound bounds one run, the pre-run checks included. On an idle machine a run
// takes 5 to 20 s: the behaviours that hang have a 2 s timeouts.request, and the first
// request that runs into it ends its scenario; the others answer at once. The bound is
// generous, for a loaded machine: what it must catch is a hang that the suite's timeouts
// did not bound, which would last the hostile bank's ten minutes.
const hostileWallBound = 90 * time.Second

// heapBound bounds the Go heap in use after a run, the hostile bank included: the suite
// reads at most 1 MiB of a body (the bank sends 50 MB, or an endless one, to each of up to
// 16 scenarios at once).
const heapBound = 128 << 20

// Parts shares the behaviours among the packages part1 to part4 (Parts[0] is part1's), so
// that each takes about 50 s on an idle machine: the runs of the behaviours that hang or
// trickle take 20 to 30 s, those where /token or /authorize misbehave about 10 s (the
// checks wait for a grant that never comes), the others 2 s or less.
var Parts = [][]hostilebank.Behaviour{
	{hostilebank.TokenEndlessBody, hostilebank.TokenMalformedJSON, hostilebank.TokenWrongTypes,
		hostilebank.TLSClientCAMismatch, hostilebank.TLSClosedOnAccept},
	{hostilebank.TokenHangs, hostilebank.TokenHTMLPage, hostilebank.TokenReset,
		hostilebank.Accounts500Body, hostilebank.Accounts500Empty, hostilebank.TLSUntrustedServer},
	{hostilebank.TokenTrickles, hostilebank.Token500Body, hostilebank.Token500Empty,
		hostilebank.Accounts503Body, hostilebank.Accounts503Empty, hostilebank.TLSOldVersionsOnly},
	{hostilebank.TokenHugeBody, hostilebank.Token503Body, hostilebank.Token503Empty,
		hostilebank.AuthorizeRedirectLoop, hostilebank.AuthorizeForeignRedirect},
}

// DescribePart declares the specs of the behaviours of Parts[part-1], for the suite of
// the package part<part>.
func DescribePart(part int) bool {
	return Describe(fmt.Sprintf("a hostile bank (part %d of %d)", part, len(Parts)), Label("hostile"), func() {
		It("lists every behaviour once among the parts, each with a case", func() {
			Expect(partsProblems()).To(BeEmpty())
		})
		for _, c := range hostileCases {
			if !slices.Contains(Parts[part-1], c.behaviour) {
				continue
			}
			hostileSpec(c)
		}
	})
}

// partsProblems says how Parts and hostileCases differ from hostilebank.Behaviours, each
// listed once: nil when every behaviour is in exactly one part and has exactly one case.
func partsProblems() []string {
	var out []string
	inParts, inCases := map[hostilebank.Behaviour]int{}, map[hostilebank.Behaviour]int{}
	for _, p := range Parts {
		for _, b := range p {
			inParts[b]++
		}
	}
	for _, c := range hostileCases {
		inCases[c.behaviour]++
	}
	all := hostilebank.Behaviours()
	for _, b := range all {
		if inParts[b] != 1 || inCases[b] != 1 {
			out = append(out, fmt.Sprintf("%s: in %d parts, %d cases (want 1 and 1)", b, inParts[b], inCases[b]))
		}
	}
	for b := range inParts {
		if !slices.Contains(all, b) {
			out = append(out, fmt.Sprintf("%s: in Parts, not a behaviour of hostilebank", b))
		}
	}
	for b := range inCases {
		if !slices.Contains(all, b) {
			out = append(out, fmt.Sprintf("%s: a case, not a behaviour of hostilebank", b))
		}
	}
	slices.Sort(out)
	return out
}

// hostileSpec declares the spec of one behaviour.
func hostileSpec(c hostileCase) {
	{
		title := fmt.Sprintf("gets a clear failed verdict, within the timeouts, from %s", c.behaviour)
		if c.setup != "" {
			title = fmt.Sprintf("stops with a SETUP ERROR naming the cause, before any check, on %s", c.behaviour)
		}
		It(title, func() {
			goroutines := runtime.NumGoroutine()
			dir := GinkgoT().TempDir()
			profilePath, stop, err := hostilebank.Start(dir, c.behaviour)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() {
				stop()
				// Nothing the run or the bank started outlives it: hanging handlers end
				// when the client gives up, transports close their connections.
				Eventually(runtime.NumGoroutine).WithTimeout(30*time.Second).Should(BeNumerically("<=", goroutines+4),
					"goroutines before the run: %d", goroutines)
			})

			start := time.Now()
			res, err := runner.Run(context.Background(), runner.Options{
				Profile: profilePath, OutDir: filepath.Join(dir, "reports"), Console: GinkgoWriter, Concurrency: 16,
			})
			took := time.Since(start)
			if c.setup != "" {
				Expect(runner.ExitCode(err)).To(Equal(runner.ExitSetupError), "error: %v", err)
				Expect(res).To(BeNil())
				Expect(err.Error()).To(And(ContainSubstring("SETUP ERROR"), ContainSubstring("nothing is blamed on the bank"),
					MatchRegexp("(?i)"+c.setup)))
				Expect(filepath.Join(dir, "reports", "report.json")).NotTo(BeAnExistingFile())
				Expect(took).To(BeNumerically("<", hostileWallBound))
				return
			}
			Expect(err).NotTo(HaveOccurred(), "exit code %d", runner.ExitCode(err))
			runtime.GC()
			var mem runtime.MemStats
			runtime.ReadMemStats(&mem)
			fmt.Fprintf(GinkgoWriter, "%s: run took %s, heap in use after it %d MiB\n", c.behaviour, took.Round(100*time.Millisecond), mem.HeapInuse>>20)
			printVerdicts(res.Report.Scenarios)

			wantExit := runner.ExitNotCompliant
			if c.unavailable {
				wantExit = report.ExitIncomplete
			}
			Expect(res.ExitCode).To(Equal(wantExit))
			Expect(took).To(BeNumerically("<", hostileWallBound))
			Expect(mem.HeapInuse).To(BeNumerically("<", uint64(heapBound)))

			cause := regexp.MustCompile("(?i)" + c.cause)
			// An inconclusive check says the cause, or that its positive control (a request
			// elsewhere in the run that the misbehaviour also broke) never succeeded.
			inconclusiveWhy := regexp.MustCompile("(?i)(" + strings.TrimSuffix(c.cause, "$") + ")|no positive control in this run")
			var wrong []string
			failed := 0
			for _, s := range res.Report.Scenarios {
				want, why := c.expect(s)
				direct := touches(s, c.direct)
				switch {
				case want == "":
					fmt.Fprintf(GinkgoWriter, "not asserted: %s %q is %s: %s\n", s.ID, s.Name, s.Verdict, why)
				case s.Verdict == report.Skipped || s.Verdict == report.NotApplicable:
					// What the hostile bank's profile does not declare (an abandon script, a
					// refresh lifetime the run may wait for): neither passed nor failed.
					fmt.Fprintf(GinkgoWriter, "not asserted: %s %q is %s: %s\n", s.ID, s.Name, s.Verdict, s.Reason)
				case want == report.Passed && s.Verdict != report.Passed:
					wrong = append(wrong, fmt.Sprintf("%s %q should pass; it is %s: %s", s.ID, s.Name, s.Verdict, s.Reason))
				case want == report.Passed:
				case direct && !c.unavailable && s.Verdict != report.Failed:
					wrong = append(wrong, fmt.Sprintf("%s %q meets the misbehaviour in its own check and should fail; it is %s: %s", s.ID, s.Name, s.Verdict, s.Reason))
				case s.Verdict == report.Failed && c.unavailable:
					wrong = append(wrong, fmt.Sprintf("%s %q failed, but a 503 is no verdict: %s", s.ID, s.Name, s.Reason))
				case s.Verdict == report.Failed && !cause.MatchString(s.Reason):
					wrong = append(wrong, fmt.Sprintf("%s %q failed, but its reason does not say /%s/: %s", s.ID, s.Name, c.cause, s.Reason))
				case s.Verdict == report.Failed:
					failed++
				case s.Verdict == report.Inconclusive && !inconclusiveWhy.MatchString(s.Reason):
					wrong = append(wrong, fmt.Sprintf("%s %q is inconclusive, but its reason does not say /%s/: %s", s.ID, s.Name, c.cause, s.Reason))
				case s.Verdict != report.Inconclusive:
					wrong = append(wrong, fmt.Sprintf("%s %q should fail or be inconclusive; it is %s: %s", s.ID, s.Name, s.Verdict, s.Reason))
				}
			}
			Expect(wrong).To(BeEmpty(), "%s", strings.Join(wrong, "\n"))
			if !c.unavailable {
				Expect(failed).To(BeNumerically(">", 0))
			}
		})
	}
}

// touches says whether scenario s checks one of the requirements.
func touches(s report.ScenarioResult, reqs []string) bool {
	for _, r := range s.Requirements {
		if slices.Contains(reqs, r) {
			return true
		}
	}
	return false
}

func printVerdicts(scenarios []report.ScenarioResult) {
	for _, s := range scenarios {
		fmt.Fprintf(GinkgoWriter, "  %-8s %-28s %s\n", s.Verdict, s.ID, s.Reason)
	}
}
