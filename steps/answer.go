package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/evidence"
	"github.com/stetconform/stetconform/internal/report"
)

// answer is what the bank answered to one request, or why it did not.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	fields  map[string]any // the body as a JSON object; nil when it is not one
	jsonErr error          // why the body is not a JSON object
	err     error          // transport error: no HTTP answer at all
	took    time.Duration
	sent    time.Time // when the last attempt left (after any wait for a rate limit)
	refresh bool      // a refresh of the scenario's grant (its consent's lifetime applies)
	// rateLimit says how the bank kept rate-limiting the request after the suite waited.
	rateLimit string
	// withheld says why the request was not sent: its endpoint is out of service (pace.go).
	withheld string
}

// notARefusal says why an answer cannot count as the bank refusing what a negative check
// is about (nil: it can): a rate limit or a server failure is no refusal (issue: a 429 or
// a 5xx must never pass a check). The scenario is then inconclusive, with the reason.
func (w *World) notARefusal(a *answer) error {
	switch {
	case a != nil && a.withheld != "":
		return w.inconclusive("%s", w.busyWhy(a)) // not sent: its endpoint is out of service
	case a == nil || a.err != nil:
		return nil // the checks say what a missing answer means for them
	case busy(a):
		return w.inconclusive("%s", w.busyWhy(a))
	case a.status >= 500:
		return w.inconclusive("the bank failed with %s: a server error is not a refusal, so this proves nothing about the check", a)
	}
	return nil
}

// notAnAnswer says why an answer cannot count for or against a positive check: a rate
// limit, or a bank out of service. Another server error can: the bank did not do what it
// must.
func (w *World) notAnAnswer(a *answer) error {
	if a != nil && busy(a) {
		return w.inconclusive("%s", w.busyWhy(a))
	}
	return nil
}

// busyWhy is the reason of a check the bank would not serve: 429, its rate limit, which
// the profile can declare so that the run keeps under it; 503, the bank out of service.
func (w *World) busyWhy(a *answer) string {
	how := a.rateLimitWhy()
	if a.status != http.StatusTooManyRequests {
		return fmt.Sprintf("the bank was unavailable (%s): an unavailable bank is neither a pass nor a refusal, so this proves nothing about the check; run again later", how)
	}
	advice := "declare the bank's rate in the profile (rate_limit: requests_per_second) so that the run keeps under it"
	if rl := w.p.RateLimit; rl != nil {
		advice = fmt.Sprintf("the profile's rate_limit of %g requests per second (burst %g) is more than the bank allows: declare a lower one", rl.RequestsPerSecond, rl.Burst)
	}
	return fmt.Sprintf("the bank rate-limited the request (%s): a rate limit is neither a pass nor a refusal, so this proves nothing about the check; %s", how, advice)
}

func (a *answer) rateLimitWhy() string {
	if a.withheld != "" {
		return a.withheld
	}
	if a.rateLimit != "" {
		return a.rateLimit
	}
	return fmt.Sprintf("HTTP %d", a.status)
}

