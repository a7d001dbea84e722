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
	"words":    verdictWords,
	"verdicts": func() []Verdict { return AllVerdicts },
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
	// FailedLinks and InconclusiveLinks lead from the banner to where each failed or
	// inconclusive requirement is detailed.
	FailedLinks       []htmlLink
	InconclusiveLinks []htmlLink
	Overview          htmlOverview
	// ByRole lists the requirements under each TPP role, when the run checked more than one.
	ByRole []htmlRole
	// Problems are the failed and inconclusive scenarios, detailed after the overview.
	Problems []htmlScenario
	// Unmet counts the requirement rows the "failed only" filter keeps.
	Unmet     int
	Latencies []htmlLatency
	Features  []htmlFeature
}

// htmlOverview is the per-step chart, its geometry computed here so that the template
// only draws it.
type htmlOverview struct {
	Width, Height int
	BarHeight     int
	Rows          []htmlOverviewRow
}

type htmlOverviewRow struct {
	Step   string
	LabelX int // right end of the label
	BarY   int // top of the bar
	TextY  int // baseline of the texts
	Anchor string
	Failed bool
	Text   string // "12 passed, 1 failed"
	TextX  int
	Bars   []htmlBar
}

type htmlBar struct {
	Verdict Verdict
	Y       int
	X, W    string // formatted, so the page does not carry float noise
	Title   string
}

type htmlLatency struct {
	EndpointLatency
	Median, P95, Max string
}

type htmlCount struct {
	Verdict Verdict
	N       int
}

type htmlPair struct{ Key, Value string }

// htmlRole is one TPP role's requirements (ByRole), each linked to its row.
type htmlRole struct {
	Role         string
	Counts       []htmlCount
	Requirements []htmlRoleRequirement
}

type htmlRoleRequirement struct {
	ID, Anchor string
	Verdict    Verdict
	Passed     bool // passed: the ID alone says it
}

type htmlLink struct{ Anchor, Label string }

type htmlRequirement struct {
	RequirementResult
	Anchor string
	Step   string // the STET step it belongs to
	Links  []htmlLink
}

type htmlFeature struct {
	Name      string
	Scenarios []htmlScenario
}

