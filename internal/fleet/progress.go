package fleet

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/stetconform/stetconform/features"
	"github.com/stetconform/stetconform/internal/report"
)

// Progress shows a fleet's banks as they run. Its methods are called from the banks'
// goroutines.
type Progress interface {
	// Start says that a bank's run starts, with total scenarios expected.
	Start(id string, total int) BankProgress
	// Skip says that a bank never started (the fleet was interrupted).
	Skip(id string, outcome report.Outcome, why string)
	// Wait returns once everything shown is written.
	Wait()
}

// BankProgress is one bank's progress.
type BankProgress interface {
	Scenario() // a scenario ended
	End(outcome report.Outcome, why string)
}

type nopProgress struct{}

func (nopProgress) Start(string, int) BankProgress      { return nopBank{} }
func (nopProgress) Skip(string, report.Outcome, string) {}
func (nopProgress) Wait()                               {}

type nopBank struct{}

func (nopBank) Scenario()                  {}
func (nopBank) End(report.Outcome, string) {}

// Lines is the progress for an output that is not a terminal (a CI log, a file): one
// line when a bank starts, one when it ends.
func Lines(w io.Writer) Progress { return &lines{w: w} }

type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

func (l *lines) Start(id string, total int) BankProgress {
	l.printf("start %s (%d scenarios)\n", id, total)
	return &lineBank{l: l, id: id, start: time.Now()}
}

func (l *lines) Skip(id string, outcome report.Outcome, why string) {
	l.printf("end   %s: %s (%s)\n", id, outcome, why)
}

func (l *lines) Wait() {}

type lineBank struct {
	l     *lines
	id    string
	start time.Time
	done  atomic.Int64
}

func (b *lineBank) Scenario() { b.done.Add(1) }

func (b *lineBank) End(outcome report.Outcome, why string) {
	d := time.Since(b.start).Round(100 * time.Millisecond)
	if why != "" {
		b.l.printf("end   %s: %s in %s: %s\n", b.id, outcome, d, firstLine(why))
		return
	}
	b.l.printf("end   %s: %s in %s, %d scenarios\n", b.id, outcome, d, b.done.Load())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Bars is the progress for a terminal: a bar per running bank (mpb), removed when the bank
// ends and replaced by a line with its outcome above the bars.
func Bars(w io.Writer) Progress {
	return &bars{w: w, p: mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))}
}

// bars shows a bar per bank that ends with the bank's outcome; the outcome lines are
// printed once the bars are done (mpb may drop a line written above the bars as the last
// one completes).
type bars struct {
	w     io.Writer
	p     *mpb.Progress
	mu    sync.Mutex
	lines []string
}

// say keeps an outcome line for after Wait.
func (b *bars) say(line string) {
	b.mu.Lock()
	b.lines = append(b.lines, line)
	b.mu.Unlock()
}

func (b *bars) Start(id string, total int) BankProgress {
	bb := &barBank{bars: b, id: id, start: time.Now(), total: int64(total)}
	bb.bar = b.p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name(id, decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace),
			decor.Any(func(decor.Statistics) string { o, _ := bb.outcome.Load().(string); return o }, decor.WCSyncSpace)),
	)
	return bb
}

func (b *bars) Skip(id string, outcome report.Outcome, why string) {
	b.say(fmt.Sprintf("%s: %s (%s)\n", id, outcome, why))
}

// Wait waits for the bars to end, then prints the outcome lines.
func (b *bars) Wait() {
	b.p.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		_, _ = io.WriteString(b.w, l)
	}
}

type barBank struct {
	outcome atomic.Value // string: the bank's outcome, shown at the end of its bar
	bars    *bars
	bar     *mpb.Bar
	id      string
	start   time.Time
	total   int64
	done    atomic.Int64
}

func (b *barBank) Scenario() {
	// More scenarios than expected (a tag filter read otherwise): the bar grows.
	if n := b.done.Add(1); n > b.total {
		b.bar.SetTotal(n, false)
	}
	b.bar.Increment()
}

func (b *barBank) End(outcome report.Outcome, why string) {
	d := time.Since(b.start).Round(100 * time.Millisecond)
	if why != "" {
		b.bars.say(fmt.Sprintf("%s: %s in %s: %s\n", b.id, outcome, d, firstLine(why)))
	} else {
		b.bars.say(fmt.Sprintf("%s: %s in %s\n", b.id, outcome, d))
	}
	b.outcome.Store(string(outcome))
	b.bar.SetTotal(-1, true) // complete at its current count, showing the outcome
}

// selected counts the scenarios the tag filter tags selects, as godog v0.15 reads it
// (runner/tags.go): "&&" binds last, "," is or, "~" is not.
func selected(tags string) (int, error) {
	all, err := features.Scenarios()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range all {
		if matches(tags, s.Tags) {
			n++
		}
	}
	return n, nil
}

func matches(expr string, tags []string) bool {
	if strings.TrimSpace(expr) == "" {
		return true
	}
	has := map[string]bool{}
	for _, t := range tags {
		has[strings.TrimPrefix(t, "@")] = true
	}
	for _, and := range strings.Split(expr, "&&") {
		any := false
		for _, term := range strings.Split(and, ",") {
			term = strings.TrimSpace(term)
			not := strings.HasPrefix(term, "~")
			name := strings.TrimPrefix(strings.TrimPrefix(term, "~"), "@")
			if has[name] != not {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	return true
}
