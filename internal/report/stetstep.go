package report

import "strings"

// The steps of STET Part I 3.4 a report groups its requirements by, in the order a TPP
// meets them. A reader sees at a glance which part of the bank's flow failed.
const (
	StepAuthorize         = "authorize"
	StepCallback          = "callback"
	StepToken             = "token"
	StepClientCertificate = "client certificate"
	StepSigning           = "signing"
	StepBearer            = "bearer"
	StepRefresh           = "refresh"
	StepRefreshLifetime   = "refresh lifetime"
	StepRevocation        = "revocation"
	// StepOther holds what the catalogue lists outside the 3.4 flow this suite checks
	// (client credentials, registration), so that no requirement goes uncounted.
	StepOther = "other"
)

// StetSteps lists the steps in the order reports show them.
var StetSteps = []string{
	StepAuthorize, StepCallback, StepToken, StepClientCertificate, StepSigning,
	StepBearer, StepRefresh, StepRefreshLifetime, StepRevocation, StepOther,
}

// stepByID places the requirements whose prefix would put them elsewhere: the callback's
// checks carry AUTHZ IDs, and the lifetime and revocation checks live in their own
// feature files although their IDs are REFRESH or BEARER ones.
var stepByID = map[string]string{
	"AUTHZ-02":   StepCallback,
	"AUTHZ-03":   StepCallback,
	"AUTHZ-04":   StepCallback,
	"AUTHZ-05":   StepCallback,
	"REFRESH-10": StepRefreshLifetime,
	"REFRESH-13": StepRefreshLifetime,
	"REFRESH-11": StepRevocation,
	"BEARER-10":  StepRevocation,
}

var stepByPrefix = map[string]string{
	"AUTHZ":   StepAuthorize,
	"TOKEN":   StepToken,
	"MTLS":    StepClientCertificate,
	"SIG":     StepSigning,
	"BEARER":  StepBearer,
	"REFRESH": StepRefresh,
	"REVOKE":  StepRevocation,
}

// StetStep is the step of the STET flow requirement id belongs to.
func StetStep(id string) string {
	if s, ok := stepByID[id]; ok {
		return s
	}
	prefix, _, _ := strings.Cut(id, "-")
	if s, ok := stepByPrefix[prefix]; ok {
		return s
	}
	return StepOther
}

// StepOverview counts the requirements of one STET step by verdict.
type StepOverview struct {
	Step   string
	Counts map[Verdict]int
	Total  int
}

// Overview counts reqs by STET step and verdict, in the order of StetSteps, leaving out
// steps without a requirement.
func Overview(reqs []RequirementResult) []StepOverview {
	by := map[string]*StepOverview{}
	for _, r := range reqs {
		s := StetStep(r.ID)
		o := by[s]
		if o == nil {
			o = &StepOverview{Step: s, Counts: map[Verdict]int{}}
			by[s] = o
		}
		o.Counts[r.Verdict]++
		o.Total++
	}
	var out []StepOverview
	for _, s := range StetSteps {
		if o := by[s]; o != nil {
			out = append(out, *o)
		}
	}
	return out
}
