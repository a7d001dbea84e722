package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stetconform/stetconform/internal/report"
)

// client is an HTTP client through rec with a timeout, as every client of the suite.
func client(rec *Recorder, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: rec.Transport(base, "TPP primary", "PSDFR-ACPR-12345"), Timeout: 10 * time.Second}
}

func TestRequestBodyArrivesIntact(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		fmt.Fprintf(w, "%d %s", len(body), hex.EncodeToString(sum[:]))
	}))
	defer srv.Close()

	rec := NewRecorder(1024)
	body := "grant_type=authorization_code&code=SECRETCODE&x=" + strings.Repeat("y", 100_000)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer RAWTOKEN")
	origBody := req.Body
	resp, err := client(rec, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadBody(resp, 1024)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	if want := fmt.Sprintf("%d %s", len(body), hex.EncodeToString(sum[:])); string(got) != want {
		t.Fatalf("server received %q, want %q", got, want)
	}
	if req.Body != origBody {
		t.Error("the caller's request was modified")
	}
	exs := rec.Exchanges()
	if len(exs) != 1 || rec.Len() != 1 {
		t.Fatalf("%d exchanges recorded, want 1", len(exs))
	}
	ex := exs[0]
	if ex.Request.Method != "POST" || ex.Request.URL != srv.URL+"/token" || ex.Actor != "TPP primary" || ex.ClientCert != "PSDFR-ACPR-12345" {
		t.Errorf("request recorded as %+v", ex)
	}
	if len(ex.Request.Body) > 1024+len("[redacted:xxxxxx]") || !ex.Request.Truncated {
		t.Errorf("request body recorded: %d bytes, truncated=%v; want at most the limit, truncated", len(ex.Request.Body), ex.Request.Truncated)
	}
	if strings.Contains(ex.Request.Body, "SECRETCODE") || !strings.Contains(ex.Request.Body, "code=[redacted:") {
		t.Errorf("code not redacted in %q", ex.Request.Body[:60])
	}
	if h := ex.Request.Header["Authorization"]; len(h) != 1 || !strings.HasPrefix(h[0], "Bearer [redacted:") {
		t.Errorf("Authorization recorded as %v", h)
	}
	if req.Header.Get("Authorization") != "Bearer RAWTOKEN" {
		t.Error("redaction reached the caller's request headers")
	}
	if ex.Response == nil || ex.Response.Status != 200 || ex.Started.IsZero() {
		t.Errorf("response recorded as %+v", ex.Response)
	}
}

func TestResponseBodyTeedUpToLimit(t *testing.T) {
	full := `{"access_token":"RAW-AT","token_type":"Bearer","pad":"` + strings.Repeat("p", 5000) + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=RAWSESSION; Path=/")
		io.WriteString(w, full)
	}))
	defer srv.Close()

	tests := []struct {
		name      string
		limit     int64
		truncated bool
	}{
		{"limit above the body", 64 << 10, false},
		{"limit exactly the body", int64(len(full)), false},
		{"limit below the body", 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := NewRecorder(tt.limit)
			resp, err := client(rec, nil).Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			// Read in small pieces, as a JSON decoder would.
			var got bytes.Buffer
			buf := make([]byte, 37)
			for {
				n, err := resp.Body.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			resp.Body.Close()
			if got.String() != full {
				t.Fatalf("caller read %d bytes, want the whole %d", got.Len(), len(full))
			}
			ex := rec.Exchanges()[0]
			want := full[:min(int64(len(full)), tt.limit)]
			m := report.Message{Header: map[string][]string{"Content-Type": {"application/json"}}, Body: want}
			report.RedactMessage(&m)
			if ex.Response.Body != m.Body || ex.Response.Truncated != tt.truncated {
				t.Errorf("recorded %q (truncated=%v), want %q (truncated=%v)", ex.Response.Body[:min(len(ex.Response.Body), 80)], ex.Response.Truncated, m.Body[:min(len(m.Body), 80)], tt.truncated)
			}
			if strings.Contains(ex.Response.Body, "RAW-AT") {
				t.Error("access token recorded in clear")
			}
			if strings.Contains(strings.Join(ex.Response.Header["Set-Cookie"], ""), "RAWSESSION") {
				t.Error("session cookie recorded in clear")
			}
			if ex.Error != "" {
				t.Errorf("unexpected error %q", ex.Error)
			}
		})
	}
}

