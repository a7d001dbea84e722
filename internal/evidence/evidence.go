// Package evidence records the HTTP exchanges of a scenario (request, response, TLS
// version, client certificate, timing, transport error) for the compliance report, and
// reads response bodies with a size limit.
package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/stetconform/stetconform/internal/report"
)

// ErrBodyTooLarge is returned, wrapped with the limit, by ReadBody when a body is longer
// than allowed.
var ErrBodyTooLarge = errors.New("response body too large")

// ReadBody reads at most limit bytes of resp's body and closes it. When the body is longer,
// it returns the first limit bytes and an error wrapping ErrBodyTooLarge; it never reads
// more than limit+1 bytes, so an endless body cannot hold it.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp == nil || resp.Body == nil {
		return nil, errors.New("reading response body: no response")
	}
	defer resp.Body.Close()
	if limit < 0 {
		limit = 0
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(data)) > limit {
		return data[:limit], fmt.Errorf("%w: more than %d bytes (status %d)", ErrBodyTooLarge, limit, resp.StatusCode)
	}
	if err != nil {
		return data, fmt.Errorf("reading response body after %d bytes: %s: %w", len(data), Describe(err), err)
	}
	return data, nil
}

// Recorder collects the exchanges of one scenario. Safe for concurrent use.
type Recorder struct {
	limit     int64
	mu        sync.Mutex
	exchanges []report.Exchange
}

// NewRecorder returns a Recorder that keeps at most bodyLimit bytes of each body (e.g.
// 64 KiB); the rest is marked Truncated.
func NewRecorder(bodyLimit int64) *Recorder {
	return &Recorder{limit: max(bodyLimit, 0)}
}

// Exchanges returns a copy of the exchanges recorded so far, in the order they started.
func (r *Recorder) Exchanges() []report.Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]report.Exchange, len(r.exchanges))
	for i, ex := range r.exchanges {
		ex.Request.Header = cloneHeader(ex.Request.Header)
		if ex.Response != nil {
			resp := *ex.Response
			resp.Header = cloneHeader(resp.Header)
			ex.Response = &resp
		}
		out[i] = ex
	}
	return out
}

// Len is how many exchanges were recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.exchanges)
}

func (r *Recorder) add(ex report.Exchange) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exchanges = append(r.exchanges, ex)
	return len(r.exchanges) - 1
}

func (r *Recorder) update(i int, f func(*report.Exchange)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.exchanges[i])
}

// Transport returns a RoundTripper that sends requests through base (http.DefaultTransport
// when nil) and records each exchange under the given actor ("TPP primary", "PSU
// browser"...) and client certificate (its organizationIdentifier, or "").
func (r *Recorder) Transport(base http.RoundTripper, actor, clientCert string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{rec: r, base: base, actor: actor, clientCert: clientCert}
}

type transport struct {
	rec        *Recorder
	base       http.RoundTripper
	actor      string
	clientCert string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	ex := report.Exchange{
		Actor:      t.actor,
		ClientCert: t.clientCert,
		Started:    start,
		Request: report.Message{
			Method: req.Method,
			URL:    req.URL.String(),
			Header: cloneHeader(req.Header),
		},
	}
	if ex.Request.Method == "" {
		ex.Request.Method = http.MethodGet
	}
	if req.Body != nil && req.Body != http.NoBody {
		// Keep the head of the body and send the body whole: what was read comes first,
		// then the rest of the original, which is closed with it.
		head, err := io.ReadAll(io.LimitReader(req.Body, t.rec.limit+1))
		if err != nil {
			req.Body.Close()
			ex.Error = "reading request body: " + Describe(err)
			ex.Duration = time.Since(start)
			report.RedactMessage(&ex.Request)
			t.rec.add(ex)
			return nil, fmt.Errorf("reading request body: %w", err)
		}
		kept := head
		if int64(len(kept)) > t.rec.limit {
			kept = kept[:t.rec.limit]
			ex.Request.Truncated = true
		}
		ex.Request.Body = string(kept)
		// RoundTrippers must not modify the caller's request: send a shallow copy.
		clone := *req
		clone.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(head), req.Body), Closer: req.Body}
		req = &clone
	}
	report.RedactMessage(&ex.Request)

	resp, err := t.base.RoundTrip(req)
	ex.Duration = time.Since(start)
	if err != nil {
		ex.Error = describeAfter(err, ex.Duration)
		t.rec.add(ex)
		return nil, err
	}
	msg := &report.Message{Status: resp.StatusCode, Header: cloneHeader(resp.Header)}
	report.RedactMessage(msg) // headers now; the body as the caller reads it
	ex.Response = msg
	if resp.TLS != nil {
		ex.TLSVersion = tlsVersionName(resp.TLS.Version)
	}
	i := t.rec.add(ex)
	if resp.Body != nil {
		resp.Body = &teeBody{body: resp.Body, rec: t.rec, index: i, limit: t.rec.limit, start: start,
			contentType: resp.Header.Get("Content-Type")}
	}
	return resp, nil
}

// replayBody is a request body put back together after its head was read.
type replayBody struct {
	io.Reader
	io.Closer
}

// teeBody hands the caller the response body as it comes and copies what the caller reads,
// up to the limit, into the exchange. It never reads ahead: a body may be endless.
type teeBody struct {
	body  io.ReadCloser
	rec   *Recorder
	index int
	limit int64
	start time.Time
	// contentType tells RedactMessage how to read the body.
	contentType string

	mu     sync.Mutex
	raw    []byte // the head of the body as read, before redaction
	over   bool   // the body went past the limit
	closed bool
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return n, err
	}
	changed := false
	if n > 0 {
		take := min(int64(n), max(b.limit-int64(len(b.raw)), 0))
		if take > 0 {
			b.raw = append(b.raw, p[:take]...)
			changed = true
		}
		if int64(n) > take && !b.over {
			b.over = true
			changed = true
		}
	}
	var readErr string
	if err != nil && err != io.EOF {
		readErr = "reading response body: " + describeAfter(err, time.Since(b.start))
	}
	if changed || readErr != "" {
		b.record(readErr)
	}
	return n, err
}

// record stores the redacted head of the body in the exchange; b.mu is held.
func (b *teeBody) record(readErr string) {
	m := report.Message{Header: map[string][]string{"Content-Type": {b.contentType}}, Body: string(b.raw)}
	report.RedactMessage(&m) // outside the recorder's lock: other exchanges go on meanwhile
	over := b.over
	b.rec.update(b.index, func(ex *report.Exchange) {
		ex.Response.Body = m.Body
		ex.Response.Truncated = over
		if readErr != "" && ex.Error == "" {
			ex.Error = readErr
		}
	})
}

func (b *teeBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.raw = nil // the evidence has its redacted copy; drop the raw one
	b.mu.Unlock()
	return b.body.Close()
}
