package psu

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Journey is one PSU visit to the bank's authorization endpoint.
type Journey struct {
	AuthorizeURL   string
	CallbackPrefix string        // the redirect_uri: the journey ends when the browser is sent to a URL starting with it
	Script         Script        // what the PSU does on the bank's pages
	Timeout        time.Duration // the whole journey (profile timeouts.psu_journey); zero means DefaultJourneyTimeout
	// StopAt lists further URL prefixes where the journey ends as at the callback, without
	// the URL being requested (a registered callback the bank should not have used).
	StopAt []string
	// Instruction tells a person what to do on the bank's pages ("Approve the consent
	// request."); the manual driver prints it, the scripted drivers follow Script.
	Instruction string
	// Number is the journey's place among those the run asks for (1 for the first) and
	// Total how many that is; 0 means unknown. The manual driver shows "Journey 3 of 12".
	Number int
	Total  int
	// PSU names the PSU identity of the profile's pool that goes through this journey
	// ("" when there is one PSU, or nobody said); the manual driver shows it.
	PSU string
}

// Outcome is where the journey ended.
type Outcome struct {
	Callback   *url.URL // the callback URL the bank redirected to; nil if never reached
	LastURL    string   // the last page shown (when the journey stopped elsewhere)
	LastStatus int
	LastTitle  string
	Redirects  int
	Screenshot []byte // browser driver, on failure (PNG)
	// Reported is set when a person (manual driver) reported that the bank stopped the
	// journey on one of its pages, before any callback.
	Reported bool
}

// Driver runs journeys. The error says in plain words why the journey did not reach the
// callback; the outcome is filled as far as it got, even with an error.
type Driver interface {
	Drive(ctx context.Context, j Journey) (*Outcome, error)
}

// ErrNoCallback is wrapped when the script ran out without reaching the callback.
var ErrNoCallback = errors.New("the bank never redirected to the callback")

// DefaultJourneyTimeout bounds a journey whose Timeout is zero, so that no journey can
// hang for ever.
const DefaultJourneyTimeout = 2 * time.Minute

// maxRedirects is where a chain of redirects counts as a loop (the number browsers use).
const maxRedirects = 20

// maxBody bounds what is read of any page of the bank.
const maxBody = 2 << 20

func (j Journey) timeout() time.Duration {
	if j.Timeout > 0 {
		return j.Timeout
	}
	return DefaultJourneyTimeout
}

// check rejects a journey that cannot start, before anything is sent.
func (j Journey) check() error {
	if j.CallbackPrefix == "" {
		return errors.New("journey has no callback prefix (redirect_uri)")
	}
	u, err := url.Parse(j.AuthorizeURL)
	if err != nil {
		return fmt.Errorf("authorization URL %q: %v", j.AuthorizeURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("authorization URL %q: expected an http or https URL", j.AuthorizeURL)
	}
	return nil
}

// isCallback says whether the browser being sent to rawURL ends the journey.
func (j Journey) isCallback(rawURL string) bool {
	for _, p := range j.prefixes() {
		if strings.HasPrefix(rawURL, p) {
			return true
		}
	}
	return false
}

// prefixes are the callback prefix and the StopAt ones.
func (j Journey) prefixes() []string {
	return append([]string{j.CallbackPrefix}, j.StopAt...)
}

// MatchGlob reports whether s matches the URL glob pattern, where '*' matches any run of
// characters (slashes included) and every other character matches itself. The whole of
// s must match: "*/login*" matches "https://bank/login?x=1", "/login" alone does not.
func MatchGlob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	first, last := parts[0], parts[len(parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// timeoutError reads as a sentence and still answers errors.Is(err, context.DeadlineExceeded).
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

func journeyTimedOut(d time.Duration, where string) error {
	return &timeoutError{fmt.Sprintf("journey timed out after %s on %s", shortDuration(d), where)}
}

func stepTimedOut(n int, d time.Duration, what, where string) error {
	return &timeoutError{fmt.Sprintf("step %d: %s: timed out after %s on %s", n, what, shortDuration(d), where)}
}

// shortDuration prints 2m rather than 2m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// describePage names a page the way errors show it: URL (status, "title").
func describePage(rawURL string, status int, title string) string {
	return fmt.Sprintf("%s (%d, %q)", rawURL, status, title)
}

// stepTimeout is the bound of one step: its own, or what is left of the journey.
func stepTimeout(ctx context.Context, st Step) (context.Context, context.CancelFunc, time.Duration) {
	if st.Timeout > 0 {
		c, cancel := context.WithTimeout(ctx, st.Timeout)
		return c, cancel, st.Timeout
	}
	var left time.Duration
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl).Round(time.Second)
	}
	c, cancel := context.WithCancel(ctx)
	return c, cancel, left
}
