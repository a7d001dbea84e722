package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/stetconform/stetconform/internal/report"
)

// The files of a fleet's index, in its output folder beside one folder per bank.
const (
	IndexJSON  = "fleet.json"
	IndexJUnit = "junit.xml"
	IndexHTML  = "index.html"
)

// Index is a fleet's result: one row per bank, its outcome and its verdict on each
// requirement. It is fleet.json, and index.html and junit.xml are written from it.
type Index struct {
	Tool     report.Tool `json:"tool"`
	Started  time.Time   `json:"started"`
	Finished time.Time   `json:"finished"`
	// TagFilter is the --tags every bank ran with.
	TagFilter string `json:"tag_filter,omitempty"`
	// Shard is the part of the profiles this index covers (fleet --shard); nil for a
	// whole fleet, and for the index report merge builds from shards.
	Shard *Shard `json:"shard,omitempty"`
	// Outcome is the worst outcome of the banks (see Worse), and ExitCode its code.
	Outcome  report.Outcome         `json:"outcome"`
	ExitCode int                    `json:"exit_code"`
	Outcomes map[report.Outcome]int `json:"outcomes"` // banks by outcome
	Notices  []string               `json:"notices,omitempty"`
	// Requirements are the matrix's columns: the catalogue.
	Requirements []report.Requirement `json:"requirements"`
	Banks        []Bank               `json:"banks"` // sorted by ID
}

// Bank is one bank's row.
type Bank struct {
	// ID names the bank's report folder in the fleet's output folder (from its profile
	// file's name, unique in the fleet).
	ID      string `json:"id"`
	Profile string `json:"profile"` // the profile file as given
	Name    string `json:"name,omitempty"`
	// Outcome and ExitCode are those a `stetconform run` of this bank alone would give.
	Outcome  report.Outcome `json:"outcome"`
	ExitCode int            `json:"exit_code"`
	Headline string         `json:"headline,omitempty"`
	// Error is why the run gave no verdict (SETUP ERROR, COULD NOT FINISH).
	Error string `json:"error,omitempty"`
	// Report is the bank's report.html relative to the fleet folder, when it was written.
	Report   string                    `json:"report,omitempty"`
	Verdicts map[string]report.Verdict `json:"verdicts,omitempty"` // requirement ID -> verdict
	Started  time.Time                 `json:"started"`
	Duration time.Duration             `json:"duration_ns"`
}

// rank orders the outcomes for a fleet's exit code: the higher, the worse. A fleet's
// code first answers "is this result whole?", then "did a bank fail?":
//
//   - COULD NOT FINISH (3): a bank's run was cut short (interrupted, unwritable output);
//     the fleet itself is unfinished, and rerunning is what to do first;
//   - SETUP ERROR (2): a bank was not judged at all (a broken profile, a pre-run check
//     failed); a NOT COMPLIANT elsewhere must not hide that a bank went unchecked;
//   - NOT COMPLIANT (1): a bank was judged and failed a required check: a proven breach;
//   - INCOMPLETE (4): nothing failed, but a check was not proved: weaker than a breach;
//   - COMPLIANT WITH KNOWN FAILURES, then COMPLIANT (0).
var rank = map[report.Outcome]int{
	report.Compliant:                  0,
	report.CompliantWithKnownFailures: 1,
	report.Incomplete:                 2,
	report.NotCompliant:               3,
	report.SetupError:                 4,
	report.CouldNotFinish:             5,
}

// Worse says whether outcome a ranks above b (see rank); an unknown outcome ranks as
// COULD NOT FINISH.
func Worse(a, b report.Outcome) bool { return rankOf(a) > rankOf(b) }

func rankOf(o report.Outcome) int {
	if r, ok := rank[o]; ok {
		return r
	}
	return rank[report.CouldNotFinish]
}

// Summarize sorts the banks and sets the fleet's outcome, exit code and counts. A fleet
// of no bank (an empty shard) is COMPLIANT: it has nothing to report.
func (x *Index) Summarize() {
	sort.Slice(x.Banks, func(i, j int) bool { return x.Banks[i].ID < x.Banks[j].ID })
	x.Outcome, x.Outcomes = report.Compliant, map[report.Outcome]int{}
	for _, b := range x.Banks {
		x.Outcomes[b.Outcome]++
		if Worse(b.Outcome, x.Outcome) {
			x.Outcome = b.Outcome
		}
	}
	x.ExitCode = x.Outcome.ExitCode()
}

// WriteAll writes fleet.json, junit.xml and index.html into dir.
func (x *Index) WriteAll(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{IndexJSON, x.WriteJSON},
		{IndexJUnit, x.WriteJUnit},
		{IndexHTML, x.WriteHTML},
	} {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(dir, f.name), err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes fleet.json.
func (x *Index) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(x)
}

// ReadIndex reads the fleet.json of a fleet's (or a shard's) output folder.
func ReadIndex(dir string) (*Index, error) {
	data, err := os.ReadFile(filepath.Join(dir, IndexJSON))
	if err != nil {
		return nil, fmt.Errorf("%s is not a fleet's output folder: %w", dir, err)
	}
	var x Index
	if err := json.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%s: not a stetconform fleet.json: %v", filepath.Join(dir, IndexJSON), err)
	}
	if x.Tool.Name != "stetconform" || x.Outcome == "" {
		return nil, fmt.Errorf("%s: not a stetconform fleet.json", filepath.Join(dir, IndexJSON))
	}
	return &x, nil
}