type htmlScenario struct {
	*ScenarioResult
	Anchor   string
	Location string // feature file and line
	Duration string
	// FailAnchor is set on failed and inconclusive scenarios: where they are detailed.
	FailAnchor string
	Step       string // the STET step of its first requirement
	Reqs       []htmlLink
	Steps      []htmlStep
	// FailingStep is the step that failed, or that stopped an inconclusive scenario.
	FailingStep *htmlStep
	// Expected and Actual are the failing step's error (or else the scenario's reason)
	// cut in two (see SplitExpected); Why is that text when it is not of that form.
	Expected, Actual, Why string
	// ShowReason: the scenario's reason says more than the failing step's error.
	ShowReason bool
	Exchanges  []htmlExchange
	// Culprit is the exchange that failed: the last one made up to the failing step.
	Culprit *htmlExchange
	Earlier []htmlExchange // the scenario's other exchanges
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
	failAnchor := map[string]string{} // failed or inconclusive scenario ID -> its details
	for i, sc := range rep.Scenarios {
		scenAnchor[sc.ID] = "s" + strconv.Itoa(i+1)
		if sc.Verdict == Failed || sc.Verdict == Inconclusive {
			failAnchor[sc.ID] = "f" + strconv.Itoa(i+1)
		}
	}
	reqAnchor := map[string]string{}
	v.ReqAnchor = reqAnchor
	for i, r := range rep.Requirements {
		a := "r" + strconv.Itoa(i+1)
		reqAnchor[r.ID] = a
		hr := htmlRequirement{RequirementResult: r, Anchor: a, Step: StetStep(r.ID)}
		for _, id := range r.Scenarios {
			label := id
			if k := slices.IndexFunc(rep.Scenarios, func(s ScenarioResult) bool { return s.ID == id }); k >= 0 {
				label = rep.Scenarios[k].Name
			}
			hr.Links = append(hr.Links, htmlLink{Anchor: scenAnchor[id], Label: label})
		}
		v.Requirements = append(v.Requirements, hr)
		switch r.Verdict {
		case Failed, Warning, Inconclusive:
			v.Unmet++
		}
		// The banner links to the scenario that gave the requirement its verdict, where
		// the failure is detailed, or else to the requirement's row.
		link := htmlLink{Anchor: a, Label: r.ID}
		for _, id := range r.Scenarios {
			k := slices.IndexFunc(rep.Scenarios, func(s ScenarioResult) bool { return s.ID == id })
			if k >= 0 && rep.Scenarios[k].Verdict == r.Verdict && failAnchor[id] != "" {
				link.Anchor = failAnchor[id]
				break
			}
		}
		switch r.Verdict {
		case Failed:
			v.FailedLinks = append(v.FailedLinks, link)
		case Inconclusive:
			v.InconclusiveLinks = append(v.InconclusiveLinks, link)
		}
	}

	features := map[string]int{}
	stepProblem := map[string]string{} // STET step -> its first failed or inconclusive scenario
	for i := range rep.Scenarios {
		sc := &rep.Scenarios[i]
		hs := newHTMLScenario(sc, scenAnchor[sc.ID], reqAnchor)
		if a := failAnchor[sc.ID]; a != "" {
			hs.FailAnchor = a
			v.Problems = append(v.Problems, hs)
			for _, id := range sc.Requirements {
				if st := StetStep(id); stepProblem[st] == "" {
					stepProblem[st] = a
				}
			}
		}
		k, ok := features[sc.Feature]
		if !ok {
			k = len(v.Features)
			features[sc.Feature] = k
			v.Features = append(v.Features, htmlFeature{Name: sc.Feature})
		}
		v.Features[k].Scenarios = append(v.Features[k].Scenarios, hs)
	}
	// Failures first, then inconclusive checks: what breaks the standard before what is
	// not proved; each in the order of the STET flow, then of the catalogue, as the
	// overview and the banner show them.
	catRank := func(h htmlScenario) int {
		r := len(rep.Requirements)
		for _, id := range h.Requirements {
			if k := slices.IndexFunc(rep.Requirements, func(x RequirementResult) bool { return x.ID == id }); k >= 0 {
				r = min(r, k)
			}
		}
		return r
	}
	slices.SortStableFunc(v.Problems, func(a, b htmlScenario) int {
		if d := boolRank(a.Verdict != Failed) - boolRank(b.Verdict != Failed); d != 0 {
			return d
		}
		if d := stepRank(a.Step) - stepRank(b.Step); d != 0 {
			return d
		}
		return catRank(a) - catRank(b)
	})
	v.Overview = newHTMLOverview(Overview(rep.Requirements), stepProblem)
	if roles := ByRole(rep.Requirements); len(roles) > 1 {
		for _, o := range roles {
			hr := htmlRole{Role: o.Role}
			for _, verdict := range AllVerdicts {
				if n := o.Counts[verdict]; n > 0 {
					hr.Counts = append(hr.Counts, htmlCount{verdict, n})
				}
			}
			for _, r := range o.Requirements {
				hr.Requirements = append(hr.Requirements, htmlRoleRequirement{ID: r.ID, Anchor: reqAnchor[r.ID], Verdict: r.Verdict, Passed: r.Verdict == Passed})
			}
			v.ByRole = append(v.ByRole, hr)
		}
	}
	for _, l := range Latencies(rep) {
		v.Latencies = append(v.Latencies, htmlLatency{EndpointLatency: l,
			Median: formatLatency(l.Median, l.Count > l.NoAnswer), P95: formatLatency(l.P95, l.Count > l.NoAnswer), Max: formatLatency(l.Max, l.Count > l.NoAnswer)})
	}
	return v
}

