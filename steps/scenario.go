// A scenario's life: its World, the sentences of every feature, the hooks that record each
// step, and the scenario's verdict.

package steps

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	messages "github.com/cucumber/messages/go/v21"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/report"
)

// tpp is the Gherkin phrase that names a TPP client of the bank profile.
const tpp = `(primary|second)`

// Initialize gives one scenario its World, its steps and its hooks. It is godog's
// ScenarioInitializer, closed over the run's Env.
func (e *Env) Initialize(sc *godog.ScenarioContext) {
	w := newWorld(e)
	e.mu.Lock()
	e.worlds = append(e.worlds, w)
	e.mu.Unlock()

	sc.Before(w.before)
	sc.StepContext().Before(func(ctx context.Context, _ *godog.Step) (context.Context, error) {
		w.stepStart, w.stepExch = time.Now(), w.rec.Len()
		return ctx, nil
	})
	sc.StepContext().After(w.afterStep)
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		v := w.result().Verdict
		w.settleConsents(v == report.Passed || v == report.Warning)
		w.keepRefreshToken()
		w.openGate()
		w.leaveConsent()
		w.closeIdle()
		return ctx, nil
	})
	// Each feature's steps file registers its own sentences.
	st := sentences{sc}
	w.registerAuthorization(st)
	w.registerTokenExchange(st)
	w.registerClientCertificate(st)
	w.registerBearerToken(st)
	w.registerRefresh(st)
	w.registerRefreshLifetime(st)
	w.registerRevocation(st)
	w.registerSigning(st)
	w.registerCBPII(st)
	w.registerRegistration(st)
}

// sentences registers a feature's sentences with godog. Each pattern is compiled once a
// run, not once a scenario: given a string, godog compiles it again for every scenario.
// Its hooks (Before, After) are godog's.
type sentences struct{ *godog.ScenarioContext }

var compiledSentences sync.Map // pattern -> *regexp.Regexp

// Step registers the sentence pattern with its code.
func (s sentences) Step(pattern string, code any) {
	re, ok := compiledSentences.Load(pattern)
	if !ok {
		re, _ = compiledSentences.LoadOrStore(pattern, regexp.MustCompile(pattern))
	}
	s.ScenarioContext.Step(re.(*regexp.Regexp), code)
}

func (w *World) named(name string) *profile.Client { return w.p.ClientByName(name) }

// before starts the scenario's result and decides whether it applies to this bank: a
// scenario tagged @client:NAME needs that client in the bank profile (applies).
func (w *World) before(ctx context.Context, sc *godog.Scenario) (context.Context, error) {
	feature, line := "", 0
	if w.env.Locate != nil {
		feature, line = w.env.Locate(sc)
	}
	w.res = report.ScenarioResult{
		ID: fmt.Sprintf("%s:%d", strings.TrimPrefix(sc.Uri, "features/"), line), Feature: feature,
		Name: sc.Name, URI: sc.Uri, Line: line, Started: time.Now(),
	}
	for _, t := range sc.Tags {
		w.res.Tags = append(w.res.Tags, t.Name)
		if id := features.RequirementID(t.Name); id != "" {
			w.res.Requirements = append(w.res.Requirements, id)
		}
	}
	w.na, w.skip = applies(w.p, w.res.Tags)
	texts := make([]string, len(sc.Steps))
	for i, st := range sc.Steps {
		texts[i] = st.Text
	}
	w.demand = demandOf(texts)
	if w.na != "" || w.skip != "" {
		w.linkDone = true // the consent plan left it out
		return ctx, godog.ErrSkip
	}
	return ctx, nil
}

func (w *World) afterStep(ctx context.Context, st *godog.Step, status godog.StepResultStatus, err error) (context.Context, error) {
	sr := report.StepResult{Keyword: keyword(st), Text: st.Text, Status: status.String(), Duration: time.Since(w.stepStart)}
	if err != nil && !errors.Is(err, godog.ErrSkip) {
		sr.Error = err.Error()
	}
	for i := w.stepExch; i < w.rec.Len(); i++ {
		sr.Exchanges = append(sr.Exchanges, i)
	}
	w.res.Steps = append(w.res.Steps, sr)
	return ctx, nil
}

// keyword names a pickle step by its type; And and But inherit the type of the step before.
func keyword(st *godog.Step) string {
	switch st.Type {
	case messages.PickleStepType_CONTEXT:
		return "Given"
	case messages.PickleStepType_ACTION:
		return "When"
	case messages.PickleStepType_OUTCOME:
		return "Then"
	}
	return "*"
}

// result is the scenario as it ran, with its verdict.
func (w *World) result() report.ScenarioResult {
	r := w.res
	r.Exchanges = w.rec.Exchanges()
	if !r.Started.IsZero() {
		r.Duration = 0
		for _, s := range r.Steps {
			r.Duration += s.Duration
		}
	}
	for _, s := range r.Steps {
		if s.Status == "failed" || s.Status == "undefined" || s.Status == "pending" || s.Status == "ambiguous" {
			r.Verdict = report.Failed
			r.Reason = s.Keyword + " " + s.Text + ": " + s.Error
			if s.Error == "" {
				r.Reason = s.Keyword + " " + s.Text + ": step is " + s.Status
			}
			if s.Keyword == "Given" && s.Status == "failed" {
				// A precondition the bank did not meet proves nothing about what this
				// scenario checks; the scenario that checks the precondition itself fails.
				r.Verdict = report.Inconclusive
				r.Reason = "precondition not met: " + r.Reason
			}
			return r
		}
	}
	switch {
	case w.inconclusiveWhy != "":
		r.Verdict, r.Reason = report.Inconclusive, w.inconclusiveWhy
	case w.na != "":
		r.Verdict, r.Reason = report.NotApplicable, w.na
	case w.skip != "":
		r.Verdict, r.Reason = report.Skipped, w.skip
	case len(r.Steps) == 0:
		r.Verdict, r.Reason = report.Skipped, "the scenario did not run"
	case len(r.Warnings) > 0:
		r.Verdict = report.Warning
	default:
		r.Verdict = report.Passed
	}
	return r
}
