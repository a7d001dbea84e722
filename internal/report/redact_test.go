package report

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var fpRE = regexp.MustCompile(`^\[redacted:[0-9a-f]{6}\]$`)

func TestFingerprint(t *testing.T) {
	r := NewRedactor()
	a := r.Fingerprint("secret-token-1")
	if !fpRE.MatchString(a) {
		t.Fatalf("fingerprint %q does not look like [redacted:xxxxxx]", a)
	}
	if b := NewRedactor().Fingerprint("secret-token-1"); a != b {
		t.Errorf("same secret, different fingerprints: %q and %q", a, b)
	}
	if c := r.Fingerprint("secret-token-2"); c == a {
		t.Errorf("two secrets share the fingerprint %q", a)
	}
	// sha256("abc") = ba7816bf...
	if got := r.Fingerprint("abc"); got != "[redacted:ba7816]" {
		t.Errorf("Fingerprint(abc) = %q, want [redacted:ba7816]", got)
	}
}

func TestRedactorString(t *testing.T) {
	const special = "a/b+c=d&e f" // differs in its QueryEscape and PathEscape forms
	r := NewRedactor()
	r.Add("", "abc", "tok-12345", "tok-12345-long", special)
	fp := r.Fingerprint
	tests := []struct {
		name, in, want string
	}{
		{"no secret", "hello world", "hello world"},
		{"plain", "Bearer tok-12345.", "Bearer " + fp("tok-12345") + "."},
		{"twice", "tok-12345 tok-12345", fp("tok-12345") + " " + fp("tok-12345")},
		{"longest first", "x tok-12345-long y", "x " + fp("tok-12345-long") + " y"},
		{"short ignored", "abc abcd", "abc abcd"},
		{"query escaped", "q=" + url.QueryEscape(special), "q=" + fp(special)},
		{"path escaped", "/p/" + url.PathEscape(special), "/p/" + fp(special)},
		{"raw special", special, fp(special)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if url.QueryEscape(special) == url.PathEscape(special) {
		t.Fatal("test secret should differ in its two escaped forms")
	}
}

func TestRedactorConcurrent(t *testing.T) {
	r := NewRedactor()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); r.Add(strings.Repeat("s", 5+i)) }()
		go func() { defer wg.Done(); _ = r.String("ssssssssssss") }()
	}
	wg.Wait()
	if got := r.String("x sssss x"); got != "x "+r.Fingerprint("sssss")+" x" {
		t.Errorf("after concurrent Adds: %q", got)
	}
}

func TestWriterSplitWrites(t *testing.T) {
	const secret = "refresh-SECRET-0123456789"
	r := NewRedactor()
	r.Add(secret)
	var out bytes.Buffer
	w := r.Writer(&out)
	input := "first line " + secret + "\nsecond " + secret + " line\nunterminated " + secret
	for i := range len(input) { // one byte at a time: every split point
		if _, err := w.Write([]byte{input[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), "unterminated") {
		t.Errorf("the partial line was written before its end: %q", out.String())
	}
	if err := w.(interface{ Flush() error }).Flush(); err != nil {
		t.Fatal(err)
	}
	if want := r.String(input); out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
	if strings.Contains(out.String(), secret) {
		t.Error("secret leaked")
	}
}

func TestWriterLongPartialLine(t *testing.T) {
	const secret = "access-SECRET-abcdefghij"
	r := NewRedactor()
	r.Add(secret)
	var out bytes.Buffer
	w := r.Writer(&out)
	// A line longer than 64 KiB without a newline, with secrets around the points where the
	// writer must let some of it out.
	var input strings.Builder
	for input.Len() < 3*maxPartialLine {
		input.WriteString(strings.Repeat("x", 4093))
		input.WriteString(secret)
	}
	data := input.String()
	for off := 0; off < len(data); off += 1000 {
		if _, err := w.Write([]byte(data[off:min(off+1000, len(data))])); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() == 0 {
		t.Fatal("nothing written although the partial line passed 64 KiB")
	}
	if strings.Contains(out.String(), secret[:8]) {
		t.Error("secret (or its start) leaked before flush")
	}
	w.(interface{ Flush() error }).Flush()
	if want := r.String(data); out.String() != want {
		t.Errorf("output differs from String of the input (len %d vs %d)", out.Len(), len(want))
	}
}

// fill sets every string reachable from v to a text containing secret, gives every slice
// one element and every map one entry.
func fill(v reflect.Value, secret string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("before " + secret + " after")
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), secret)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), secret)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), secret)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, secret)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, secret)
		v.SetMapIndex(k, e)
	}
}

