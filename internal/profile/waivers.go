package profile

import (
	"strconv"
	"strings"

	"github.com/stetconform/stetconform/features"
)

// Waiver is the bank's explicit, reasoned acceptance that one requirement may stay
// unchecked (skipped or inconclusive) without keeping a run from COMPLIANT, for example
// MTLS-04 when the bank's QTSP issues no expired test QWAC. A waived requirement that
// fails still fails: a waiver covers what could not be checked, never a breach.
type Waiver struct {
	Requirement string `yaml:"requirement"` // a requirement ID of features/requirements.yaml
	Reason      string `yaml:"reason"`      // shown beside the requirement in every report
}

// WaiverReasons maps each waived requirement ID to its reason.
func (p *Profile) WaiverReasons() map[string]string {
	m := make(map[string]string, len(p.Waivers))
	for _, w := range p.Waivers {
		m[w.Requirement] = w.Reason
	}
	return m
}

// checkWaivers wants each waiver to name a requirement of the catalogue, once, with a
// reason a reader of the report can weigh.
func (c *checker) checkWaivers(p *Profile) {
	if len(p.Waivers) == 0 {
		return
	}
	known := map[string]bool{}
	if cat, err := features.Catalogue(); err == nil {
		for _, r := range cat {
			known[r.ID] = true
		}
	}
	seen := map[string]string{}
	for i := range p.Waivers {
		w := &p.Waivers[i]
		field := "waivers[" + strconv.Itoa(i) + "]"
		w.Requirement = strings.TrimSpace(w.Requirement)
		switch {
		case w.Requirement == "":
			c.addAt(field+".requirement", "is required: the ID of the requirement waived, e.g. MTLS-04")
		case len(known) > 0 && !known[w.Requirement]:
			c.addAt(field+".requirement", "%s is not a requirement ID of the catalogue (features/requirements.yaml, e.g. MTLS-04)", c.show(field+".requirement", w.Requirement))
		case seen[w.Requirement] != "":
			c.addAt(field+".requirement", "%s is already waived by %s", w.Requirement, seen[w.Requirement])
		default:
			seen[w.Requirement] = field
		}
		if strings.TrimSpace(w.Reason) == "" {
			c.addAt(field+".reason", "is required: why the bank accepts that %s stays unchecked; every report shows it", w.Requirement)
		}
	}
}
