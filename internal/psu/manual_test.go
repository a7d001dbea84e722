package psu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an out that the test may read while Drive writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const manualAuthorize = "https://bank.example/authorize?client_id=PSDFR-ACPR-12345&state=xyz"

func TestManualDriverPaste(t *testing.T) {
	r, w := io.Pipe()
	defer r.Close()
	go func() {
		_, _ = io.WriteString(w, "\nhttps://elsewhere.example/cb?code=nope\n  https://tpp.example/cb?code=abc&state=xyz  \n")
	}()
	var out syncBuffer
	m := NewManualDriver(r, &out, false)
	if !m.Interactive() {
		t.Fatal("a reader wired by the caller should count as interactive")
	}
	o, err := m.Drive(context.Background(), Journey{AuthorizeURL: manualAuthorize, CallbackPrefix: "https://tpp.example/cb", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if q := o.Callback.Query(); q.Get("code") != "abc" || q.Get("state") != "xyz" {
		t.Errorf("callback = %s", o.Callback)
	}
	text := out.String()
	for _, want := range []string{manualAuthorize, "does not start with https://tpp.example/cb", "Paste the full URL"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "code=abc") {
		t.Errorf("the output shows the code:\n%s", text)
	}
}

func TestManualDriverInputEnds(t *testing.T) {
	m := NewManualDriver(strings.NewReader("not a url\n"), io.Discard, false)
	_, err := m.Drive(context.Background(), Journey{AuthorizeURL: manualAuthorize, CallbackPrefix: "https://tpp.example/cb", Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "input ended before a callback URL was pasted") {
		t.Errorf("error = %v, want the input ended", err)
	}
}

func TestManualDriverTimeout(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	m := NewManualDriver(r, io.Discard, false)
	_, err := m.Drive(context.Background(), Journey{AuthorizeURL: manualAuthorize, CallbackPrefix: "https://tpp.example/cb", Timeout: 100 * time.Millisecond})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "journey timed out after 100ms") {
		t.Errorf("error = %v, want a journey timeout", err)
	}
}

func TestManualDriverNotInteractive(t *testing.T) {
	r, w, err := os.Pipe() // a file that is not a terminal: stdin in CI
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	m := NewManualDriver(r, io.Discard, true)
	if m.Interactive() {
		t.Fatal("a pipe file is not interactive")
	}
	_, err = m.Drive(context.Background(), Journey{AuthorizeURL: manualAuthorize, CallbackPrefix: "https://tpp.example/cb", Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "manual PSU driver needs a person at a terminal; it cannot run in CI") {
		t.Errorf("error = %v, want the not-interactive error", err)
	}
}

func TestManualDriverLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	prefix := "http://" + addr + "/cb"

	// A non-terminal stdin: the listener alone must catch the callback.
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	defer inW.Close()
	var out syncBuffer
	m := NewManualDriver(in, &out, true)

	type result struct {
		o   *Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		o, err := m.Drive(context.Background(), Journey{AuthorizeURL: manualAuthorize, CallbackPrefix: prefix, Timeout: 10 * time.Second})
		done <- result{o, err}
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	get := func(u string) (*http.Response, string, error) {
		resp, err := client.Get(u)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp, string(body), nil
	}
	// Wait for the listener: retry until it answers (or Drive ends).
	var resp *http.Response
	for {
		resp, _, err = get("http://" + addr + "/favicon.ico")
		if err == nil {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("Drive ended before listening: %v", r.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a request outside the callback got %d, want 404", resp.StatusCode)
	}
	resp, body, err := get(prefix + "?code=abc&state=xyz")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You can close this tab") {
		t.Errorf("callback answer = %d %q", resp.StatusCode, body)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Drive: %v", r.err)
	}
	if q := r.o.Callback.Query(); r.o.Callback.Host != addr || q.Get("code") != "abc" || q.Get("state") != "xyz" {
		t.Errorf("callback = %s", r.o.Callback)
	}
	if !strings.Contains(out.String(), "Waiting for that redirect on http://"+addr) {
		t.Errorf("output does not say where it listens:\n%s", out.String())
	}
}

func TestQRCode(t *testing.T) {
	if qr := qrCode(manualAuthorize); !strings.Contains(qr, "█") {
		t.Errorf("no QR code drawn for a short URL")
	}
	if qr := qrCode(strings.Repeat("x", 5000)); qr != "" {
		t.Errorf("a QR code for a text too long for one")
	}
}
