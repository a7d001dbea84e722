// Package psu drives the customer's (PSU's) side of the authorization journey: the pages
// of the bank between GET /authorize and the redirect to the TPP's callback.
package psu

import (
	"strings"
	"time"
)

// Script is the ordered list of things a PSU does on the bank's pages, for one journey
// (approving or refusing consent). Both the form and the browser drivers understand it.
type Script []Step

// Step acts on one page of the journey. Selectors are CSS selectors.
type Step struct {
	// Match, when set, is a URL glob ("*/login*"): the step waits for a page whose URL
	// matches it. Without it the step acts on the page the journey is on.
	Match string `yaml:"match,omitempty" json:"match,omitempty"`
	// Fill sets form fields: CSS selector -> value. Values are PSU credentials and are
	// treated as secrets (never written to a report or a log).
	Fill map[string]string `yaml:"fill,omitempty" json:"-"`
	// WaitFor is a CSS selector the step waits for before acting.
	WaitFor string `yaml:"wait_for,omitempty" json:"wait_for,omitempty"`
	// Press is the CSS selector of the button (or submit input) the step presses last.
	Press string `yaml:"press,omitempty" json:"press,omitempty"`
	// Timeout bounds this step; zero means the journey's own timeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// WithVars returns the script with {psu.KEY} in its fill values replaced by vars[KEY]:
// one script serves every PSU of the profile's pool.
func (s Script) WithVars(vars map[string]string) Script {
	if len(vars) == 0 {
		return s
	}
	out := make(Script, len(s))
	for i, st := range s {
		out[i] = st
		if len(st.Fill) == 0 {
			continue
		}
		out[i].Fill = make(map[string]string, len(st.Fill))
		for sel, v := range st.Fill {
			for k, val := range vars {
				v = strings.ReplaceAll(v, "{psu."+k+"}", val)
			}
			out[i].Fill[sel] = v
		}
	}
	return out
}
