package psu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
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

// person stands in for the person at the terminal: it waits for the n-th authorization URL
// the driver prints on out, goes through the fake bank's pages with the approving script
// (as a browser would, with plain HTTP), and returns where the bank sent the browser.
func person(t *testing.T, out *syncBuffer, b *fakeBank, n int) (*url.URL, error) {
	deadline := time.Now().Add(5 * time.Second)
	var urls [][]string
	for {
		urls = printedURL.FindAllStringSubmatch(out.String(), -1)
		if len(urls) >= n {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no authorization URL #%d printed:\n%s", n, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	o, err := NewFormDriver(b.srv.Client()).Drive(context.Background(),
		Journey{AuthorizeURL: urls[n-1][1], CallbackPrefix: b.callback, Script: approveScript, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	return o.Callback, nil
}

// printedURL finds the authorization URL the manual driver prints, alone on its line.
var printedURL = regexp.MustCompile(`(?m)^  (https://\S+)$`)

func TestManualDriverPersonPastes(t *testing.T) {
	b := newFakeBank(t)
	in, paste := io.Pipe()
	defer paste.Close()
	var out syncBuffer
	m := NewManualDriver(in, &out, true) // a non-loopback callback: pasted only
	const total = 3
	done := make(chan error, 1)
	go func() {
		for n := 1; n <= total; n++ {
			cb, err := person(t, &out, b, n)
			if err != nil {
				done <- err
				return
			}
			if _, err := io.WriteString(paste, cb.String()+"\n"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for n := 1; n <= total; n++ {
		o, err := m.Drive(context.Background(), Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback,
			Instruction: "APPROVE the consent request.", Number: n, Total: total, PSU: "psu1", Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("journey %d: %v", n, err)
		}
		if q := o.Callback.Query(); q.Get("code") != bankCode || q.Get("state") != "xyz" {
			t.Errorf("journey %d: callback = %s", n, o.Callback)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"Journey 1 of 3\n", "Journey 2 of 3\n", "Journey 3 of 3\n", "Sign in as the PSU psu1.", ">>> APPROVE the consent request.", "Got the callback URL."} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, bankCode) {
		t.Errorf("the output shows the code:\n%s", text)
	}
}

func TestManualDriverPersonOnLoopback(t *testing.T) {
	b := newFakeBank(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.callback = "http://" + l.Addr().String() + "/callback"
	l.Close()
	in, paste := io.Pipe() // a person who could paste, but the browser is faster
	defer paste.Close()
	var out syncBuffer
	m := NewManualDriver(in, &out, true)
	page := make(chan string, 1)
	go func() {
		cb, err := person(t, &out, b, 1)
		if err != nil {
			page <- err.Error()
			return
		}
		// The browser follows the bank's redirect to the loopback callback.
		resp, err := http.Get(cb.String())
		if err != nil {
			page <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		page <- string(body)
	}()
	o, err := m.Drive(context.Background(), Journey{AuthorizeURL: b.authorizeURL(), CallbackPrefix: b.callback,
		Instruction: "APPROVE the consent request.", Number: 4, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if q := o.Callback.Query(); q.Get("code") != bankCode || q.Get("state") != "xyz" {
		t.Errorf("callback = %s", o.Callback)
	}
	if p := <-page; !strings.Contains(p, "Go back to the terminal") {
		t.Errorf("the browser was shown %q, want a page sending the person back to the terminal", p)
	}
	text := out.String()
	for _, want := range []string{"Journey 4\n", "Waiting for that redirect on " + b.callback[:len(b.callback)-len("/callback")], "Paste the full URL", "Received the redirect from the bank."} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Sign in as the PSU") {
		t.Errorf("a PSU named when the journey names none:\n%s", text)
	}
}

func TestManualDriverReportsStopped(t *testing.T) {
	m := NewManualDriver(strings.NewReader("  Stopped \n"), io.Discard, false)
	o, err := m.Drive(context.Background(), Journey{AuthorizeURL: manualAuthorize, CallbackPrefix: "https://tpp.example/cb", Timeout: 5 * time.Second})
	if !errors.Is(err, ErrNoCallback) || !o.Reported || o.Callback != nil {
		t.Errorf("Drive = %+v, %v; want a reported stop", o, err)
	}
}

// TestManualDriverQROnlyOnTerminal: the QR code is drawn when the screen under the
// console is a terminal, whatever wraps it (the runner's redacting writer is never one).
func TestManualDriverQROnlyOnTerminal(t *testing.T) {
	screen, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer screen.Close()
	defer w.Close()
	terminals := map[uintptr]bool{}
	real := isTerminalFD
	isTerminalFD = func(fd int) bool { return terminals[uintptr(fd)] }
	defer func() { isTerminalFD = real }()

	for _, c := range []struct {
		name     string
		terminal bool
		screen   *os.File
		want     bool
	}{
		{"a terminal under the wrapper", true, w, true},
		{"a pipe under the wrapper", false, w, false},
		{"a wrapper and no screen given", true, nil, false},
	} {
		terminals[w.Fd()] = c.terminal
		var out syncBuffer
		r, pw := io.Pipe()
		m := NewManual(ManualOptions{In: r, Out: &out, Screen: c.screen})
		go func() { _, _ = io.WriteString(pw, "https://tpp.example/cb?code=abc&state=xyz\n") }()
		if _, err := m.Drive(context.Background(), Journey{AuthorizeURL: manualAuthorize, CallbackPrefix: "https://tpp.example/cb", Timeout: 5 * time.Second}); err != nil {
			t.Fatalf("%s: Drive: %v", c.name, err)
		}
		pw.Close()
		text := out.String()
		if got := strings.Contains(text, "█"); got != c.want {
			t.Errorf("%s: QR code drawn = %v, want %v:\n%s", c.name, got, c.want, text)
		}
		if !strings.Contains(text, "\n  "+manualAuthorize+"\n") {
			t.Errorf("%s: the URL is not printed alone on its line:\n%s", c.name, text)
		}
		if got := strings.Contains(text, "scan the QR code"); got != c.want {
			t.Errorf("%s: the QR code announced = %v, want %v", c.name, got, c.want)
		}
	}
}