// strings collects every string reachable from v, map keys included.
func collectStrings(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				collectStrings(v.Field(i), out)
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectStrings(v.Elem(), out)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectStrings(v.Index(i), out)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			collectStrings(k, out)
			collectStrings(v.MapIndex(k), out)
		}
	}
}

func TestRedactReportEveryString(t *testing.T) {
	const secret = "psu-password-Zz9"
	var rep Report
	fill(reflect.ValueOf(&rep).Elem(), secret)
	var all []string
	collectStrings(reflect.ValueOf(&rep).Elem(), &all)
	if len(all) < 40 {
		t.Fatalf("fill reached only %d strings; the model has more", len(all))
	}
	r := NewRedactor()
	r.Add(secret)
	r.Report(&rep)
	all = all[:0]
	collectStrings(reflect.ValueOf(&rep).Elem(), &all)
	for _, s := range all {
		if strings.Contains(s, secret) {
			t.Errorf("secret left in %q", s)
		}
	}
	js, err := json.Marshal(&rep)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte(secret)) {
		t.Error("secret left in the JSON of the report")
	}
	if !bytes.Contains(js, []byte(r.Fingerprint(secret))) {
		t.Error("the fingerprint should replace the secret")
	}
}

func TestRedactMessage(t *testing.T) {
	fp := fingerprint
	tests := []struct {
		name string
		in   Message
		want Message
	}{
		{
			name: "bearer keeps the scheme as spelled",
			in:   Message{Header: map[string][]string{"Authorization": {"bearer eyJhbGciOi.x.y"}}},
			want: Message{Header: map[string][]string{"Authorization": {"bearer " + fp("eyJhbGciOi.x.y")}}},
		},
		{
			name: "basic, lower-case header name",
			in:   Message{Header: map[string][]string{"authorization": {"Basic dXNlcjpwYXNz"}}},
			want: Message{Header: map[string][]string{"authorization": {"Basic " + fp("dXNlcjpwYXNz")}}},
		},
		{
			name: "scheme alone stays",
			in:   Message{Header: map[string][]string{"Authorization": {"Bearer"}}},
			want: Message{Header: map[string][]string{"Authorization": {"Bearer"}}},
		},
		{
			name: "bare credential",
			in:   Message{Header: map[string][]string{"Authorization": {"tok123456789"}}},
			want: Message{Header: map[string][]string{"Authorization": {fp("tok123456789")}}},
		},
		{
			name: "cookies",
			in: Message{Header: map[string][]string{
				"Cookie":     {"sid=abc123; lang=fr"},
				"Set-Cookie": {"sid=xyz789; Path=/; HttpOnly"},
			}},
			want: Message{Header: map[string][]string{
				"Cookie":     {"sid=" + fp("abc123") + "; lang=" + fp("fr")},
				"Set-Cookie": {"sid=" + fp("xyz789") + "; Path=/; HttpOnly"},
			}},
		},
		{
			name: "URL query and fragment",
			in:   Message{URL: "https://tpp.example/cb?state=s1&code=C%2FODE#access_token=AT1&token_type=Bearer"},
			want: Message{URL: "https://tpp.example/cb?state=s1&code=" + fp("C/ODE") + "#access_token=" + fp("AT1") + "&token_type=Bearer"},
		},
		{
			name: "location header",
			in:   Message{Header: map[string][]string{"Location": {"https://tpp.example/cb?code=abc&state=x"}}},
			want: Message{Header: map[string][]string{"Location": {"https://tpp.example/cb?code=" + fp("abc") + "&state=x"}}},
		},
		{
			name: "form body",
			in: Message{
				Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body:   "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Ftpp&code_verifier=v3r&client_id=PSDFR-ACPR-12345&refresh_token=rt%2B1&password=pw",
			},
			want: Message{
				Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body:   "grant_type=authorization_code&code=" + fp("c0de") + "&redirect_uri=https%3A%2F%2Ftpp&code_verifier=" + fp("v3r") + "&client_id=PSDFR-ACPR-12345&refresh_token=" + fp("rt+1") + "&password=" + fp("pw"),
			},
		},
		{
			name: "JSON body keeps its layout",
			in: Message{
				Header: map[string][]string{"Content-Type": {"application/json"}},
				Body:   "{\n  \"access_token\": \"AT\\/1\",\n  \"token_type\": \"Bearer\",\n  \"expires_in\": 3600,\n  \"Refresh_Token\":\"RT1\", \"id_token\": \"ID1\", \"scope\": \"aisp\"}",
			},
			want: Message{
				Header: map[string][]string{"Content-Type": {"application/json"}},
				Body:   "{\n  \"access_token\": \"" + fp("AT/1") + "\",\n  \"token_type\": \"Bearer\",\n  \"expires_in\": 3600,\n  \"Refresh_Token\":\"" + fp("RT1") + "\", \"id_token\": \"" + fp("ID1") + "\", \"scope\": \"aisp\"}",
			},
		},
		{
			name: "JSON cut short",
			in:   Message{Body: `{"token_type":"Bearer","access_token":"eyJhbGciOiJSUzI1`},
			want: Message{Body: `{"token_type":"Bearer","access_token":"` + fp("eyJhbGciOiJSUzI1") + `"`},
		},
		{
			name: "HTML callback link and form_post",
			in: Message{
				Header: map[string][]string{"Content-Type": {"text/html"}},
				Body:   `<a href="https://tpp/cb?state=1&amp;code=K1">go</a><input type="hidden" name="code" value="K2">`,
			},
			want: Message{
				Header: map[string][]string{"Content-Type": {"text/html"}},
				Body:   `<a href="https://tpp/cb?state=1&amp;code=` + fp("K1") + `">go</a><input type="hidden" name="code" value="` + fp("K2") + `">`,
			},
		},
		{
			name: "non-secret fields untouched",
			in:   Message{URL: "https://bank/authorize?response_type=code&code_challenge=abc&scope=aisp", Body: "plain text with code word"},
			want: Message{URL: "https://bank/authorize?response_type=code&code_challenge=abc&scope=aisp", Body: "plain text with code word"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.in
			m.Header = cloneMap(tt.in.Header)
			RedactMessage(&m)
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("got  %#v\nwant %#v", m, tt.want)
			}
			again := m
			again.Header = cloneMap(m.Header)
			RedactMessage(&again)
			if !reflect.DeepEqual(again, m) {
				t.Errorf("redacting twice changed the message:\n%#v\n%#v", again, m)
			}
		})
	}
	RedactMessage(nil) // must not panic
}

