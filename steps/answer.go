package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/evidence"
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
}

// String says what the bank answered, in the words a step's error message needs.
func (a *answer) String() string {
	if a == nil {
		return "no request was made"
	}
	if a.err != nil {
		return "no HTTP answer: " + evidence.Describe(a.err)
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
	if a.fields == nil && len(a.body) > 0 {
		fmt.Fprintf(&b, ", body: %s", clip(string(a.body), 200))
	}
	return b.String()
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
// bank's last answer. Secrets in the answer are handed to the redactor at once.
func (w *World) do(ctx context.Context, hc *http.Client, req *http.Request) *answer {
	ctx, cancel := context.WithTimeout(ctx, w.timeout())
	defer cancel()
	start := time.Now()
	a := &answer{}
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		a.err, a.took = err, time.Since(start)
		w.last = a
		return a
	}
	a.status, a.header = resp.StatusCode, resp.Header
	a.body, err = evidence.ReadBody(resp, bodyLimit)
	a.took = time.Since(start)
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
	w.last = a
	return a
}
