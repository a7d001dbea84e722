package report

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// htmlBodyLimit is how much of a body the HTML report shows; the JSON report has all that
// was recorded.
const htmlBodyLimit = 8 << 10

//go:embed report.css
var reportCSS string

//go:embed report.html.tmpl
var reportTemplate string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"words": verdictWords,
	// A screenshot is inlined as a data: URL, so the page stays one self-contained file.
	"png": func(b []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
	},
}).Parse(reportTemplate))

// WriteHTML writes rep as one self-contained HTML page: the CSS is inlined and nothing is
// loaded from elsewhere, so the file can be mailed or archived as it is. html/template
// escapes every string of the report, all of which may come from the bank.
func WriteHTML(w io.Writer, rep *Report) error {
	if rep == nil {
		return errNilReport
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, newHTMLView(rep)); err != nil {
		return fmt.Errorf("rendering HTML report: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

type htmlView struct {
	Rep          *Report
	CSS          template.CSS
	Title        string
	Started      string
	Finished     string
	Duration     string
	Summary      Summary
	Coverage     string            // how many requirements of the catalogue were checked
	BannerClass  string            // ok (COMPLIANT), ko (NOT COMPLIANT), open (the others)
	ReqAnchor    map[string]string // requirement ID -> its row's anchor
	ReqCounts    []htmlCount
	ScenCounts   []htmlCount
	Endpoints    []htmlPair
	Options      []htmlPair
	Requirements []htmlRequirement
	Failures     []htmlScenario
	Features     []htmlFeature
}

type htmlCount struct {
	Verdict Verdict
	N       int
}

type htmlPair struct{ Key, Value string }

type htmlLink struct{ Anchor, Label string }

type htmlRequirement struct {
	RequirementResult
	Anchor string
	Links  []htmlLink
}

type htmlFeature struct {
	Name      string
	Scenarios []htmlScenario
}

type htmlScenario struct {
	*ScenarioResult
	Anchor      string
	Location    string // feature file and line
	Duration    string
	FailAnchor  string // set on failed scenarios: where their failure is detailed
	Reqs        []htmlLink
	Steps       []htmlStep
	FailingStep *htmlStep
	Exchanges   []htmlExchange
}

type htmlStep struct {
	Keyword, Text, Status, Error, Duration string
	Exchanges                              []int // 1-based numbers, as shown
}

type htmlExchange struct {
	N          int
	Open       bool // shown expanded: it belongs to the failure
	Actor      string
	ClientCert string
	TLSVersion string
	Started    string
	Duration   string
	Method     string
	URL        string
	Status     string
	StatusOK   bool
	Error      string
	ReqHeader  []htmlPair
	ReqBody    htmlBody
	HasResp    bool
	RespHeader []htmlPair
	RespBody   htmlBody
}

type htmlBody struct {
	Text      string
	Cut       bool // shown truncated here
	Size      int
	Truncated bool // the bank sent more than was recorded
}

func newHTMLView(rep *Report) htmlView {
	v := htmlView{
		Rep:     rep,
		CSS:     template.CSS(reportCSS),
		Summary: summaryOf(rep),
		Title:   "STET conformance report",
	}
	if rep.Bank.Name != "" {
		v.Title += ": " + rep.Bank.Name
	}
	v.Started = formatTime(rep.Started)
	v.Finished = formatTime(rep.Finished)
	if !rep.Started.IsZero() && rep.Finished.After(rep.Started) {
		v.Duration = roundDuration(rep.Finished.Sub(rep.Started)).String()
	}
	for _, verdict := range AllVerdicts {
		v.ReqCounts = append(v.ReqCounts, htmlCount{verdict, v.Summary.Requirements[verdict]})
		v.ScenCounts = append(v.ScenCounts, htmlCount{verdict, v.Summary.Scenarios[verdict]})
	}
	v.Coverage = Coverage(v.Summary)
	switch {
	case v.Summary.ExitCode == ExitNotCompliant:
		v.BannerClass = "ko"
	case v.Summary.Outcome == Compliant, v.Summary.Outcome == CompliantWithKnownFailures:
		v.BannerClass = "ok"
	default:
		v.BannerClass = "open"
	}
	v.Endpoints = sortedPairs(rep.Bank.Endpoints)
	v.Options = sortedPairs(rep.Bank.Options)

	scenAnchor := map[string]string{}
	for i, sc := range rep.Scenarios {
		scenAnchor[sc.ID] = "s" + strconv.Itoa(i+1)
	}
	reqAnchor := map[string]string{}
	v.ReqAnchor = reqAnchor
	for i, r := range rep.Requirements {
		a := "r" + strconv.Itoa(i+1)
		reqAnchor[r.ID] = a
		hr := htmlRequirement{RequirementResult: r, Anchor: a}
		for _, id := range r.Scenarios {
			label := id
			if k := slices.IndexFunc(rep.Scenarios, func(s ScenarioResult) bool { return s.ID == id }); k >= 0 {
				label = rep.Scenarios[k].Name
			}
			hr.Links = append(hr.Links, htmlLink{Anchor: scenAnchor[id], Label: label})
		}
		v.Requirements = append(v.Requirements, hr)
	}

	features := map[string]int{}
	for i := range rep.Scenarios {
		sc := &rep.Scenarios[i]
		hs := newHTMLScenario(sc, scenAnchor[sc.ID], reqAnchor)
		if sc.Verdict == Failed {
			hs.FailAnchor = "f" + strconv.Itoa(i+1)
			v.Failures = append(v.Failures, hs)
		}
		k, ok := features[sc.Feature]
		if !ok {
			k = len(v.Features)
			features[sc.Feature] = k
			v.Features = append(v.Features, htmlFeature{Name: sc.Feature})
		}
		v.Features[k].Scenarios = append(v.Features[k].Scenarios, hs)
	}
	return v
}

func newHTMLScenario(sc *ScenarioResult, anchor string, reqAnchor map[string]string) htmlScenario {
	hs := htmlScenario{ScenarioResult: sc, Anchor: anchor, Duration: roundDuration(sc.Duration).String()}
	if sc.URI != "" {
		hs.Location = sc.URI + ":" + strconv.Itoa(sc.Line)
	}
	for _, id := range sc.Requirements {
		hs.Reqs = append(hs.Reqs, htmlLink{Anchor: reqAnchor[id], Label: id})
	}
	failing := failingStep(sc)
	open := map[int]bool{}
	if sc.Verdict == Failed {
		if failing != nil {
			for _, k := range failing.Exchanges {
				open[k] = true
			}
		}
		if len(open) == 0 && len(sc.Exchanges) > 0 {
			open[len(sc.Exchanges)-1] = true
		}
	}
	for i := range sc.Steps {
		st := &sc.Steps[i]
		h := htmlStep{
			Keyword:  strings.TrimSpace(st.Keyword),
			Text:     st.Text,
			Status:   st.Status,
			Error:    st.Error,
			Duration: roundDuration(st.Duration).String(),
		}
		for _, k := range st.Exchanges {
			h.Exchanges = append(h.Exchanges, k+1)
		}
		hs.Steps = append(hs.Steps, h)
	}
	for i := range sc.Steps {
		if &sc.Steps[i] == failing {
			hs.FailingStep = &hs.Steps[i]
		}
	}
	for i := range sc.Exchanges {
		hs.Exchanges = append(hs.Exchanges, newHTMLExchange(i, &sc.Exchanges[i], open[i]))
	}
	return hs
}

func newHTMLExchange(i int, ex *Exchange, open bool) htmlExchange {
	h := htmlExchange{
		N:          i + 1,
		Open:       open,
		Actor:      ex.Actor,
		ClientCert: ex.ClientCert,
		TLSVersion: ex.TLSVersion,
		Started:    formatTime(ex.Started),
		Duration:   roundDuration(ex.Duration).String(),
		Method:     ex.Request.Method,
		URL:        ex.Request.URL,
		Error:      ex.Error,
		ReqHeader:  headerPairs(ex.Request.Header),
		ReqBody:    newHTMLBody(ex.Request),
	}
	if ex.Response != nil {
		h.HasResp = true
		h.Status = strconv.Itoa(ex.Response.Status)
		h.StatusOK = ex.Response.Status >= 200 && ex.Response.Status < 400
		h.RespHeader = headerPairs(ex.Response.Header)
		h.RespBody = newHTMLBody(*ex.Response)
	}
	return h
}

func newHTMLBody(m Message) htmlBody {
	text := m.Body
	if json.Valid([]byte(text)) {
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(text), "", "  ") == nil {
			text = buf.String()
		}
	}
	b := htmlBody{Size: len(m.Body), Truncated: m.Truncated}
	if len(text) > htmlBodyLimit {
		cut := htmlBodyLimit
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
		b.Cut = true
	}
	// Invalid UTF-8 and NULs from a binary body would make the page invalid.
	b.Text = strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\x00", "\uFFFD")
	return b
}

func headerPairs(h map[string][]string) []htmlPair {
	var out []htmlPair
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			out = append(out, htmlPair{k, v})
		}
	}
	return out
}

func sortedPairs(m map[string]string) []htmlPair {
	var out []htmlPair
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, htmlPair{k, m[k]})
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04:05.000 MST")
}
