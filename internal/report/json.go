package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteJSON writes rep as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	if rep == nil {
		return errNilReport
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // bodies stay readable; the JSON is never embedded in a page
	return enc.Encode(rep)
}

// WriteAll writes report.json, junit.xml, report.html and, when cucumberJSON is not nil,
// cucumber.json (written as given: the caller redacts it) into dir, created with mode 0755
// if needed. It writes rep as it is: the caller has redacted it and filled its Summary. It
// tries every file and returns the first error, wrapped with the file's path.
func WriteAll(dir string, rep *Report, cucumberJSON []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating report directory %s: %w", dir, err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"report.json", func(w io.Writer) error { return WriteJSON(w, rep) }},
		{"junit.xml", func(w io.Writer) error { return WriteJUnit(w, rep) }},
		{"report.html", func(w io.Writer) error { return WriteHTML(w, rep) }},
	}
	if cucumberJSON != nil {
		files = append(files, struct {
			name  string
			write func(io.Writer) error
		}{"cucumber.json", func(w io.Writer) error { _, err := w.Write(cucumberJSON); return err }})
	}
	var errs []error
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		// Rendered in memory first so that a writer's error leaves no half file behind.
		var buf bytes.Buffer
		err := f.write(&buf)
		if err == nil {
			err = os.WriteFile(path, buf.Bytes(), 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", path, err))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// errNilReport is returned by the writers when given no report.
var errNilReport = errors.New("no report to write (nil)")
