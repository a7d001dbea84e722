package psu

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// BrowserOptions configure the browser driver.
type BrowserOptions struct {
	// Executable is the Chromium to run; empty means FindChromium("").
	Executable string
	// TrustCAsPEM is the bank's private CA bundle (the profile's tls.ca), PEM. Chromium
	// then trusts these CAs for TLS servers besides its own roots, in a database of its
	// own for each journey (see browsertrust.go); NSS's certutil must be installed.
	TrustCAsPEM []byte
	// IgnoreCertErrors makes Chromium accept any server certificate, for a profile that
	// sets tls.insecure_skip_verify; the run must say it was set.
	IgnoreCertErrors bool
}

// BrowserDriver runs the PSU script in headless Chromium (through chromedp), for banks
// whose pages need JavaScript. Each journey gets a fresh browser and profile. The
// callback is caught by request interception before it leaves the browser, so the
// callback host is never contacted.
//
// Selectors go to Chromium's querySelector; a profile holds only those the form
// driver understands too (see CheckSelector).
type BrowserDriver struct {
	opts BrowserOptions
	// pressQuiet and endQuiet: see the constants; tests shorten them.
	pressQuiet, endQuiet time.Duration
}

// NewBrowserDriver returns a browser driver; Chromium is looked for when a journey starts.
func NewBrowserDriver(opts BrowserOptions) *BrowserDriver {
	return &BrowserDriver{opts: opts, pressQuiet: pressQuiet, endQuiet: endQuiet}
}

// CheckTrust says whether Chromium can be made to trust TrustCAsPEM: the bundle holds
// certificates and certutil is installed. Drive checks it too, but a run had better
// stop once, before its first journey.
func (d *BrowserDriver) CheckTrust() error {
	_, _, err := d.trust()
	return err
}

// trust returns the CAs to trust besides Chromium's own roots (nil: none) and the
// certutil that adds them.
func (d *BrowserDriver) trust() ([]*x509.Certificate, string, error) {
	if len(d.opts.TrustCAsPEM) == 0 {
		return nil, "", nil
	}
	cas, err := parseCAs(d.opts.TrustCAsPEM)
	if err != nil {
		return nil, "", err
	}
	certutil, err := findCertutil()
	if err != nil {
		return nil, "", err
	}
	return cas, certutil, nil
}

// chromiumNames are looked for on PATH, in this order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// FindChromium returns the path of the browser to run: explicit when given (a path or a
// name on PATH), else the first of chromium, chromium-browser, google-chrome and
// google-chrome-stable found on PATH.
func FindChromium(explicit string) (string, error) {
	if explicit != "" {
		p, err := exec.LookPath(explicit)
		if err != nil {
			return "", fmt.Errorf("the Chromium executable %q cannot be run: %v", explicit, err)
		}
		return p, nil
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: looked for %s on PATH; install it (Debian: apt-get install chromium) or set psu.browser.executable in the bank profile", strings.Join(chromiumNames, ", "))
}

const (
	// diagnosticsGrace is how long the browser outlives a failed journey, to say where it
	// stopped and take the screenshot.
	diagnosticsGrace = 15 * time.Second
	// pressQuiet is how long the page must stay still after a press before the next step:
	// long enough for the click to start its navigation.
	pressQuiet = 750 * time.Millisecond
	// endQuiet is how long the last page must stay still before the journey counts as
	// ended elsewhere than the callback (a page may redirect itself after loading).
	endQuiet = 2 * time.Second
	// pollEvery is how often a Match step looks at the browser's location.
	pollEvery = 100 * time.Millisecond
)

// capturedPage answers the intercepted callback request in the browser's place.
const capturedPage = `<!doctype html><title>stetconform: callback captured</title><p>stetconform captured the redirect to the callback.</p>`

// Drive runs the journey; see Driver.
func (d *BrowserDriver) Drive(ctx context.Context, j Journey) (*Outcome, error) {
	out := &Outcome{LastURL: j.AuthorizeURL}
	if err := j.check(); err != nil {
		return out, err
	}
	exe, err := FindChromium(d.opts.Executable)
	if err != nil {
		return out, err
	}
	cas, certutil, err := d.trust()
	if err != nil {
		return out, err
	}

	bctx, bcancel := context.WithTimeout(ctx, j.timeout()+diagnosticsGrace)
	defer bcancel()
	var home string // with tls.ca: Chromium's HOME, whose NSS database trusts its CAs
	if cas != nil {
		if home, err = trustHome(bctx, certutil, cas); err != nil {
			return out, err
		}
		defer os.RemoveAll(home) // deferred before acancel, so it runs after the browser has exited
	}
	// The defaults bring headless, no-first-run, disable-background-networking and
	// disable-sync; without a user-data-dir flag chromedp makes a fresh profile in a
	// temporary directory and removes it when the browser has exited.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 1024),
	)
	// Chromium refuses to start as root with its sandbox; in a container (the Dockerfile
	// sets STETCONFORM_CHROMIUM_NO_SANDBOX) Docker's default seccomp profile denies the user
	// namespaces the sandbox needs, and the container is the sandbox.
	if os.Geteuid() == 0 || os.Getenv("STETCONFORM_CHROMIUM_NO_SANDBOX") != "" {
		opts = append(opts, chromedp.NoSandbox)
	}
	if d.opts.IgnoreCertErrors {
		opts = append(opts, chromedp.IgnoreCertErrors)
	}
	if home != "" {
		opts = append(opts, chromedp.Env("HOME="+home))
	}
	actx, acancel := chromedp.NewExecAllocator(bctx, opts...)
	defer acancel() // waits for the browser to exit and its profile to be removed
	tctx, tcancel := chromedp.NewContext(actx, chromedp.WithErrorf(formatOnly), chromedp.WithLogf(formatOnly))
	defer tcancel()
	if err := chromedp.Do(tctx); err != nil {
		return out, fmt.Errorf("starting %s: %v", exe, err)
	}

	jctx, jcancel := context.WithTimeout(tctx, j.timeout())
	defer jcancel()
	b := &browserRun{j: j, out: out, tab: tctx, journey: jctx, captured: make(chan struct{}), changed: make(chan struct{}),
		pressQuiet: d.pressQuiet, endQuiet: d.endQuiet, trusted: cas != nil}
	err = b.run()
	b.mu.Lock()
	out.Redirects, out.Callback = b.redirects, b.callback
	out.LastURL, out.LastStatus = b.lastURL, b.lastStatus
	b.mu.Unlock()
	if out.Callback != nil {
		return out, nil
	}
	if err == nil {
		err = errors.New("the journey ended without an error and without the callback") // not reached
	}
	b.diagnose()
	var te *timeoutError
	if jctx.Err() == context.DeadlineExceeded && ctx.Err() == nil && !errors.As(err, &te) {
		err = journeyTimedOut(j.timeout(), out.LastURL)
	}
	return out, err
}

// formatOnly logs chromedp's messages without their arguments, which may hold raw
// protocol messages and so the PSU's credentials.
func formatOnly(format string, _ ...any) { log.Printf("psu: chromium: %s", format) }

// browserRun is one journey in one browser tab.
type browserRun struct {
	j       Journey
	out     *Outcome
	tab     context.Context // the tab, alive a little longer than the journey
	journey context.Context

	pressQuiet, endQuiet time.Duration
	trusted              bool // Chromium trusts the CAs of tls.ca

	mainFrame cdp.FrameID

	mu         sync.Mutex
	callback   *url.URL
	captured   chan struct{} // closed when callback is set
	loading    bool          // the main frame is loading
	lastChange time.Time
	changed    chan struct{} // closed and replaced when loading changes
	lastURL    string
	lastStatus int
	redirects  int
}

func (b *browserRun) run() error {
	ctx := b.journey
	tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		return fmt.Errorf("reading the browser's frame tree: %v", err)
	}
	b.mainFrame = tree.FrameTree.Frame.ID
	// Listen and intercept before navigating, so that no request is missed.
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		return err
	}
	var patterns []*fetch.RequestPattern
	for _, p := range b.j.prefixes() {
		patterns = append(patterns, &fetch.RequestPattern{URLPattern: fetchPattern(p), RequestStage: fetch.RequestStageRequest})
	}
	_, err = chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: patterns})
	if err != nil {
		return fmt.Errorf("enabling request interception: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(b.j.AuthorizeURL)); err != nil && !b.done() {
		hint := ""
		if strings.Contains(err.Error(), "ERR_CERT") {
			hint = " (Chromium does not trust the bank's certificate: set tls.ca in the bank profile to the CA that issued it)"
			if b.trusted {
				hint = " (Chromium does not trust the bank's certificate: it is not issued for this host by a CA of tls.ca, or not valid now)"
			}
		}
		return fmt.Errorf("opening the authorization URL %s: %v%s", b.j.AuthorizeURL, err, hint)
	}
	for i, st := range b.j.Script {
		if b.done() {
			return nil
		}
		if err := b.step(i+1, st); err != nil && !b.done() {
			return err
		}
	}
	b.settle(ctx, time.Now(), b.endQuiet)
	if b.done() {
		return nil
	}
	if ctx.Err() != nil {
		return nil // Drive reports the journey timeout
	}
	return fmt.Errorf("%w: %s the journey stopped on %s", ErrNoCallback, afterSteps(len(b.j.Script)), b.where())
}

func (b *browserRun) done() bool {
	select {
	case <-b.captured:
		return true
	default:
		return false
	}
}

// errorPageGrace is how long an error page (HTTP 4xx or 5xx) may stay before the step
// stops waiting for its elements: time for a script to move on, if the page has one.
const errorPageGrace = time.Second

// errorPage is why a step stopped early: the bank answered the page with an error status.
type errorPage struct{ status int }

func (e errorPage) Error() string {
	return fmt.Sprintf("the bank answered HTTP %d and the page stayed", e.status)
}

// watchErrorPage stops the step when the bank has answered the page with an HTTP error
// and the page stays: waiting the whole journey for an element it will never show only
// makes a refused journey slow.
func (b *browserRun) watchErrorPage(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		status, loading := b.lastStatus, b.loading
		b.mu.Unlock()
		switch {
		case status < 400 || loading:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= errorPageGrace:
			stop(errorPage{status})
			return
		}
	}
}

// step does one step; its context ends at the step's timeout, the journey's, or the
// capture of the callback.
func (b *browserRun) step(n int, st Step) error {
	sctx, cancel, limit := stepTimeout(b.journey, st)
	defer cancel()
	ctx, stopOnError := context.WithCancelCause(sctx)
	defer stopOnError(nil)
	go b.watchErrorPage(ctx, stopOnError)
	go func() {
		select {
		case <-b.captured:
			cancel()
		case <-ctx.Done():
		}
	}()
	fail := func(what string, err error) error {
		if b.done() {
			return nil
		}
		where := b.where()
		var ep errorPage
		if errors.As(context.Cause(ctx), &ep) {
			return fmt.Errorf("step %d: %s on %s: %v", n, what, where, ep)
		}
		if ctx.Err() == context.DeadlineExceeded {
			if b.journey.Err() != nil {
				return &timeoutError{fmt.Sprintf("step %d: %s on %s: journey timed out after %s", n, what, where, shortDuration(b.j.timeout()))}
			}
			return &timeoutError{fmt.Sprintf("step %d: %s on %s (waited %s)", n, what, where, shortDuration(limit))}
		}
		return fmt.Errorf("step %d: %s on %s: %v", n, what, where, err)
	}

	if st.Match != "" {
		if err := b.waitMatch(ctx, st.Match); err != nil {
			return fail(fmt.Sprintf("expected a page matching %q", st.Match), err)
		}
	}
	if st.WaitFor != "" {
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(st.WaitFor))); err != nil {
			return fail(fmt.Sprintf("no visible element matches %q", st.WaitFor), err)
		}
	}
	keys := make([]string, 0, len(st.Fill))
	for k := range st.Fill {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := chromedp.Do(ctx, chromedp.Query(chromedp.CSS(k))); err != nil {
			return fail(fmt.Sprintf("no element matches %q", k), err)
		}
		if err := b.fill(ctx, k, st.Fill[k]); err != nil {
			return fail(fmt.Sprintf("fill %q", k), err)
		}
	}
	if st.Press != "" {
		pressed := time.Now()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(st.Press))); err != nil {
			return fail(fmt.Sprintf("no visible element matches %q", st.Press), err)
		}
		b.settle(ctx, pressed, b.pressQuiet)
	}
	return nil
}

