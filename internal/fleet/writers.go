package fleet

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/stetconform/stetconform/internal/report"
)

// junitSuites is junit.xml: one testsuite per bank.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	Skipped   *junitMessage `xml:"skipped"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
}

// WriteJUnit writes junit.xml: a testsuite per bank, whose first testcase, "outcome",
// fails (NOT COMPLIANT, INCOMPLETE) or errs (SETUP ERROR, COULD NOT FINISH) as the bank's
// run would exit, then a testcase per requirement the bank's run gave a verdict on.
func (x *Index) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: "stetconform fleet"}
	for _, b := range x.Banks {
		s := junitSuite{Name: b.ID, Time: fmt.Sprintf("%.3f", b.Duration.Seconds()), Properties: []junitProperty{
			{"profile", b.Profile}, {"bank", b.Name}, {"outcome", string(b.Outcome)}, {"exit_code", fmt.Sprint(b.ExitCode)},
		}}
		if b.Report != "" {
			s.Properties = append(s.Properties, junitProperty{"report", b.Report})
		}
		outcome := junitCase{Name: "outcome", Classname: b.ID}
		msg := b.Headline
		if b.Error != "" {
			msg = string(b.Outcome) + ": " + b.Error
		}
		switch b.ExitCode {
		case report.ExitCompliant:
		case report.ExitSetupError, report.ExitCouldNotFinish:
			outcome.Error = &junitMessage{Message: msg, Type: string(b.Outcome)}
		default:
			outcome.Failure = &junitMessage{Message: msg, Type: string(b.Outcome)}
		}
		s.Cases = append(s.Cases, outcome)
		for _, r := range x.Requirements {
			v, ok := b.Verdicts[r.ID]
			if !ok {
				continue
			}
			c := junitCase{Name: r.ID + " " + r.Title, Classname: b.ID}
			switch v {
			case report.Passed, report.Warning:
			case report.Failed:
				c.Failure = &junitMessage{Message: r.Level + " requirement failed", Type: string(v)}
			default:
				c.Skipped = &junitMessage{Message: string(v)}
			}
			s.Cases = append(s.Cases, c)
		}
		for _, c := range s.Cases {
			s.Tests++
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Error != nil:
				s.Errors++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// cell is how the matrix shows a verdict.
var cell = map[report.Verdict]struct{ Sym, Class string }{
	report.Passed:        {"✓", "pass"},
	report.Warning:       {"!", "warn"},
	report.Failed:        {"✗", "fail"},
	report.Inconclusive:  {"?", "open"},
	report.Skipped:       {"–", "open"},
	report.NotApplicable: {"n/a", "na"},
	report.NotTested:     {"·", "na"},
}

var outcomeClass = map[report.Outcome]string{
	report.Compliant: "pass", report.CompliantWithKnownFailures: "pass", report.NotCompliant: "fail",
	report.Incomplete: "open", report.SetupError: "err", report.CouldNotFinish: "err",
}

var indexTemplate = template.Must(template.New("index").Funcs(template.FuncMap{
	"cell": func(b Bank, id string) template.HTML {
		v, ok := b.Verdicts[id]
		if !ok {
			return `<td class="none"></td>`
		}
		c := cell[v]
		return template.HTML(fmt.Sprintf(`<td class="%s" title="%s: %s">%s</td>`, c.Class,
			template.HTMLEscapeString(id), template.HTMLEscapeString(string(v)), template.HTMLEscapeString(c.Sym)))
	},
	"outcomeClass": func(o report.Outcome) string { return outcomeClass[o] },
	"short":        func(s string) string { return strings.TrimSpace(s) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>stetconform fleet: {{.Outcome}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} .banner{padding:.6em 1em;border-radius:4px;display:inline-block;font-weight:bold}
table{border-collapse:collapse;font-size:.85em} td,th{border:1px solid #ddd;padding:.2em .4em;text-align:center}
th.req{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:normal}
td.bank{text-align:left;white-space:nowrap} td.why{text-align:left;max-width:28em}
.pass{background:#e3f5e1}.fail{background:#fbe0e0}.open{background:#fff4d6}.err{background:#eadcf7}.warn{background:#fff0c2}.na{color:#999}
</style></head><body>
<h1>stetconform fleet</h1>
<p class="banner {{outcomeClass .Outcome}}">{{.Outcome}} (exit {{.ExitCode}}): the worst outcome of {{len .Banks}} bank(s)</p>
<p>{{range $o, $n := .Outcomes}}{{$o}}: {{$n}} &nbsp; {{end}}{{if .TagFilter}}Tag filter: <code>{{.TagFilter}}</code>.{{end}}
{{if .Shard}} Shard {{.Shard}}.{{end}}</p>
{{range .Notices}}<p class="banner open">{{.}}</p>{{end}}
<p>Order of the fleet's exit code, worst first: COULD NOT FINISH 3, SETUP ERROR 2, NOT COMPLIANT 1, INCOMPLETE 4, COMPLIANT 0.
Cells: ✓ passed, ! warning, ✗ failed, ? inconclusive, – skipped, n/a not applicable, · not tested; empty: no verdict.</p>
<table>
<thead><tr><th>Bank</th><th>Outcome</th><th>Why</th>{{range .Requirements}}<th class="req" title="{{.Level}}: {{.Title}}">{{.ID}}</th>{{end}}</tr></thead>
<tbody>
{{range $b := .Banks}}<tr>
<td class="bank">{{if $b.Report}}<a href="{{$b.Report}}">{{$b.ID}}</a>{{else}}{{$b.ID}}{{end}}{{if $b.Name}}<br><small>{{$b.Name}}</small>{{end}}</td>
<td class="{{outcomeClass $b.Outcome}}">{{$b.Outcome}}</td>
<td class="why"><small>{{if $b.Error}}{{short $b.Error}}{{else}}{{$b.Headline}}{{end}}</small></td>
{{range $.Requirements}}{{cell $b .ID}}{{end}}
</tr>
{{end}}</tbody></table>
</body></html>
`))

// WriteHTML writes index.html: the bank × requirement matrix, each bank's outcome and a
// link to its report.html.
func (x *Index) WriteHTML(w io.Writer) error { return indexTemplate.Execute(w, x) }

// String is the shard as --shard reads it: "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }
