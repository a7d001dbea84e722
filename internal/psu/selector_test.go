package psu

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
)

const selectorDoc = `<!doctype html><html><body>
<form id="login" class="box">
  <input id="a" name="psu_id" type="text">
  <input id="b" name="password" type="PASSWORD">
  <button id="c" class="primary big" value="accept">OK</button>
  <div id="d" data-x="it's here"><span id="e" class="primary">x</span></div>
</form>
<form id="other"><input id="f" name="psu_id"><button id="g" value="accept" disabled>OK</button></form>
<p id="h" class="primary"></p>
</body></html>`

func parseHTML(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := parsePage(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func ids(nodes []*html.Node) []string {
	var out []string
	for _, n := range nodes {
		v, _ := attr(n, "id")
		out = append(out, v)
	}
	return out
}

// query is the first element under doc that sel selects, failing the test when sel
// does not compile or selects nothing.
func query(t *testing.T, doc *html.Node, sel string) *html.Node {
	t.Helper()
	s, err := compileSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	n := cascadia.Query(doc, s)
	if n == nil {
		t.Fatalf("no %s in the page", sel)
	}
	return n
}

// TestSelectorMatches checks what the form driver selects, with cascadia on pages as
// the form driver parses them.
func TestSelectorMatches(t *testing.T) {
	doc := parseHTML(t, selectorDoc)
	tests := []struct {
		sel  string
		want []string
	}{
		{"input", []string{"a", "b", "f"}},
		{"INPUT", []string{"a", "b", "f"}},
		{"#b", []string{"b"}},
		{".primary", []string{"c", "e", "h"}},
		{".primary.big", []string{"c"}},
		{"[data-x]", []string{"d"}},
		{`[data-x="it's here"]`, []string{"d"}},
		{`[data-x='it\'s here']`, []string{"d"}},
		{"input[name=psu_id]", []string{"a", "f"}},
		{"input[ name = psu_id ]", []string{"a", "f"}},
		{"button.primary[value=accept]", []string{"c"}},
		{"button[value=accept]", []string{"c", "g"}},
		{"form#login input[type=password]", []string{"b"}}, // type compares without case, as in HTML
		{"form#other input", []string{"f"}},
		{"form .primary", []string{"c", "e"}},
		{"body form div span", []string{"e"}},
		{"  form#login   span  ", []string{"e"}},
		{"*[name=password]", []string{"b"}},
		{"form#other span", nil},
		{"#nope", nil},
		// What the form driver did not understand before cascadia.
		{"form > input", []string{"a", "b", "f"}},
		{"body > input", nil},
		{"input + input", []string{"b"}},
		{"input ~ button", []string{"c", "g"}},
		{"form + p", []string{"h"}},
		{"#b, #a", []string{"a", "b"}}, // document order, not the list's
		{"[name^=psu]", []string{"a", "f"}},
		{"[name$=word]", []string{"b"}},
		{"[data-x*=s\\ h]", []string{"d"}},
		{"[class~=big]", []string{"c"}},
		{"[value=ACCEPT i]", []string{"c", "g"}},
		{"button:not([disabled])", []string{"c"}},
		{"button:enabled", []string{"c"}},
		{"button:disabled", []string{"g"}},
		{"form:first-of-type input", []string{"a", "b"}},
		{"input:first-child", []string{"a", "f"}},
		{"input:nth-of-type(2)", []string{"b"}},
		{"form:has(span)", []string{"login"}},
	}
	for _, tt := range tests {
		s, err := compileSelector(tt.sel)
		if err != nil {
			t.Errorf("compileSelector(%q): %v", tt.sel, err)
			continue
		}
		if got := ids(cascadia.QueryAll(doc, s)); !slices.Equal(got, tt.want) {
			t.Errorf("%q matches %v, want %v", tt.sel, got, tt.want)
		}
	}
}

// TestCheckSelector: what one of the drivers would refuse, or never match, is an error
// naming the selector.
func TestCheckSelector(t *testing.T) {
	tests := []struct{ sel, want string }{
		{"", "is not valid CSS"},
		{"   ", "is not valid CSS"},
		{"form >> input", "is not valid CSS"},
		{"a,", "is not valid CSS"},
		{"[tabindex=1]", "is not valid CSS"},
		{"[name=psu", "is not valid CSS"},
		{"[name='psu]", "is not valid CSS"},
		{"input/x", "is not valid CSS"},
		{"a::before", "is not valid CSS"},
		{"a:is(b)", "is not valid CSS"},        // Chromium knows it, cascadia does not
		{"input:required", "is not valid CSS"}, // likewise
		{"p:contains(Accept)", ":contains is an extension of the form driver's engine, not CSS"},
		{"button:containsOwn('OK')", ":containsOwn is an extension"},
		{"p:matches(^OK$)", ":matches is an extension"},
		{"div:haschild(p)", ":haschild is an extension"},
		{"form :input", ":input is an extension"},
		{"[name!=psu_id]", "the attribute operator != is an extension"},
		{"[name#=(psu)]", "the attribute operator #= is an extension"},
		{"input:focus", ":focus is about a live page's state: it never matches in the form driver"},
		{"a:HOVER", ":HOVER is about a live page's state"},
	}
	for _, tt := range tests {
		err := CheckSelector(tt.sel)
		if err == nil {
			t.Errorf("CheckSelector(%q) = nil, want an error containing %q", tt.sel, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), fmt.Sprintf("selector %q", tt.sel)) {
			t.Errorf("CheckSelector(%q) = %q, want it to name the selector and contain %q", tt.sel, err, tt.want)
		}
	}
	for _, sel := range []string{
		`[value=":hover"]`, `[value='a:contains(b)']`, `#a\:focus`, `[data-x="!="]`,
		"form#consent button[type=submit]:not([disabled])", "input[name^=otp], input[name=pin]",
		"div > form + p ~ button", "fieldset > label:first-of-type > input", ":root input:checked",
	} {
		if err := CheckSelector(sel); err != nil {
			t.Errorf("CheckSelector(%q) = %v, want nil", sel, err)
		}
	}
}

// submit builds the submission of pressing the button that sel selects in page.
func submit(t *testing.T, page, sel string, fill map[string]string) (*formRequest, error) {
	t.Helper()
	doc := parseHTML(t, page)
	for k, v := range fill {
		if err := fillControl(query(t, doc, k), v); err != nil {
			return nil, err
		}
	}
	btn := query(t, doc, sel)
	base, _ := url.Parse("https://bank.example/app/page?x=1#frag")
	return submission(doc, btn, base)
}

func TestSubmission(t *testing.T) {
	tests := []struct {
		name     string
		page     string
		press    string
		fill     map[string]string
		method   string
		url      string
		body     string
		errWant  string
		checkCTy string
	}{
		{
			name:   "post with every kind of control",
			page:   `<form method=POST action="/go?a=b"><input name=t value="v 1"><input type=hidden name=h value=hv><input type=checkbox name=c1><input type=checkbox name=c2 checked><input type=checkbox name=c3 value=x checked><input type=radio name=r value=r1><input type=radio name=r value=r2 checked><textarea name=ta>line1` + "\n" + `line2</textarea><select name=s1><option>first</option><option value=2>two</option></select><select name=s2 multiple><option selected>a</option><option>b</option><option selected value=c>C</option></select><input name=dis value=d disabled><fieldset disabled><input name=fs value=f></fieldset><input type=submit name=other value=o><input type=reset name=rs><input type=button name=bt><input value=noname><button name=b value=pressed>Go</button></form>`,
			press:  "button",
			method: "POST",
			url:    "https://bank.example/go?a=b",
			body:   "t=v+1&h=hv&c2=on&c3=x&r=r2&ta=line1%0D%0Aline2&s1=first&s2=a&s2=c&b=pressed",
		},
		{
			name:   "get replaces the query of the action, empty action is the page",
			page:   `<form><input name=q value=1><button name=go>x</button></form>`,
			press:  "button",
			method: "GET",
			url:    "https://bank.example/app/page?q=1&go=#frag",
		},
		{
			name:   "fill sets text, checkbox, radio, select and textarea",
			page:   `<form method=post action=x><input name=t value=old><input type=checkbox name=c><input type=radio name=r value=1 checked><input type=radio name=r value=2><select name=s><option value=a selected>A</option><option value=b>B</option></select><textarea name=ta>old</textarea><input type=submit name=ok value=OK></form>`,
			fill:   map[string]string{"[name=t]": "new", "[name=c]": "true", "[name=r][value='2']": "on", "select": "b", "textarea": "typed"},
			press:  "[type=submit]",
			method: "POST",
			url:    "https://bank.example/app/x",
			body:   "t=new&c=on&r=2&s=b&ta=typed&ok=OK",
		},
		{
			name:   "formaction and formmethod of the pressed button win",
			page:   `<form method=post action=/a><input name=k value=v><button>Default</button><button formaction="/other" formmethod=get name=alt value=1>Alt</button></form>`,
			press:  "[name=alt]",
			method: "GET",
			url:    "https://bank.example/other?k=v&alt=1",
		},
		{
			name:   "controls outside the form with a form attribute, base href",
			page:   `<head><base href="https://static.example/base/"></head><form id=f method=post action=submit></form><input form=f name=outside value=1><input name=stray value=2><button form=f name=b value=x>Go</button>`,
			press:  "button",
			method: "POST",
			url:    "https://static.example/base/submit",
			body:   "outside=1&b=x",
		},
		{
			name:   "image submit sends coordinates",
			page:   `<form method=post action=/i><input type=image name=pic src=x.png></form>`,
			press:  "input",
			method: "POST",
			url:    "https://bank.example/i",
			body:   "pic.x=0&pic.y=0",
		},
		{
			name:     "multipart",
			page:     `<form method=post enctype="multipart/form-data" action=/m><input name=k value=v><button>Go</button></form>`,
			press:    "button",
			method:   "POST",
			url:      "https://bank.example/m",
			checkCTy: "multipart/form-data; boundary=",
		},
		{
			name:   "a link",
			page:   `<a id=l href="../next?x=1">Continue</a>`,
			press:  "#l",
			method: "GET",
			url:    "https://bank.example/next?x=1",
		},
		{name: "type=button does not submit", page: `<form><button type=button>x</button></form>`, press: "button", errWant: "does not submit a form"},
		{name: "disabled button", page: `<form><button disabled>x</button></form>`, press: "button", errWant: "is disabled"},
		{name: "no form", page: `<button>x</button>`, press: "button", errWant: "is not inside a <form>"},
		{name: "javascript link", page: `<a href="javascript:go()">x</a>`, press: "a", errWant: "needs the browser driver"},
		{name: "fill a button", page: `<form><button>x</button></form>`, press: "button", fill: map[string]string{"button": "secret-value"}, errWant: "cannot be filled"},
		{name: "fill a select with an unknown value", page: `<form><select name=s><option>a</option></select><button>x</button></form>`, press: "button", fill: map[string]string{"select": "secret-value"}, errWant: "no <option>"},
		{name: "fill a checkbox with a word", page: `<form><input type=checkbox name=c><button>x</button></form>`, press: "button", fill: map[string]string{"input": "secret-value"}, errWant: "fill it with true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := submit(t, tt.page, tt.press, tt.fill)
			if tt.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errWant) {
					t.Fatalf("error = %v, want one containing %q", err, tt.errWant)
				}
				if strings.Contains(err.Error(), "secret-value") {
					t.Errorf("the error shows the filled value: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.method != tt.method || req.url.String() != tt.url {
				t.Errorf("request = %s %s, want %s %s", req.method, req.url, tt.method, tt.url)
			}
			if tt.body != "" && string(req.body) != tt.body {
				t.Errorf("body = %s\nwant   %s", req.body, tt.body)
			}
			if tt.checkCTy != "" && !strings.HasPrefix(req.contentType, tt.checkCTy) {
				t.Errorf("content type = %q, want %q...", req.contentType, tt.checkCTy)
			}
			if tt.method == "POST" && tt.checkCTy == "" && req.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("content type = %q", req.contentType)
			}
		})
	}
}