// String says what the bank answered, in the words a step's error message needs.
func (a *answer) String() string {
	if a == nil {
		return "no request was made"
	}
	if a.withheld != "" {
		return "no request sent (" + a.withheld + ")"
	}
	if a.err != nil && a.status == 0 {
		return "no HTTP answer: " + evidence.DescribeAfter(a.err, a.took)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", a.status)
	if e := a.str("error"); e != "" {
		fmt.Fprintf(&b, ", error=%q", e)
	}
	if d := a.str("error_description"); d != "" {
		fmt.Fprintf(&b, ", error_description=%q", clip(d, 160))
	}
	if ch := a.header.Values("WWW-Authenticate"); len(ch) > 0 {
		fmt.Fprintf(&b, ", WWW-Authenticate: %s", strings.Join(ch, ", "))
	}
	if ct := a.header.Get("Content-Type"); ct != "" {
		fmt.Fprintf(&b, ", Content-Type: %s", ct)
	}
	switch {
	case a.err != nil:
		// The status line came, the whole body did not: say so, not "no HTTP answer".
		b.WriteString(", " + a.bodyFailure())
	case a.fields == nil && len(a.body) > 0:
		switch {
		case a.isJSON() && !json.Valid(a.body):
			fmt.Fprintf(&b, ", body is not valid JSON (%v)", a.jsonErr)
		case a.isJSON():
			b.WriteString(", body is JSON but not an object")
		case a.status >= 200 && a.status < 300:
			b.WriteString(", body is not JSON")
		}
		fmt.Fprintf(&b, ", body: %s", a.excerpt())
	case a.fields != nil:
		b.WriteString(a.wrongTypes())
		if (a.status < 200 || a.status >= 300) && a.str("error") == "" {
			// An error without an OAuth error member: its body is all the bank said.
			fmt.Fprintf(&b, ", body: %s", a.excerpt())
		}
	}
	return b.String()
}

// excerpt is the head of the body for a message, with the values of token, code and
// password fields fingerprinted: a body that does not parse never had its secrets handed
// to the redactor.
func (a *answer) excerpt() string {
	m := report.Message{Header: map[string][]string{"Content-Type": {a.header.Get("Content-Type")}}, Body: clip(string(a.body), 200)}
	report.RedactMessage(&m)
	return m.Body
}

// bodyFailure says why the body of an answer whose status line came could not be read.
func (a *answer) bodyFailure() string {
	if errors.Is(a.err, evidence.ErrBodyTooLarge) {
		return fmt.Sprintf("but its body is larger than the suite's limit of %d MiB", bodyLimit>>20)
	}
	return fmt.Sprintf("but reading its body failed after %d bytes: %s", len(a.body), evidence.DescribeAfter(a.err, a.took))
}

// wrongTypes names the members of a token or error response that have the wrong JSON type
// (a number for access_token, a string for expires_in...), which str and a reader of
// the message would otherwise take for missing.
func (a *answer) wrongTypes() string {
	var b strings.Builder
	for _, k := range []string{"access_token", "token_type", "refresh_token", "error", "error_description"} {
		if v, ok := a.fields[k]; ok {
			if _, isString := v.(string); !isString {
				fmt.Fprintf(&b, ", %s is a JSON %s, not a string", k, jsonType(v))
			}
		}
	}
	if v, ok := a.fields["expires_in"]; ok {
		if _, isNumber := v.(float64); !isNumber {
			fmt.Fprintf(&b, ", expires_in is a JSON %s, not a number", jsonType(v))
		}
	}
	return b.String()
}

// jsonType names the JSON type of a value decoded by encoding/json.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// str returns a string member of the JSON body ("" when absent or not a string).
func (a *answer) str(name string) string {
	if a == nil || a.fields == nil {
		return ""
	}
	s, _ := a.fields[name].(string)
	return s
}

// isJSON says whether the answer declares a JSON body.
func (a *answer) isJSON() bool {
	mt, _, err := mime.ParseMediaType(a.header.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// do sends req with hc, reads the answer within the limits, and remembers it as the
// bank's last answer. Secrets in the answer are handed to the redactor at once. The
// client's paced transport waits for the run's rate limit and honours 429 and 503 (see
// pace.go); a rate limit or a bank out of service is never a verdict.
func (w *World) do(ctx context.Context, hc *http.Client, req *http.Request) *answer {
	w.lateToken = "" // callAccounts says it of its own request
	log := &sendLog{}
	ctx = context.WithValue(ctx, sendLogKey{}, log)
	start := time.Now()
	a := &answer{}
	// took counts from when the last attempt left: a wait for the rate limit or a
	// Retry-After is not the bank's slowness, and the request was sent after it.
	took := func() time.Duration {
		a.sent = log.lastSend
		if a.sent.IsZero() {
			a.sent = start
		}
		return time.Since(a.sent)
	}
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		a.err, a.took = err, took()
		if oos := (*OutOfService)(nil); errors.As(err, &oos) {
			a.withheld = oos.Error()
		}
		w.last = a
		return a
	}
	a.status, a.header = resp.StatusCode, resp.Header
	a.body, err = evidence.ReadBody(resp, bodyLimit)
	a.took = took()
	if err != nil {
		a.err = fmt.Errorf("reading the body of HTTP %d: %w", resp.StatusCode, err)
		w.last = a
		return a
	}
	if len(a.body) > 0 {
		var m map[string]any
		if err := json.Unmarshal(a.body, &m); err != nil {
			a.jsonErr = err
		} else {
			a.fields = m
			for _, k := range []string{"access_token", "refresh_token", "id_token", "code"} {
				if s, ok := m[k].(string); ok {
					w.env.Redactor.Add(s)
				}
			}
		}
	} else {
		a.jsonErr = fmt.Errorf("empty body")
	}
	if busy(a) {
		a.rateLimit = log.why(a.status)
	}
	w.last = a
	return a
}