func (b *browserRun) waitMatch(ctx context.Context, pattern string) error {
	for {
		if loc, _ := b.shown(ctx); loc != "" && MatchGlob(pattern, loc) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// fillScript sets a control's value as fillControl does on a parsed page, and dispatches
// the events a page's scripts listen to. It answers "type" for a visible text field,
// which is then typed into with real key events. The value never appears in its answer.
const fillScript = `(function (sel, v, on, isBool) {
  const el = document.querySelector(sel);
  if (!el) return "no element matches";
  const tag = el.tagName.toLowerCase();
  const fire = (t) => el.dispatchEvent(new Event(t, { bubbles: true }));
  if (tag === "select") {
    const opt = Array.from(el.options).find((o) => o.value === v);
    if (!opt) return "no <option> of the <select> has the value given";
    Array.from(el.options).forEach((o) => { o.selected = o === opt; });
    fire("input"); fire("change");
    return "ok";
  }
  if (tag !== "input" && tag !== "textarea")
    return "it is a <" + tag + ">: select an input, a textarea or a select";
  const t = tag === "input" ? el.type : "textarea";
  if (t === "checkbox" || t === "radio") {
    if (!isBool) return "it is a " + t + ": fill it with true or false";
    if (el.checked !== on) el.click();
    return "ok";
  }
  if (["submit", "image", "reset", "button", "file"].includes(t))
    return "it cannot be filled (a " + t + " input)";
  el.value = "";
  const r = el.getBoundingClientRect();
  if (t !== "hidden" && r.width > 0 && r.height > 0 && !el.readOnly && !el.disabled &&
      getComputedStyle(el).visibility !== "hidden") {
    el.focus();
    return "type";
  }
  el.value = v; fire("input"); fire("change");
  return "ok";
})(%s, %s, %t, %t)`

func (b *browserRun) fill(ctx context.Context, sel, value string) error {
	on, isBool := parseChecked(value)
	jsSel, _ := json.Marshal(sel)
	jsVal, _ := json.Marshal(value)
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(fillScript, jsSel, jsVal, on, isBool)))
	if err != nil {
		return err
	}
	switch res {
	case "ok":
		return nil
	case "type":
		return chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), value))
	}
	return errors.New(res)
}

// settle waits until the main frame has stopped loading and stayed still for quiet
// (counted from since at the earliest), the callback is captured, or ctx ends.
func (b *browserRun) settle(ctx context.Context, since time.Time, quiet time.Duration) {
	for {
		b.mu.Lock()
		loading, changed, last := b.loading, b.changed, b.lastChange
		b.mu.Unlock()
		var still <-chan time.Time
		if !loading {
			if last.Before(since) {
				last = since
			}
			left := quiet - time.Since(last)
			if left <= 0 {
				return
			}
			still = time.After(left)
		}
		select {
		case <-ctx.Done():
			return
		case <-b.captured:
			return
		case <-changed:
		case <-still:
			return
		}
	}
}

