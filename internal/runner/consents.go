package runner

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/consent"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/steps"
)

// planConsents works out, before the first request, which PSU journeys the selected
// scenarios need, and returns the broker that lends their codes and grants, with the plan
// in words for the console and the report.
func planConsents(p *profile.Profile, tags string, console io.Writer, flush func(*consent.Code)) (*consent.Broker, consent.Count, error) {
	all, err := features.Scenarios()
	if err != nil {
		return nil, consent.Count{}, err
	}
	var selected []features.Scenario
	for _, s := range all {
		if matchTags(tags, s.Tags) {
			selected = append(selected, s)
		}
	}
	var ids []consent.Identity
	for i, vars := range p.PSU.Identities {
		ids = append(ids, consent.Identity{Label: fmt.Sprintf("PSU %d of %d (psu.identities[%d])", i+1, len(p.PSU.Identities), i), Vars: vars})
	}
	plan := steps.Plan(p, selected)
	count := plan.Journeys()
	opts := consent.Options{Identities: ids, OnePairPerPSU: p.Options.TokenPairs == "one_per_psu",
		SlotWait: max(2*p.Timeouts.PSUJourney, p.Options.MaxExpiryWait+p.Timeouts.PSUJourney), Flush: flush}
	if p.PSU.Driver == "manual" {
		// One person does every journey, one after the other: a check may wait for all
		// the journeys before its own.
		opts.OneJourneyAtATime = true
		opts.SlotWait = max(opts.SlotWait, time.Duration(count.Total()+1)*p.Timeouts.PSUJourney)
	}
	b := consent.New(opts)
	b.SetPlan(plan)
	pool := ""
	if n := len(ids); n > 1 {
		pool = fmt.Sprintf(", spread over a pool of %d PSUs", n)
	}
	fmt.Fprintf(console, "This run will ask for about %s%s.\n", count, pool)
	return b, count, nil
}

// matchTags applies a godog tag filter (checked by checkTags) to a scenario's tags: "&&"
// binds parts that must all hold, "," separates alternatives, "~" negates.
func matchTags(filter string, tags []string) bool {
	if strings.TrimSpace(filter) == "" {
		return true
	}
	has := map[string]bool{}
	for _, t := range tags {
		has[t] = true
	}
	for _, and := range strings.Split(filter, "&&") {
		any := false
		for _, term := range strings.Split(and, ",") {
			term = strings.TrimSpace(term)
			if neg, ok := strings.CutPrefix(term, "~"); ok {
				any = any || !has[neg]
			} else {
				any = any || has[term]
			}
		}
		if !any {
			return false
		}
	}
	return true
}
