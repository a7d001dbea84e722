package report

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The regular expressions textParams and htmlFields stand for, as redactText ran them.
var (
	textParamRE = regexp.MustCompile(`(?i)([?&#;](?:` + fieldAlt + `)=)([^&#"'\s<>\\]+)`)
	htmlFieldRE = regexp.MustCompile(`(?i)(name=["']?(?:` + fieldAlt + `)["']?\s+value=)("[^"]*"?|'[^']*'?)`)
)

func regexpSpans(re *regexp.Regexp, s string) [][2]int {
	var spans [][2]int
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		spans = append(spans, [2]int{m[4], m[5]})
	}
	return spans
}

// scanPieces are what the texts of TestScannersMatchTheirRegexps are made of: the fields
// in every case (the Kelvin sign and the long s fold to k and s), the separators, quotes,
// spaces and bytes that end a value, and invalid UTF-8.
var scanPieces = []string{
	"code", "CODE", "Code", "code_verifier", "access_token", "ACCESS_TOKEN", "acce\u017Fs_to\u212Aen",
	"refresh_token", "id_token", "id_to\u212Aen", "password", "pa\u017F\u017Fword", "client_secret", "codes", "token",
	"?", "&", "#", ";", "=", "&amp;", "name=", "NAME=", "Name=", "value=", "VALUE=", "value", "name",
	`"`, "'", " ", "  ", "\t", "\n", "\f", "\r", "\v", "<", ">", `\`, "x", "42", "é", "\u212A", "\xff", "[redacted:abcdef]",
}

// TestScannersMatchTheirRegexps: textParams and htmlFields find exactly what the regular
// expressions above find, on texts made to hit their edges.
func TestScannersMatchTheirRegexps(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2026))
	texts := []string{
		"", "https://tpp.example/cb?code=abc&state=x", `<input type="hidden" name="code" value="abc">`,
		`<input name='access_token'  value='t0k'>`, `name=code value="unterminated`, "a;CODE=1#Id_Token=2",
		`{"redirect":"https://tpp/cb?code=abc\u0026state=1"}`, "?code=", "&code_verifier=v&code=c",
	}
	for range 30000 {
		var b strings.Builder
		for range 1 + rng.IntN(14) {
			b.WriteString(scanPieces[rng.IntN(len(scanPieces))])
		}
		texts = append(texts, b.String())
	}
	for _, s := range texts {
		if got, want := textParams(s), regexpSpans(textParamRE, s); !slices.Equal(got, want) {
			t.Fatalf("textParams(%q) = %v; the regexp finds %v", s, got, want)
		}
		if got, want := htmlFields(s), regexpSpans(htmlFieldRE, s); !slices.Equal(got, want) {
			t.Fatalf("htmlFields(%q) = %v; the regexp finds %v", s, got, want)
		}
	}
}

// FuzzScanners: go test -fuzz FuzzScanners ./internal/report/ looks further.
func FuzzScanners(f *testing.F) {
	for _, p := range scanPieces {
		f.Add("?" + p + "=v " + `name="` + p + `" value="x"`)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := textParams(s), regexpSpans(textParamRE, s); !slices.Equal(got, want) {
			t.Fatalf("textParams(%q) = %v; the regexp finds %v", s, got, want)
		}
		if got, want := htmlFields(s), regexpSpans(htmlFieldRE, s); !slices.Equal(got, want) {
			t.Fatalf("htmlFields(%q) = %v; the regexp finds %v", s, got, want)
		}
	})
}