// onEvent runs in chromedp's event loop: it must be quick and send no command.
func (b *browserRun) onEvent(ev any) {
	switch ev := ev.(type) {
	case *fetch.EventRequestPaused:
		u := ev.Request.URL + ev.Request.URLFragment
		if b.j.isCallback(u) {
			b.capture(u)
			go b.answer(ev.RequestID, true)
		} else {
			go b.answer(ev.RequestID, false)
		}
	case *network.EventRequestWillBeSent:
		if ev.Type != network.ResourceTypeDocument || ev.FrameID != b.mainFrame {
			return
		}
		u := ev.Request.URL + ev.Request.URLFragment
		b.mu.Lock()
		if b.callback == nil {
			if ev.RedirectResponse != nil {
				b.redirects++
				b.lastStatus = int(ev.RedirectResponse.Status)
			}
			b.lastURL = u
		}
		b.mu.Unlock()
		if b.j.isCallback(u) {
			b.capture(u) // interception catches it first; this is a second net
		}
	case *network.EventResponseReceived:
		if ev.Type != network.ResourceTypeDocument || ev.FrameID != b.mainFrame {
			return
		}
		b.mu.Lock()
		if b.callback == nil {
			b.lastURL, b.lastStatus = ev.Response.URL, int(ev.Response.Status)
		}
		b.mu.Unlock()
	case *page.EventFrameStartedLoading:
		if ev.FrameID == b.mainFrame {
			b.setLoading(true)
		}
	case *page.EventFrameStoppedLoading:
		if ev.FrameID == b.mainFrame {
			b.setLoading(false)
		}
	}
}

func (b *browserRun) setLoading(loading bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loading, b.lastChange = loading, time.Now()
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *browserRun) capture(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.callback == nil {
		b.callback = u
		close(b.captured)
	}
}

// answer releases an intercepted request: the callback gets a local page instead of
// reaching the TPP's host.
func (b *browserRun) answer(id fetch.RequestID, callback bool) {
	var err error
	if callback {
		_, err = chromedp.Call(b.journey, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID:       id,
			ResponseCode:    200,
			ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
			Body:            []byte(capturedPage),
		})
	} else {
		_, err = chromedp.Call(b.journey, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
	}
	_ = err // the tab is closing, or the request is gone: nothing left to do
}

// where describes the page the browser shows, for errors: URL (status, "title").
func (b *browserRun) where() string {
	ctx, cancel := context.WithTimeout(b.tab, 5*time.Second)
	defer cancel()
	loc, title := b.shown(ctx)
	b.mu.Lock()
	status := b.lastStatus
	b.mu.Unlock()
	return describePage(loc, status, title)
}

// shown is what the address bar and the tab show: the page being loaded while the main
// frame loads (a bank that hangs), else the current history entry. It asks the browser,
// not the page, whose scripts cannot answer during a navigation.
func (b *browserRun) shown(ctx context.Context) (loc, title string) {
	b.mu.Lock()
	loading, pending := b.loading, b.lastURL
	b.mu.Unlock()
	if h, err := chromedp.Run(ctx, chromedp.NavigationEntries()); err == nil && h.CurrentIndex >= 0 && int(h.CurrentIndex) < len(h.Entries) {
		e := h.Entries[h.CurrentIndex]
		loc, title = e.URL, e.Title
	}
	if (loading && pending != "") || loc == "" {
		return pending, ""
	}
	return loc, title
}

// diagnose fills the outcome with what the browser shows after a failure.
func (b *browserRun) diagnose() {
	ctx, cancel := context.WithTimeout(b.tab, 5*time.Second)
	defer cancel()
	if loc, title := b.shown(ctx); loc != "" {
		b.out.LastURL, b.out.LastTitle = loc, title
	}
	// The screenshot goes into the report: empty what the PSU typed first (credentials),
	// keeping the page's layout. Without that, no screenshot.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](clearTypedScript)); err != nil {
		return
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		b.out.Screenshot = png // quality 100 means PNG
	}
}

// clearTypedScript empties every text-like field, in the page and its same-origin frames.
const clearTypedScript = `(() => {
  const clear = (doc) => {
    doc.querySelectorAll('input, textarea').forEach((el) => {
      const t = (el.type || '').toLowerCase();
      if (!['hidden', 'submit', 'button', 'image', 'reset', 'checkbox', 'radio', 'file'].includes(t)) el.value = '';
    });
  };
  clear(document);
  for (const f of document.querySelectorAll('iframe')) { try { clear(f.contentDocument); } catch (e) {} }
  return true;
})()`

// fetchPattern is the interception pattern of every URL starting with prefix
// ('*' and '?' are wildcards there, escaped with a backslash).
func fetchPattern(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`)
	return r.Replace(prefix) + "*"
}
