package runner

import (
	"bytes"
	"io"
	"regexp"
	"sync"
)

// stepDefRe is the comment godog's pretty format ends a step line with: the Go step
// definition that ran it ("# world.go:80 -> *World"), grey when coloured. It tells a
// bank's engineer nothing; the feature locations ("# features/token.feature:12") stay.
var stepDefRe = regexp.MustCompile(`[ \t]*(?:\x1b\[[0-9;]*m)?# [^\s#]+\.go:\d+ -> [^\n\x1b]*(?:\x1b\[[0-9;]*m)?`)

// hideStepDefinitions wraps w so that the pretty format's lines lose the step
// definitions' Go locations. It works line by line; Flush writes a partial line out.
func hideStepDefinitions(w io.Writer) io.Writer { return &stepDefWriter{w: w} }

type stepDefWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (s *stepDefWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	if i := bytes.LastIndexByte(s.buf, '\n'); i >= 0 {
		out := stepDefRe.ReplaceAll(s.buf[:i+1], nil)
		s.buf = append(s.buf[:0], s.buf[i+1:]...)
		if _, err := s.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes out the partial line held, and flushes the writer below.
func (s *stepDefWriter) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		out := stepDefRe.ReplaceAll(s.buf, nil)
		s.buf = s.buf[:0]
		if _, err := s.w.Write(out); err != nil {
			return err
		}
	}
	if f, ok := s.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}
