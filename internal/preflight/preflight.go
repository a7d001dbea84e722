// Package preflight checks a loaded bank profile before a run, for the problems that make
// mutual TLS fail: static checks of the clients' certificates against their client_id and
// their role in the suite (Static), and network probes of the bank's hosts: DNS, TCP, the
// server's certificate chain, whether the bank asks for a client certificate, and a
// handshake with each client's certificate (Probe). Each problem is one Finding saying what
// and where; nothing secret (keys, passwords, values from the environment) is ever in one.
package preflight

import (
	"context"
	"fmt"
	"time"

	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/report"
)

// Level says how bad a finding is.
type Level int

// The levels, from good to bad.
const (
	OK   Level = iota // checked and fine; says what was found
	Warn              // may make checks fail or be meaningless; the profile can still be used
	Fail              // the profile cannot be used as it is
)

func (l Level) String() string {
	switch l {
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Finding is one result of a check.
type Finding struct {
	Level Level
	// Where is the profile field ("clients.primary.certificate") or the host
	// ("bank.example:443") the finding is about.
	Where string
	What  string
	// At is the place in the profile file, "bank.yaml:31", when the finding is about a
	// line of it; "" otherwise.
	At string
}

// String is the finding as one line: "FAIL clients.primary.certificate: what (bank.yaml:31)",
// the level padded so that the texts line up.
func (f Finding) String() string {
	s := fmt.Sprintf("%-4s ", f.Level)
	if f.Where != "" {
		s += f.Where + ": "
	}
	s += f.What
	if f.At != "" {
		s += " (" + f.At + ")"
	}
	return s
}

// Count returns how many findings there are of each level.
func Count(fs []Finding) (ok, warn, fail int) {
	for _, f := range fs {
		switch f.Level {
		case OK:
			ok++
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	return ok, warn, fail
}

// redactor hides the profile's secrets in findings. A client_id or a URL may come from
// the environment, and every such value is a secret to the profile.
func redactor(p *profile.Profile) func(Finding) Finding {
	r := report.NewRedactor()
	r.Add(p.Secrets...)
	return func(f Finding) Finding {
		f.Where, f.What, f.At = r.String(f.Where), r.String(f.What), r.String(f.At)
		return f
	}
}

// BeforeRun is what a run checks before its first scenario, at time now: Static, then,
// when Static finds no Fail, Probe and FirstPage. A Fail among the findings means the
// profile cannot be used as it is: the run is a SETUP ERROR and nothing is blamed on the
// bank, exactly as `stetconform profile check` exits 2 on the same findings.
func BeforeRun(ctx context.Context, p *profile.Profile, now time.Time) []Finding {
	out := Static(p, now)
	if _, _, fail := Count(out); fail > 0 {
		return out
	}
	out = append(out, Probe(ctx, p, nil)...)
	if _, _, fail := Count(out); fail > 0 {
		return out // the first page is on a host that did not answer, or no journey matters
	}
	return append(out, FirstPage(ctx, p))
}

// Failures returns the findings at level Fail.
func Failures(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Level == Fail {
			out = append(out, f)
		}
	}
	return out
}
