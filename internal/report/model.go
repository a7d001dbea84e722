// Package report is the compliance report: its model, the verdict of each requirement,
// redaction of secrets, and the writers (JSON, JUnit, HTML).
package report

import "time"

// Verdict is the outcome of a requirement or a scenario.
type Verdict string

const (
	Passed  Verdict = "passed"
	Failed  Verdict = "failed"
	Warning Verdict = "warning" // a SHOULD not met, or a pass with a remark
	// Inconclusive: the check ran, but what the bank did proves neither compliance nor a
	// breach (a refusal with no positive control, a 429 or 5xx, a journey that never
	// reached the bank, a precondition the bank did not meet). Reason says why. Never a pass.
	Inconclusive  Verdict = "inconclusive"
	Skipped       Verdict = "skipped"        // could not be checked in this run; Reason says why
	NotApplicable Verdict = "not_applicable" // the bank profile says the bank does not offer it
	NotTested     Verdict = "not_tested"     // no scenario checks it yet; Reason says why
)

// Level of a requirement in the catalogue.
const (
	LevelMust       = "MUST"
	LevelShould     = "SHOULD"
	LevelBankOption = "BANK-OPTION" // required when the bank's profile declares the option
)

// Requirement is one entry of features/requirements.yaml.
type Requirement struct {
	ID     string `yaml:"id" json:"id"`
	Level  string `yaml:"level" json:"level"`
	Title  string `yaml:"title" json:"title"`
	Source string `yaml:"source" json:"source"`
	// NotCovered, when set, says why no scenario checks this requirement yet.
	NotCovered string `yaml:"not_covered,omitempty" json:"not_covered,omitempty"`
}

// Report is everything one run found.
type Report struct {
	Tool      Tool      `json:"tool"`
	Bank      Bank      `json:"bank"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	TagFilter string    `json:"tag_filter,omitempty"`
	// Interrupted: the run was stopped before its end (Ctrl-C, SIGTERM): its results are
	// partial and its outcome is COULD NOT FINISH, whatever they say.
	Interrupted bool     `json:"interrupted,omitempty"`
	Notices     []string `json:"notices,omitempty"` // e.g. "server certificate verification disabled"
	// Journeys counts the PSU journeys (strong customer authentications) the run planned
	// and made: against a real bank each is a person or a persona approving.
	Journeys *Journeys `json:"journeys,omitempty"`
	// Baseline is the known-failures file the run was judged with, if any.
	Baseline     *BaselineUse        `json:"baseline,omitempty"`
	Summary      Summary             `json:"summary"`
	Requirements []RequirementResult `json:"requirements"`
	Scenarios    []ScenarioResult    `json:"scenarios"`
}

// Journeys are the PSU journeys of a run.
type Journeys struct {
	Planned int    `json:"planned"` // worked out before the first request
	Plan    string `json:"plan"`    // the planned journeys by kind, in words
	Made    int    `json:"made"`    // begun during the run
}

// Tool names the suite that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Bank names the bank under test.
type Bank struct {
	Name      string            `json:"name"`
	Profile   string            `json:"profile,omitempty"` // path of the bank profile
	Embedded  bool              `json:"embedded"`          // the embedded reference bank
	Faults    []string          `json:"faults,omitempty"`  // the reference bank's named faults in force
	Endpoints map[string]string `json:"endpoints"`
	Options   map[string]string `json:"options,omitempty"` // the bank's declared options
}

// Summary counts requirements and scenarios by verdict, and carries the run's outcome
// (see Decide). Passed is true exactly when the outcome is COMPLIANT.
type Summary struct {
	Passed       bool            `json:"passed"`
	Requirements map[Verdict]int `json:"requirements"`
	Scenarios    map[Verdict]int `json:"scenarios"`
	Exchanges    int             `json:"exchanges"`
	Decision
}

// RequirementResult is the verdict on one requirement, from the scenarios tagged with it.
type RequirementResult struct {
	Requirement
	Verdict   Verdict  `json:"verdict"`
	Reason    string   `json:"reason,omitempty"`
	Scenarios []string `json:"scenarios,omitempty"` // IDs of the scenarios that check it
	// Roles are its verdicts by the TPP role its scenarios check (aisp, cbpii: roles.go).
	Roles []RoleResult `json:"roles,omitempty"`
	// Waived is the reason of the bank profile's waiver for this requirement, if it has
	// one: left unchecked (skipped, inconclusive), it does not keep the run from COMPLIANT.
	Waived string `json:"waived,omitempty"`
	// Baselined is the reason the --baseline file gives for expecting this requirement to
	// fail: a failure it expects does not keep the run from passing the gate.
	Baselined string `json:"baselined,omitempty"`
}

// ScenarioResult is one scenario of one feature, as it ran.
type ScenarioResult struct {
	ID           string   `json:"id"` // stable: feature file and line, e.g. "token.feature:12"
	Feature      string   `json:"feature"`
	Name         string   `json:"name"`
	URI          string   `json:"uri"`
	Line         int      `json:"line"`
	Tags         []string `json:"tags"`
	Requirements []string `json:"requirements"` // the requirement IDs among the tags
	Verdict      Verdict  `json:"verdict"`
	Reason       string   `json:"reason,omitempty"`   // why skipped, not applicable, or failed
	Warnings     []string `json:"warnings,omitempty"` // remarks that do not fail the scenario
	Notes        []string `json:"notes,omitempty"`    // facts a reader needs, e.g. which run issued a token
	// Screenshots are what the PSU's browser showed when a journey failed (PNG, with what
	// the PSU typed emptied first).
	Screenshots []Screenshot  `json:"screenshots,omitempty"`
	Started     time.Time     `json:"started"`
	Duration    time.Duration `json:"duration_ns"`
	Steps       []StepResult  `json:"steps"`
	Exchanges   []Exchange    `json:"exchanges"`
}

// Screenshot is a picture of the bank's page where a PSU journey stopped.
type Screenshot struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	PNG   []byte `json:"png"` // base64 in JSON
}

// StepResult is one Gherkin step as it ran.
type StepResult struct {
	Keyword  string        `json:"keyword"`
	Text     string        `json:"text"`
	Status   string        `json:"status"` // passed, failed, skipped, undefined, pending
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// Exchanges are indexes into the scenario's Exchanges made during this step.
	Exchanges []int `json:"exchanges,omitempty"`
}

// Exchange is one HTTP request and its response (or the error that replaced it), as the
// TPP or the PSU's browser made it. Secrets in it are redacted before it is written.
type Exchange struct {
	Actor      string        `json:"actor"`                 // "TPP primary", "TPP second", "PSU browser", "no certificate"
	ClientCert string        `json:"client_cert,omitempty"` // organizationIdentifier of the certificate presented
	TLSVersion string        `json:"tls_version,omitempty"`
	Request    Message       `json:"request"`
	Response   *Message      `json:"response,omitempty"`
	Error      string        `json:"error,omitempty"` // transport error: timeout, TLS alert, reset...
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration_ns"`
}

// Message is an HTTP request or response as recorded.
type Message struct {
	Method    string              `json:"method,omitempty"`
	URL       string              `json:"url,omitempty"`
	Status    int                 `json:"status,omitempty"`
	Header    map[string][]string `json:"header,omitempty"`
	Body      string              `json:"body,omitempty"`
	Truncated bool                `json:"truncated,omitempty"` // the body was longer than recorded
}