func TestJSONDecoderStyleReadIsRecorded(t *testing.T) {
	// A caller that stops at the last byte (never sees EOF) and never closes still leaves
	// the body in the evidence.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	rec := NewRecorder(1024)
	resp, err := client(rec, nil).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len(`{"ok":true}`))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if got := rec.Exchanges()[0].Response.Body; got != `{"ok":true}` {
		t.Errorf("recorded %q", got)
	}
}

// endless writes to the client until the client goes away.
func endless(w http.ResponseWriter, r *http.Request) {
	chunk := bytes.Repeat([]byte("z"), 4096)
	for {
		select {
		case <-r.Context().Done():
			return
		default:
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
}

func TestEndlessBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(endless))
	defer srv.Close()

	t.Run("ReadBody stops at its limit", func(t *testing.T) {
		rec := NewRecorder(1000)
		resp, err := client(rec, nil).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		data, err := ReadBody(resp, 10_000)
		if !errors.Is(err, ErrBodyTooLarge) || !strings.Contains(err.Error(), "10000") {
			t.Fatalf("error %v, want ErrBodyTooLarge naming the limit", err)
		}
		if len(data) != 10_000 {
			t.Errorf("got %d bytes, want the first 10000", len(data))
		}
		ex := rec.Exchanges()[0]
		if len(ex.Response.Body) != 1000 || !ex.Response.Truncated {
			t.Errorf("recorded %d bytes, truncated=%v; want 1000, true", len(ex.Response.Body), ex.Response.Truncated)
		}
	})
	t.Run("caller stops reading and closes", func(t *testing.T) {
		rec := NewRecorder(1 << 20)
		resp, err := client(rec, nil).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if got := rec.Exchanges()[0].Response.Body; len(got) < 100 || len(got) > 1<<20 {
			t.Errorf("recorded %d bytes", len(got))
		}
	})
}

func TestErrorsAreClassified(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)

	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	mtls.StartTLS()
	defer mtls.Close()

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()

	refused := closedPort(t)
	reset := rawServer(t, func(c net.Conn) {
		readRequest(c)
		c.(*net.TCPConn).SetLinger(0) // close with RST
		c.Close()
	})
	hangup := rawServer(t, func(c net.Conn) {
		readRequest(c)
		c.Close()
	})
	short := rawServer(t, func(c net.Conn) {
		readRequest(c)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
		c.Close()
	})

	tests := []struct {
		name      string
		url       string
		transport http.RoundTripper
		timeout   time.Duration
		want      string // prefix of Exchange.Error
		bodyErr   string // prefix of Exchange.Error when the failure comes while reading the body
	}{
		{name: "timeout", url: slow.URL, timeout: 200 * time.Millisecond, want: "timeout after "},
		{name: "client certificate required", url: mtls.URL, transport: mtls.Client().Transport, want: "TLS handshake failed: remote error: tls: "},
		{name: "plain HTTP server", url: strings.Replace(plain.URL, "http:", "https:", 1), want: "TLS handshake failed: the server answered in plain HTTP"},
		{name: "connection refused", url: refused, want: "connection refused"},
		{name: "connection reset", url: reset, want: "connection reset by peer"},
		{name: "closed without response", url: hangup, want: "connection closed by the server without a response"},
		{name: "body cut short", url: short, bodyErr: "reading response body: connection closed by the server before the response was complete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := NewRecorder(1024)
			base := tt.transport
			if base == nil {
				base = &http.Transport{DisableKeepAlives: true}
			}
			ctx, cancel := context.WithTimeout(context.Background(), cmp(tt.timeout, 10*time.Second))
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
			resp, err := rec.Transport(base, "no certificate", "").RoundTrip(req)
			if tt.bodyErr != "" {
				if err != nil {
					t.Fatal(err)
				}
				_, err = ReadBody(resp, 1024)
				if err == nil || !strings.Contains(err.Error(), "connection closed by the server") {
					t.Errorf("ReadBody error %v", err)
				}
				if got := rec.Exchanges()[0].Error; !strings.HasPrefix(got, tt.bodyErr) {
					t.Errorf("recorded error %q, want %q", got, tt.bodyErr)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatal("request succeeded, want an error")
			}
			exs := rec.Exchanges()
			if len(exs) != 1 {
				t.Fatalf("%d exchanges", len(exs))
			}
			t.Logf("%s -> %q", tt.name, exs[0].Error)
			if !strings.HasPrefix(exs[0].Error, tt.want) {
				t.Errorf("recorded error %q, want it to start with %q (raw: %v)", exs[0].Error, tt.want, err)
			}
			if exs[0].Response != nil {
				t.Error("a failed exchange has a response")
			}
		})
	}
}

