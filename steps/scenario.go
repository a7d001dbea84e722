// A scenario's life: its World, the sentences of every feature, the hooks that record each
// step, and the scenario's verdict.

package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
		w.keepRefreshToken()
		w.openGate()
		w.leaveConsent()
		w.closeIdle()
		return ctx, nil
	})
	// Each feature's steps file registers its own sentences.
	w.registerAuthorization(sc)
	w.registerTokenExchange(sc)
	w.registerClientCertificate(sc)
	w.registerBearerToken(sc)
	w.registerRefresh(sc)
	w.registerRefreshLifetime(sc)
	w.registerRevocation(sc)
	w.registerSigning(sc)
	w.registerCBPIIAndRegistration(sc)
}

func (w *World) named(name string) *profile.Client { return w.p.ClientByName(name) }

// before starts the scenario's result and decides whether it applies to this bank: a
// scenario tagged @client:NAME needs that client in the bank profile.
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
		// A missing optional client is the profile's gap, not the bank's choice: the
		// check is skipped (a required one leaves the run incomplete), with what to add.
		if name, ok := strings.CutPrefix(t.Name, "@client:"); ok && w.p.ClientByName(name) == nil {
			w.skip = fmt.Sprintf("the bank profile has no clients.%s: add one to check this (see fixtures/banks/template.yaml)", name)
		}
		if t.Name == "@client:expired" {
			if e, p := w.p.ClientByName("expired"), w.p.ClientByName("primary"); e != nil && p != nil &&
				(e.Leaf == nil || time.Now().Before(e.Leaf.NotAfter) || e.OrganizationIdentifier() != p.OrganizationIdentifier()) {
				w.skip = "clients.expired is not an expired certificate carrying the primary TPP's organizationIdentifier: replace it to check this (see stetconform profile check)"
			}
		}
		if t.Name == "@option:revoke" && w.p.Endpoints.Revoke == "" {
			w.na = "the bank profile declares no revocation endpoint (endpoints.revoke)"
		}
		if t.Name == "@option:signing" && (w.p.Signing == nil || !w.p.Signing.Required) {
			w.na = "the bank profile does not declare signing.required (that the bank refuses unsigned requests)"
		}
		if t.Name == "@option:abandon" && len(w.p.PSU.Abandon) == 0 && w.p.PSU.Driver != "manual" {
			w.na = "the bank profile declares no psu.abandon script (how the PSU interrupts the journey)"
		}
		if t.Name == "@pkce" && w.p.Options.PKCE == "none" {
			w.na = "the bank profile declares options.pkce: none"
		}
	}
	if w.na != "" || w.skip != "" {
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