func TestStructuralAndKnownFingerprintsAgree(t *testing.T) {
	r := NewRedactor()
	r.Add("AT-abcdef")
	m := Message{Header: map[string][]string{"Authorization": {"Bearer AT-abcdef"}}}
	RedactMessage(&m)
	if got, want := m.Header["Authorization"][0], "Bearer "+r.String("AT-abcdef"); got != want {
		t.Errorf("structural %q, known-secret %q: same secret should give the same fingerprint", got, want)
	}
}

func cloneMap(h map[string][]string) map[string][]string {
	if h == nil {
		return nil
	}
	out := map[string][]string{}
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestWriterHoldsBackASecretStartAtTheCut(t *testing.T) {
	const secret = "code-SECRET-987654321"
	r := NewRedactor()
	r.Add(secret)
	var out bytes.Buffer
	w := r.Writer(&out)
	w.Write([]byte(strings.Repeat("x", maxPartialLine) + secret[:10]))
	if out.Len() != maxPartialLine {
		t.Errorf("wrote %d bytes, want the %d bytes before the secret's start", out.Len(), maxPartialLine)
	}
	w.Write([]byte(secret[10:] + "\n"))
	if strings.Contains(out.String(), secret[:6]) {
		t.Errorf("secret start leaked: ...%q", out.String()[maxPartialLine-5:])
	}
	if !strings.HasSuffix(out.String(), r.Fingerprint(secret)+"\n") {
		t.Errorf("output ends %q, want the fingerprint", out.String()[maxPartialLine-5:])
	}
}

// A code the suite never saw (sent by the bank to a URL nobody watched) is still caught by
// its parameter name, wherever the URL lands in a report.
func TestStringRedactsSecretParametersItNeverSaw(t *testing.T) {
	r := NewRedactor()
	s := r.String(`the journey stopped at https://tpp.example/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz: 404`)
	if strings.Contains(s, "SplxlOBeZQQYbYS6WxSbIA") {
		t.Fatalf("the code was not redacted: %s", s)
	}
	if !strings.Contains(s, "state=xyz") {
		t.Errorf("the state is no secret and should stay readable: %s", s)
	}
}
