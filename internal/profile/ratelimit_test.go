package profile

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// withRateLimit is testdata/valid.yaml with a rate_limit block appended.
func withRateLimit(t *testing.T, block string) string {
	t.Helper()
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data) + "\nrate_limit:\n" + block
}

func TestRateLimitDefaults(t *testing.T) {
	for _, tc := range []struct {
		block string
		rps   float64
		burst float64
	}{
		{"  requests_per_second: 5\n", 5, 5},
		{"  requests_per_second: 2.5\n", 2.5, 3}, // rounded up
		{"  requests_per_second: 0.2\n", 0.2, 1}, // at least one
		{"  requests_per_second: 5\n  burst: 10\n", 5, 10},
	} {
		p, err := Decode([]byte(withRateLimit(t, tc.block)), "bank.yaml")
		if err != nil {
			t.Fatalf("%q: %v", tc.block, err)
		}
		if rl := p.RateLimit; rl == nil || rl.RequestsPerSecond != tc.rps || rl.Burst != tc.burst {
			t.Errorf("%q: rate_limit = %+v, want %v per second, burst %v", tc.block, rl, tc.rps, tc.burst)
		}
	}
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Decode(data, "bank.yaml"); err != nil || p.RateLimit != nil {
		t.Errorf("without rate_limit: %+v, %v; want no limit", p.RateLimit, err)
	}
}

// Every bad value is reported with the file, the line of its key and the field.
func TestRateLimitErrors(t *testing.T) {
	for _, tc := range []struct {
		block, field, key, want string
	}{
		{"  requests_per_second: 0\n", "rate_limit.requests_per_second", "requests_per_second:", "expected a positive number of requests per second, such as 5 or 0.5, found 0"},
		{"  requests_per_second: -3\n", "rate_limit.requests_per_second", "requests_per_second:", "expected a positive number of requests per second, such as 5 or 0.5, found -3"},
		{"  requests_per_second: .nan\n", "rate_limit.requests_per_second", "requests_per_second:", "expected a positive number"},
		{"  requests_per_second: fast\n", "rate_limit.requests_per_second", "requests_per_second:", `expected a number, found a text "fast"`},
		{"  burst: 4\n", "rate_limit.requests_per_second", "rate_limit:", "is required with rate_limit"},
		{"  requests_per_second: 5\n  burst: 0\n", "rate_limit.burst", "burst:", "expected a whole positive number of requests, found 0"},
		{"  requests_per_second: 5\n  burst: -1\n", "rate_limit.burst", "burst:", "expected a whole positive number of requests, found -1"},
		{"  requests_per_second: 5\n  burst: 2.5\n", "rate_limit.burst", "burst:", "expected a whole positive number of requests, found 2.5"},
		{"  requests_per_secnd: 5\n", "rate_limit.requests_per_secnd", "requests_per_secnd:", "did you mean requests_per_second?"},
	} {
		text := withRateLimit(t, tc.block)
		_, err := Decode([]byte(text), "bank.yaml")
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("%q: error %v, want Errors", tc.block, err)
		}
		if len(errs) != 1 {
			t.Errorf("%q: want one error, got:\n%v", tc.block, errs)
		}
		e := find(t, errs, tc.field)
		line := lineOfText(t, text, tc.key)
		if prefix := fmt.Sprintf("bank.yaml:%d: %s: ", line, tc.field); !strings.HasPrefix(e.Error(), prefix) || !strings.Contains(e.Msg, tc.want) {
			t.Errorf("%q: error %q, want %q followed by %q", tc.block, e.Error(), prefix, tc.want)
		}
	}
}
