package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// minSecretLen: shorter values would redact ordinary words and numbers all over a report.
const minSecretLen = 4

// maxPartialLine is how much of an unterminated line Writer holds before it writes it out.
const maxPartialLine = 64 << 10

// Redactor replaces known secrets by a short fingerprint: same secret, same fingerprint, so a
// report can be shared and still be read. Safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]bool
	variants []string // every form searched for, longest first
	maxLen   int      // length of the longest variant
	replacer *strings.Replacer
}

// NewRedactor returns a Redactor that knows no secret yet.
func NewRedactor() *Redactor {
	return &Redactor{secrets: map[string]bool{}}
}

// Add makes secrets known. Empty values and values shorter than 4 characters are ignored.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, s := range secrets {
		if len(s) < minSecretLen || r.secrets[s] {
			continue
		}
		r.secrets[s] = true
		changed = true
	}
	if changed {
		r.rebuild()
	}
}

// rebuild recomputes the replacer; r.mu must be held for writing.
func (r *Redactor) rebuild() {
	fp := map[string]string{} // variant -> fingerprint of its secret
	for s := range r.secrets {
		f := fingerprint(s)
		for _, v := range secretVariants(s) {
			if len(v) >= minSecretLen {
				fp[v] = f
			}
		}
	}
	r.variants = r.variants[:0]
	for v := range fp {
		r.variants = append(r.variants, v)
	}
	// strings.Replacer tries the old strings in argument order at each position, so the
	// longest go first: a secret that contains another one is replaced whole.
	sort.Slice(r.variants, func(i, j int) bool {
		a, b := r.variants[i], r.variants[j]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	pairs := make([]string, 0, 2*len(r.variants))
	r.maxLen = 0
	for _, v := range r.variants {
		pairs = append(pairs, v, fp[v])
		r.maxLen = max(r.maxLen, len(v))
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// secretVariants are the forms in which a secret shows up in HTTP traffic and logs.
func secretVariants(s string) []string {
	vs := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	if b, err := json.Marshal(s); err == nil {
		vs = append(vs, string(b[1:len(b)-1])) // as it appears inside a JSON string
	}
	return vs
}

// String returns s with every known secret, and its URL-encoded forms, replaced by its
// fingerprint.
//
// It also fingerprints, in any text, the values of query parameters and hidden form fields
// that carry secrets (code=, access_token=, ...): a secret the suite never saw (a code in a
// URL the bank redirected to by mistake) is caught by its name.
func (r *Redactor) String(s string) string {
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if s == "" {
		return s
	}
	if rep != nil {
		s = rep.Replace(s)
	}
	return redactText(s)
}

// Fingerprint returns "[redacted:xxxxxx]", xxxxxx being the first 6 hex digits of the
// SHA-256 of secret.
func (r *Redactor) Fingerprint(secret string) string { return fingerprint(secret) }

func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "[redacted:" + hex.EncodeToString(sum[:3]) + "]"
}

var fingerprintRE = regexp.MustCompile(`^\[redacted:[0-9a-f]{6}\]$`)

// isFingerprint tells a value redacted already, so that redacting twice changes nothing.
func isFingerprint(s string) bool { return fingerprintRE.MatchString(s) }

// Writer returns a writer that redacts what passes through it to w. It holds back an
// unterminated line so that a secret split across writes is still caught, but writes a
// partial line out once it grows past 64 KiB. The returned writer also has a
// Flush() error method that writes out what it holds; call it when the stream ends
// without a final newline.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	return &redactWriter{r: r, w: w}
}

type redactWriter struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.buf = append(rw.buf, p...)
	if i := bytes.LastIndexByte(rw.buf, '\n'); i >= 0 {
		out := rw.r.String(string(rw.buf[:i+1]))
		rw.buf = append(rw.buf[:0], rw.buf[i+1:]...)
		if _, err := io.WriteString(rw.w, out); err != nil {
			return 0, err
		}
	}
	if len(rw.buf) > maxPartialLine {
		out := rw.r.String(string(rw.buf))
		cut := rw.r.heldBack(out)
		rw.buf = append(rw.buf[:0], out[cut:]...)
		if _, err := io.WriteString(rw.w, out[:cut]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes out, redacted, the partial line the writer holds.
func (rw *redactWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.buf) == 0 {
		return nil
	}
	out := rw.r.String(string(rw.buf))
	rw.buf = rw.buf[:0]
	_, err := io.WriteString(rw.w, out)
	return err
}

// heldBack returns where to cut redacted text so that no possible start of a secret is
// written: the tail from the cut on may be the beginning of a secret that the next write
// completes.
func (r *Redactor) heldBack(out string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i := max(0, len(out)-r.maxLen+1); i < len(out); i++ {
		tail := out[i:]
		for _, v := range r.variants {
			if strings.HasPrefix(v, tail) {
				return i
			}
		}
	}
	return len(out)
}

// Report redacts, in place, every string of rep: scenario reasons and warnings, step texts
// and errors, exchanges (URL, headers, bodies, errors) and the rest. It also applies
// RedactMessage to every exchange.
func (r *Redactor) Report(rep *Report) {
	if rep == nil {
		return
	}
	for i := range rep.Scenarios {
		for j := range rep.Scenarios[i].Exchanges {
			ex := &rep.Scenarios[i].Exchanges[j]
			RedactMessage(&ex.Request)
			RedactMessage(ex.Response)
		}
	}
	// Reflection rather than a list of fields: a field added to the model later is covered.
	r.walk(reflect.ValueOf(rep).Elem())
}

func (r *Redactor) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if !v.CanSet() {
			return
		}
		if s, t := v.String(), r.String(v.String()); t != s {
			v.SetString(t)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if t.Field(i).IsExported() { // time.Time and the like hold no text
				r.walk(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			r.walk(v.Elem())
		}
	case reflect.Interface:
		if !v.IsNil() && v.CanSet() {
			e := v.Elem()
			cp := reflect.New(e.Type()).Elem()
			cp.Set(e)
			r.walk(cp)
			v.Set(cp)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			r.walk(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(v.MapIndex(k))
			r.walk(val)
			nk := k
			if k.Kind() == reflect.String {
				if t := r.String(k.String()); t != k.String() {
					nk = reflect.New(k.Type()).Elem()
					nk.SetString(t)
					v.SetMapIndex(k, reflect.Value{})
				}
			}
			v.SetMapIndex(nk, val)
		}
	}
}

// sensitiveFields are the parameter and JSON field names whose values RedactMessage
// replaces, matched without regard to case.
var sensitiveFields = []string{
	"access_token", "refresh_token", "code", "code_verifier", "password", "client_secret", "id_token",
}

func isSensitive(name string) bool {
	for _, f := range sensitiveFields {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

var (
	fieldAlt = strings.Join(sensitiveFields, "|")
	// A JSON member; the string may be cut short when the recorded body was truncated.
	jsonFieldRE = regexp.MustCompile(`(?i)("(?:` + fieldAlt + `)"\s*:\s*)("(?:[^"\\]|\\.)*(?:"|\\?\z)|-?[0-9][0-9.eE+-]*)`)
)

// RedactMessage redacts m structurally, whatever secrets are known: the credentials of
// Authorization headers (the scheme word stays as sent: "Bearer [redacted:ab12cd]"), Cookie
// and Set-Cookie values, and the values of access_token, refresh_token, code,
// code_verifier, password, client_secret and id_token in the URL (query and fragment), in
// Location headers and in form-encoded, JSON or HTML bodies. Values become fingerprints, the
// same as a Redactor gives. Redacting twice changes nothing. A nil m is left alone.
func RedactMessage(m *Message) {
	if m == nil {
		return
	}
	m.URL = redactURL(m.URL)
	contentType := ""
	for name, values := range m.Header {
		switch strings.ToLower(name) {
		case "authorization", "proxy-authorization":
			for i, v := range values {
				values[i] = redactAuthorization(v)
			}
		case "cookie":
			for i, v := range values {
				values[i] = redactCookie(v)
			}
		case "set-cookie":
			for i, v := range values {
				pair, attrs, found := strings.Cut(v, ";")
				values[i] = redactCookie(pair)
				if found {
					values[i] += ";" + attrs
				}
			}
		case "location", "content-location", "refresh":
			for i, v := range values {
				values[i] = redactText(redactURL(v))
			}
		case "content-type":
			if len(values) > 0 {
				contentType = strings.ToLower(values[0])
			}
		}
	}
	m.Body = redactBody(m.Body, contentType)
}

// redactAuthorization keeps the scheme word as sent and fingerprints the credentials.
func redactAuthorization(v string) string {
	trimmed := strings.TrimLeft(v, " \t")
	lead := v[:len(v)-len(trimmed)]
	i := strings.IndexAny(trimmed, " \t")
	if i < 0 {
		// A lone word is a scheme without credentials ("Bearer") or a bare credential.
		if trimmed == "" || (len(trimmed) <= 16 && isLetters(trimmed)) || isFingerprint(trimmed) {
			return v
		}
		return lead + fingerprint(trimmed)
	}
	scheme := trimmed[:i]
	rest := trimmed[i:]
	cred := strings.TrimLeft(rest, " \t")
	sep := rest[:len(rest)-len(cred)]
	cred = strings.TrimRight(cred, " \t")
	if cred == "" || isFingerprint(cred) {
		return v
	}
	return lead + scheme + sep + fingerprint(cred)
}

func isLetters(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// redactCookie fingerprints every value of "a=b; c=d".
func redactCookie(v string) string {
	parts := strings.Split(v, ";")
	for i, p := range parts {
		name, val, found := strings.Cut(p, "=")
		val = strings.TrimSpace(val)
		if !found || val == "" || isFingerprint(val) {
			continue
		}
		parts[i] = name + "=" + fingerprint(val)
	}
	return strings.Join(parts, ";")
}

// redactURL fingerprints sensitive parameters of the query and of the fragment (where an
// implicit-flow callback carries access_token), keeping everything else as written.
func redactURL(raw string) string {
	if raw == "" {
		return raw
	}
	rest, frag, hasFrag := strings.Cut(raw, "#")
	base, query, hasQuery := strings.Cut(rest, "?")
	out := base
	if hasQuery {
		out += "?" + redactForm(query)
	}
	if hasFrag {
		out += "#" + redactForm(frag)
	}
	return out
}

// redactForm fingerprints sensitive fields of an application/x-www-form-urlencoded text.
func redactForm(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, found := strings.Cut(p, "=")
		if !found || v == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if !isSensitive(name) {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			val = v
		}
		if isFingerprint(val) {
			continue
		}
		parts[i] = k + "=" + fingerprint(val)
	}
	return strings.Join(parts, "&")
}

func redactBody(body, contentType string) string {
	if body == "" {
		return body
	}
	trimmed := strings.TrimSpace(body)
	switch {
	case strings.Contains(contentType, "json") || strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "["):
		body = redactJSON(body)
	case strings.Contains(contentType, "x-www-form-urlencoded") ||
		(contentType == "" && !strings.ContainsAny(trimmed, " \t\r\n<>") && strings.Contains(trimmed, "=")):
		body = redactForm(body)
	}
	return redactText(body)
}

// redactJSON fingerprints the values of sensitive members of a JSON text, valid or cut
// short, without reformatting it.
func redactJSON(s string) string {
	return replaceSubmatch(jsonFieldRE, s, func(val string) string {
		secret := val
		if strings.HasPrefix(val, `"`) {
			if err := json.Unmarshal([]byte(val), &secret); err != nil {
				secret = strings.TrimPrefix(val, `"`) // cut short: fingerprint what is there
			}
		}
		if isFingerprint(secret) {
			return val
		}
		return `"` + fingerprint(secret) + `"`
	})
}

// redactText fingerprints sensitive query parameters and hidden form fields in any text.
// It runs on every string of a report, so it scans (textParams, htmlFields) rather than
// running regular expressions: those took a tenth of a run's CPU.
func redactText(s string) string {
	s = replaceSpans(s, textParams(s), func(val string) string {
		secret, err := url.QueryUnescape(val)
		if err != nil {
			secret = val
		}
		if isFingerprint(secret) || strings.HasPrefix(val, "[redacted:") {
			return val
		}
		return fingerprint(secret)
	})
	return replaceSpans(s, htmlFields(s), func(val string) string {
		q := val[:1]
		secret := strings.TrimSuffix(val[1:], q)
		if secret == "" || isFingerprint(secret) {
			return val
		}
		return q + fingerprint(secret) + q
	})
}

// replaceSubmatch replaces the second group of each match of re (the first is the field
// name, kept) by f of it.
func replaceSubmatch(re *regexp.Regexp, s string, f func(string) string) string {
	var spans [][2]int
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		spans = append(spans, [2]int{m[4], m[5]})
	}
	return replaceSpans(s, spans, f)
}

// replaceSpans replaces each span of s (in order, not overlapping) by f of it.
func replaceSpans(s string, spans [][2]int, f func(string) string) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(f(s[sp[0]:sp[1]]))
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