func cmp(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/"
}

// rawServer answers each connection with handle, for failures net/http servers do not make.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			handle(c)
		}
	}()
	return "http://" + l.Addr().String() + "/"
}

// readRequest reads a request head (a GET has no body).
func readRequest(c net.Conn) {
	var head []byte
	buf := make([]byte, 1024)
	for !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			return
		}
	}
}

func TestTLSVersionRecorded(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rec := NewRecorder(1024)
	resp, err := client(rec, srv.Client().Transport).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ReadBody(resp, 1024)
	if v := rec.Exchanges()[0].TLSVersion; v != "TLS 1.3" {
		t.Errorf("TLS version %q, want TLS 1.3", v)
	}
}

func TestConcurrentUseAndCopies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-N", r.URL.Query().Get("n"))
		w.Header().Set("Set-Cookie", "sid=s"+r.URL.Query().Get("n")+"; Path=/")
		io.WriteString(w, strings.Repeat("b", 3000))
	}))
	defer srv.Close()
	rec := NewRecorder(2048)
	c := client(rec, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("%s/?n=%d", srv.URL, i))
			if err != nil {
				t.Error(err)
				return
			}
			ReadBody(resp, 1<<20)
			_ = rec.Exchanges() // reading while others record
		}()
	}
	wg.Wait()
	if rec.Len() != 20 {
		t.Fatalf("Len = %d, want 20", rec.Len())
	}
	exs := rec.Exchanges()
	exs[0].Response.Header["X-N"][0] = "changed"
	exs[0].Request.URL = "changed"
	if again := rec.Exchanges(); again[0].Response.Header["X-N"][0] == "changed" || again[0].Request.URL == "changed" {
		t.Error("Exchanges returned the recorder's own data, not a copy")
	}
	for _, ex := range rec.Exchanges() {
		if len(ex.Response.Body) != 2048 || !ex.Response.Truncated {
			t.Errorf("recorded %d bytes, truncated=%v", len(ex.Response.Body), ex.Response.Truncated)
		}
	}
}

type fakeNetErr struct{ timeout bool }

func (e fakeNetErr) Error() string   { return "fake" }
func (e fakeNetErr) Timeout() bool   { return e.timeout }
func (e fakeNetErr) Temporary() bool { return false }

func TestDescribe(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("wrapped: %w", fakeNetErr{timeout: true}), "timeout"},
		{context.Canceled, "cancelled"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset by peer"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection refused"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "connection closed by the server before the response was complete"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "TLS handshake failed: the server did not answer in TLS (first record does not look like a TLS handshake)"},
		{tls.AlertError(116), "TLS handshake failed: alert: tls: certificate required"},
		{&net.DNSError{Name: "bank.invalid", Err: "no such host", IsNotFound: true}, "DNS lookup failed: no such host bank.invalid"},
		{errors.New("something else"), "something else"},
	}
	for _, tt := range tests {
		if got := Describe(tt.err); got != tt.want {
			t.Errorf("Describe(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if got := describeAfter(context.DeadlineExceeded, 15*time.Second+3*time.Millisecond); got != "timeout after 15s" {
		t.Errorf("describeAfter = %q, want timeout after 15s", got)
	}
}

func TestReadBody(t *testing.T) {
	mk := func(s string) *http.Response {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(s))}
	}
	if b, err := ReadBody(mk("12345"), 5); err != nil || string(b) != "12345" {
		t.Errorf("exact limit: %q %v", b, err)
	}
	if b, err := ReadBody(mk("123456"), 5); !errors.Is(err, ErrBodyTooLarge) || string(b) != "12345" {
		t.Errorf("over limit: %q %v", b, err)
	}
	if _, err := ReadBody(nil, 5); err == nil {
		t.Error("nil response: no error")
	}
}