// stepRank orders STET steps as StetSteps; a scenario without a requirement goes last.
func stepRank(step string) int {
	if i := slices.Index(StetSteps, step); i >= 0 {
		return i
	}
	return len(StetSteps)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Geometry of the overview chart, in CSS pixels.
const (
	ovLabelWidth = 150
	ovBarWidth   = 430
	ovRowHeight  = 24
	ovBarHeight  = 16
	ovWidth      = 960
)

// newHTMLOverview lays out one bar per STET step, its length proportional to the step's
// number of requirements, split by verdict in the order of AllVerdicts.
func newHTMLOverview(steps []StepOverview, problem map[string]string) htmlOverview {
	o := htmlOverview{Width: ovWidth, Height: len(steps) * ovRowHeight, BarHeight: ovBarHeight}
	longest := 0
	for _, s := range steps {
		longest = max(longest, s.Total)
	}
	for i, s := range steps {
		row := htmlOverviewRow{
			Step: s.Step, LabelX: ovLabelWidth - 10, Anchor: problem[s.Step],
			BarY: i*ovRowHeight + (ovRowHeight-ovBarHeight)/2, TextY: i*ovRowHeight + 17,
			Failed: s.Counts[Failed] > 0, Text: countLine(s.Counts),
			TextX: ovLabelWidth + ovBarWidth + 12,
		}
		x := float64(ovLabelWidth)
		for _, verdict := range AllVerdicts {
			n := s.Counts[verdict]
			if n == 0 {
				continue
			}
			w := float64(n) / float64(longest) * ovBarWidth
			row.Bars = append(row.Bars, htmlBar{Verdict: verdict, Y: row.BarY,
				X: strconv.FormatFloat(x, 'f', 1, 64), W: strconv.FormatFloat(w, 'f', 1, 64),
				Title: fmt.Sprintf("%s: %d %s", s.Step, n, verdictWords(verdict))})
			x += w
		}
		o.Rows = append(o.Rows, row)
	}
	return o
}

// formatLatency writes a response time as monitoring reports do: milliseconds, or
// seconds above 10 s; "–" when no request was answered.
func formatLatency(d time.Duration, answered bool) string {
	switch {
	case !answered:
		return "–"
	case d >= 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d >= 10*time.Millisecond:
		return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func newHTMLScenario(sc *ScenarioResult, anchor string, reqAnchor map[string]string) htmlScenario {
	hs := htmlScenario{ScenarioResult: sc, Anchor: anchor, Duration: roundDuration(sc.Duration).String()}
	if sc.URI != "" {
		hs.Location = sc.URI + ":" + strconv.Itoa(sc.Line)
	}
	if len(sc.Requirements) > 0 {
		hs.Step = StetStep(sc.Requirements[0])
	}
	for _, id := range sc.Requirements {
		hs.Reqs = append(hs.Reqs, htmlLink{Anchor: reqAnchor[id], Label: id})
	}
	problem := sc.Verdict == Failed || sc.Verdict == Inconclusive
	var failing *StepResult
	if problem {
		failing = stoppingStep(sc)
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
	culprit := -1
	for i := range sc.Steps {
		if &sc.Steps[i] == failing {
			hs.FailingStep = &hs.Steps[i]
			culprit = lastExchangeUpTo(sc, i)
		}
	}
	if problem && culprit < 0 && len(sc.Exchanges) > 0 {
		culprit = len(sc.Exchanges) - 1
	}
	why := sc.Reason
	if failing != nil && failing.Error != "" {
		why = failing.Error
	}
	var split bool
	if hs.Expected, hs.Actual, split = SplitExpected(why); !split {
		hs.Why = why
	}
	// The runner writes a failed scenario's reason as "<step>: <error>"; show it only
	// when it adds to what is shown (a hook's reason, a warning's).
	hs.ShowReason = sc.Reason != "" && !strings.HasSuffix(sc.Reason, why)
	for i := range sc.Exchanges {
		h := newHTMLExchange(i, &sc.Exchanges[i], i == culprit)
		hs.Exchanges = append(hs.Exchanges, h)
		if i == culprit {
			hs.Culprit = &h
		} else {
			hs.Earlier = append(hs.Earlier, h)
		}
	}
	return hs
}

// stoppingStep is the step that failed, or the first one skipped: an inconclusive check
// stops its scenario by skipping the rest, from the step that found it could not decide.
func stoppingStep(sc *ScenarioResult) *StepResult {
	if st := failingStep(sc); st != nil {
		return st
	}
	for i := range sc.Steps {
		if sc.Steps[i].Status == "skipped" {
			return &sc.Steps[i]
		}
	}
	return nil
}

// lastExchangeUpTo is the index of the last exchange made by step i or the steps before
// it, or -1: a "Then" step checks the answer a previous step received, so the exchange
// that failed is often not the failing step's own.
func lastExchangeUpTo(sc *ScenarioResult, i int) int {
	for ; i >= 0; i-- {
		ex := sc.Steps[i].Exchanges
		for j := len(ex) - 1; j >= 0; j-- {
			if ex[j] >= 0 && ex[j] < len(sc.Exchanges) {
				return ex[j]
			}
		}
	}
	return -1
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