func TestMetaRefresh(t *testing.T) {
	base, _ := url.Parse("https://bank.example/a/b")
	tests := []struct{ content, want string }{
		{"0; url=/next", "https://bank.example/next"},
		{"0;URL='next?x=1'", "https://bank.example/a/next?x=1"},
		{"1, url=https://other.example/", "https://other.example/"},
		{"600; url=/logout", ""}, // a session-expiry refresh, not a redirect
		{"0", ""},
	}
	for _, tt := range tests {
		doc := parseHTML(t, `<meta http-equiv="Refresh" content="`+tt.content+`">`)
		u, ok := metaRefresh(doc, base)
		got := ""
		if ok {
			got = u.String()
		}
		if got != tt.want {
			t.Errorf("refresh %q -> %q, want %q", tt.content, got, tt.want)
		}
	}
}

// TestBothDriversPickTheSameElements runs one script through the form and the browser
// drivers against the same page: with combinators, pseudo-classes, attribute operators
// and a selector list, both must fill and press the same elements, as the form the bank
// receives shows.
func TestBothDriversPickTheSameElements(t *testing.T) {
	tests := []struct {
		name string
		step Step
		want url.Values
	}{
		{
			name: "fill and press",
			step: Step{
				Fill: map[string]string{
					"input[name^=otp], input[name=pin]":      "1234", // the first in the page: pin
					"fieldset > label:first-of-type > input": "true", // the legend is the first child
					"input[name$=_note]:not([readonly])":     "hi",
				},
				Press: "form#consent button[type=submit]:not([disabled])",
			},
			want: url.Values{"csrf": {"p1"}, "pin": {"1234"}, "otp_code": {""}, "a_note": {"kept"}, "b_note": {"hi"}, "account": {"FR76-1"}, "action": {"accept"}},
		},
		{
			name: "sibling combinators",
			step: Step{Press: "div > form + p ~ button"},
			want: url.Values{"csrf": {"p1"}, "pin": {""}, "otp_code": {""}, "a_note": {"kept"}, "b_note": {""}, "account": {"FR76-2"}, "action": {"sibling"}},
		},
		{
			name: "last of type, child combinator",
			step: Step{WaitFor: "#consent:has(fieldset)", Press: "form#consent > button:last-of-type"},
			want: url.Values{"csrf": {"p1"}, "pin": {""}, "otp_code": {""}, "a_note": {"kept"}, "b_note": {""}, "account": {"FR76-2"}, "action": {"later"}},
		},
	}
	exe, noBrowser := FindChromium("")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, sel := range append(slices.Collect(maps.Keys(tt.step.Fill)), tt.step.WaitFor, tt.step.Press) {
				if err := CheckSelector(sel); sel != "" && err != nil {
					t.Fatal(err) // a profile could not hold the script
				}
			}
			b := newFakeBank(t)
			posted := func(d Driver) url.Values {
				t.Helper()
				out, err := d.Drive(context.Background(), Journey{
					AuthorizeURL: b.srv.URL + "/pick", CallbackPrefix: b.callback, Script: Script{tt.step}, Timeout: generous,
				})
				if err != nil {
					t.Fatalf("%T: %v", d, err)
				}
				if out.Callback.Query().Get("code") != bankCode {
					t.Fatalf("%T: callback %s", d, out.Callback)
				}
				b.mu.Lock()
				defer b.mu.Unlock()
				return b.picks[len(b.picks)-1]
			}

			form := posted(NewFormDriver(b.srv.Client()))
			if !maps.EqualFunc(form, tt.want, slices.Equal) {
				t.Errorf("the form driver posted %v\nwant                         %v", form, tt.want)
			}
			if noBrowser != nil {
				t.Skipf("the browser driver is not tried: %v", noBrowser)
			}
			if _, err := findCertutil(); err != nil {
				t.Skipf("the browser driver is not tried: %v", err)
			}
			d := NewBrowserDriver(BrowserOptions{Executable: exe, TrustCAsPEM: testPKI().CA.CertPEM()})
			d.pressQuiet, d.endQuiet = 300*time.Millisecond, 500*time.Millisecond
			if browser := posted(d); !maps.EqualFunc(browser, form, slices.Equal) {
				t.Errorf("the browser driver posted %v\nthe form driver           %v", browser, form)
			}
		})
	}
}
