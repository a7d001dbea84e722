package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string `xml:"name,attr"`
	Tests     int    `xml:"tests,attr"`
	Failures  int    `xml:"failures,attr"`
	Skipped   int    `xml:"skipped,attr"`
	Time      string `xml:"time,attr"`
	Timestamp string `xml:"timestamp,attr,omitempty"`
	// Properties carry the run's outcome on the requirements suite, so that a CI reading
	// junit.xml sees the same outcome as the console and report.json.
	Properties *junitProperties `xml:"properties,omitempty"`
	Cases      []junitCase      `xml:"testcase"`
	duration   time.Duration
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes rep as JUnit XML: one testsuite per feature with a testcase per
// scenario, then a testsuite "requirements" with a testcase per requirement, so that a CI
// shows both views. Warnings pass, with the remark in system-out; inconclusive, skipped,
// not applicable and not tested cases are skipped, with their reason: never a failure,
// never a pass. The requirements suite's properties give the run's outcome.
func WriteJUnit(w io.Writer, rep *Report) error {
	if rep == nil {
		return errNilReport
	}
	root := junitSuites{Name: "stetconform"}
	index := map[string]int{}
	var total time.Duration
	for i := range rep.Scenarios {
		sc := &rep.Scenarios[i]
		k, ok := index[sc.Feature]
		if !ok {
			k = len(root.Suites)
			index[sc.Feature] = k
			s := junitSuite{Name: sc.Feature}
			if !sc.Started.IsZero() {
				s.Timestamp = sc.Started.UTC().Format(time.RFC3339)
			}
			root.Suites = append(root.Suites, s)
		}
		suite := &root.Suites[k]
		suite.Cases = append(suite.Cases, knownScenario(scenarioCase(sc), sc, rep.Requirements))
		suite.duration += sc.Duration
		total += sc.Duration
	}
	reqs := junitSuite{Name: "requirements", Time: seconds(0)}
	sum := summaryOf(rep)
	reqs.Properties = &junitProperties{Property: []junitProperty{
		{"outcome", string(sum.Outcome)},
		{"exit_code", fmt.Sprint(sum.ExitCode)},
		{"headline", sum.Headline},
		{"partial", fmt.Sprint(sum.Partial)},
	}}
	if rep.Baseline != nil {
		reqs.Properties.Property = append(reqs.Properties.Property,
			junitProperty{"baseline", rep.Baseline.File},
			junitProperty{"known_failures", ids(sum.Known)},
			junitProperty{"stale_baseline", ids(sum.Stale)})
	}
	for _, r := range rep.Requirements {
		reqs.Cases = append(reqs.Cases, baselinedCase(requirementCase(r), r, sum.StaleFails))
	}
	root.Suites = append(root.Suites, reqs)
	for i := range root.Suites {
		s := &root.Suites[i]
		s.Tests = len(s.Cases)
		for _, c := range s.Cases {
			if c.Failure != nil {
				s.Failures++
			}
			if c.Skipped != nil {
				s.Skipped++
			}
		}
		s.Time = seconds(s.duration)
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Skipped += s.Skipped
	}
	if !rep.Started.IsZero() && rep.Finished.After(rep.Started) {
		total = rep.Finished.Sub(rep.Started)
	}
	root.Time = seconds(total)

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("encoding JUnit XML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// scenarioCaseName is "Scenario name [AUTHZ-01, TOKEN-02]".
func scenarioCaseName(sc *ScenarioResult) string {
	if len(sc.Requirements) == 0 {
		return sc.Name
	}
	return sc.Name + " [" + strings.Join(sc.Requirements, ", ") + "]"
}

func scenarioCase(sc *ScenarioResult) junitCase {
	c := junitCase{Classname: sc.Feature, Name: scenarioCaseName(sc), Time: seconds(sc.Duration)}
	switch sc.Verdict {
	case Passed:
	case Warning:
		c.SystemOut = "warning: " + strings.Join(append(nonEmpty(sc.Reason), sc.Warnings...), "\nwarning: ")
	case Failed:
		c.Failure = &junitFailure{Message: sc.Reason, Type: "failed", Text: failureText(sc)}
	case NotApplicable:
		c.Skipped = &junitSkipped{Message: "not applicable: " + sc.Reason}
	case Inconclusive:
		c.Skipped = &junitSkipped{Message: "inconclusive: " + sc.Reason}
	default:
		c.Skipped = &junitSkipped{Message: sc.Reason}
	}
	return c
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// failureText is what a CI shows of a failed scenario: the failing step, its error, and
// the last exchange made (during that step when it made any).
func failureText(sc *ScenarioResult) string {
	var b strings.Builder
	step := failingStep(sc)
	if step != nil {
		fmt.Fprintf(&b, "failing step: %s %s\n", strings.TrimSpace(step.Keyword), step.Text)
		if step.Error != "" {
			fmt.Fprintf(&b, "error: %s\n", step.Error)
		}
	} else if sc.Reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", sc.Reason)
	}
	if ex := lastExchange(sc, step); ex != nil {
		b.WriteString("last exchange: " + exchangeLine(ex) + "\n")
	}
	return b.String()
}

// failingStep is the first failed, undefined or pending step, or nil.
func failingStep(sc *ScenarioResult) *StepResult {
	for i := range sc.Steps {
		switch sc.Steps[i].Status {
		case "failed", "undefined", "pending", "ambiguous":
			return &sc.Steps[i]
		}
	}
	return nil
}

func lastExchange(sc *ScenarioResult, step *StepResult) *Exchange {
	if step != nil {
		for i := len(step.Exchanges) - 1; i >= 0; i-- {
			if k := step.Exchanges[i]; k >= 0 && k < len(sc.Exchanges) {
				return &sc.Exchanges[k]
			}
		}
	}
	if len(sc.Exchanges) == 0 {
		return nil
	}
	return &sc.Exchanges[len(sc.Exchanges)-1]
}

// exchangeLine summarizes an exchange on one line: "POST https://... -> 400 (TPP primary, 12ms)".
func exchangeLine(ex *Exchange) string {
	var b strings.Builder
	b.WriteString(ex.Request.Method + " " + ex.Request.URL + " -> ")
	switch {
	case ex.Error != "":
		b.WriteString("error: " + ex.Error)
	case ex.Response != nil:
		fmt.Fprintf(&b, "%d", ex.Response.Status)
		if body := oneLine(ex.Response.Body, 300); body != "" {
			b.WriteString(" " + body)
		}
	default:
		b.WriteString("no response")
	}
	var who []string
	if ex.Actor != "" {
		who = append(who, ex.Actor)
	}
	if ex.ClientCert != "" {
		who = append(who, "certificate "+ex.ClientCert)
	}
	if ex.Duration > 0 {
		who = append(who, roundDuration(ex.Duration).String())
	}
	if len(who) > 0 {
		b.WriteString(" (" + strings.Join(who, ", ") + ")")
	}
	return b.String()
}

func requirementCase(r RequirementResult) junitCase {
	c := junitCase{Classname: "requirements", Name: r.ID + " " + r.Title, Time: seconds(0)}
	switch r.Verdict {
	case Passed:
	case Warning:
		c.SystemOut = "warning: " + r.Reason
	case Failed:
		text := r.Level + ": " + r.Title + "\nsource: " + r.Source + "\nreason: " + r.Reason + "\n"
		if len(r.Scenarios) > 0 {
			text += "scenarios: " + strings.Join(r.Scenarios, ", ") + "\n"
		}
		if r.Waived != "" { // a waiver covers what could not be checked, never a failure
			text += "waived by the bank profile, but it failed: " + r.Waived + "\n"
		}
		c.Failure = &junitFailure{Message: r.Reason, Type: "failed", Text: text}
	default:
		msg := verdictWords(r.Verdict) + ": " + r.Reason
		if r.Waived != "" {
			msg += " (waived by the bank profile: " + r.Waived + ")"
		}
		c.Skipped = &junitSkipped{Message: msg}
	}
	return c
}

// oneLine collapses whitespace and cuts s to at most n runes, for one-line summaries.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// roundDuration keeps durations readable: 1.234s, 15ms.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d
}

// baselinedCase shows a known failure as skipped, as test runners show an expected
// failure (pytest's xfail), so that a CI reading junit.xml agrees with the exit code 0;
// a stale entry is a failure under --strict-baseline, a remark otherwise.
func baselinedCase(c junitCase, r RequirementResult, staleFails bool) junitCase {
	switch {
	case r.Baselined == "":
	case c.Failure != nil:
		c.Skipped = &junitSkipped{Message: "known failure (baseline: " + r.Baselined + "): " + r.Reason}
		c.SystemOut, c.Failure = c.Failure.Text, nil
	case r.Verdict == Passed || (r.Verdict == Warning && r.Level != LevelShould):
		msg := "stale baseline entry: it passed; remove it from the baseline (" + r.Baselined + ")"
		if staleFails {
			c.Failure = &junitFailure{Message: msg, Type: "stale-baseline"}
		} else {
			c.SystemOut = strings.TrimSpace(c.SystemOut + "\n" + msg)
		}
	}
	return c
}

// knownScenario is a failed scenario's case, skipped as a known failure when every
// requirement it failed is in the baseline.
func knownScenario(c junitCase, sc *ScenarioResult, reqs []RequirementResult) junitCase {
	if c.Failure == nil || len(sc.Requirements) == 0 {
		return c
	}
	var why []string
	for _, id := range sc.Requirements {
		for _, r := range reqs {
			if r.ID != id || r.Verdict != Failed {
				continue
			}
			if r.Baselined == "" {
				return c
			}
			why = append(why, id+": "+r.Baselined)
		}
	}
	if len(why) == 0 {
		return c
	}
	c.Skipped = &junitSkipped{Message: "known failure (baseline: " + strings.Join(why, "; ") + "): " + c.Failure.Message}
	c.SystemOut, c.Failure = c.Failure.Text, nil
	return c
}
