// Package pagecheck opens a report page in headless Chromium, as a reader would, so that
// tests can check where things are on the first screen and that the page asks nothing of
// the network.
package pagecheck

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stetconform/stetconform/internal/psu"
)

// Width and Height are the window a page is opened in: a laptop screen.
const (
	Width  = 1280
	Height = 1000
)

// Chromium returns the browser to use, or why there is none: tests skip with that reason.
func Chromium() (string, error) { return psu.FindChromium("") }

// Page is one file open in its own headless Chromium.
type Page struct {
	ctx    context.Context
	cancel func()
	doc    string

	mu       sync.Mutex
	requests []string
}

// Open starts Chromium and loads the HTML file at path. Every request the page makes
// is recorded from before the navigation, so none is missed.
func Open(ctx context.Context, path string) (*Page, error) {
	exe, err := Chromium()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(Width, Height),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to start as root with its sandbox
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tctx, tcancel := chromedp.NewContext(actx)
	p := &Page{ctx: tctx, cancel: func() { tcancel(); acancel() }, doc: (&url.URL{Scheme: "file", Path: abs}).String()}
	if err := chromedp.Do(tctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	if err := chromedp.Listen(tctx, p.onEvent); err != nil {
		p.Close()
		return nil, err
	}
	// The window's own frame takes some of WindowSize: emulate the viewport, so that the
	// first screen is Width × Height.
	if err := chromedp.Do(tctx, chromedp.EmulateViewport(Width, Height), chromedp.Navigate(p.doc)); err != nil {
		p.Close()
		return nil, fmt.Errorf("opening %s: %w", p.doc, err)
	}
	return p, nil
}

// onEvent runs in chromedp's event loop: it must be quick and send no command.
func (p *Page) onEvent(ev any) {
	if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
		p.mu.Lock()
		p.requests = append(p.requests, ev.Request.URL)
		p.mu.Unlock()
	}
}

// Requests lists the URLs the page requested besides its own file; data: URLs, which
// are part of the page (inlined screenshots), are left out.
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, u := range p.requests {
		if u != p.doc && !strings.HasPrefix(u, "data:") {
			out = append(out, u)
		}
	}
	return out
}

// Box is where an element is, in CSS pixels from the top of the page (the page is not
// scrolled), and whether it is rendered at all.
type Box struct {
	Found   bool    `json:"found"`
	Visible bool    `json:"visible"` // it has a size: not display:none, not in a closed <details>
	Top     float64 `json:"top"`
	Height  float64 `json:"height"`
	Text    string  `json:"text"` // its text as drawn (the head of it), to say which element it was
}

// BoxOf measures the first element matching the CSS selector.
func (p *Page) BoxOf(selector string) (Box, error) {
	return Eval[Box](p, fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e) return {found: false, visible: false, top: 0, height: 0, text: ""};
		const r = e.getBoundingClientRect();
		return {found: true, visible: r.width > 0 && r.height > 0, top: r.top + window.scrollY, height: r.height,
			text: e.innerText.trim().replace(/\s+/g, " ").slice(0, 400)};
	})()`, selector))
}

// Click clicks the first element matching the CSS selector.
func (p *Page) Click(selector string) error {
	return chromedp.Do(p.ctx, chromedp.Click(chromedp.CSS(selector)))
}

// Eval evaluates a JavaScript expression in the page and decodes its result into T.
func Eval[T any](p *Page, expr string) (T, error) {
	return chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
}

// Screenshot is a PNG of the first screen, or of the whole page when full is true.
func (p *Page) Screenshot(full bool) ([]byte, error) {
	if full {
		return chromedp.Run(p.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	}
	return chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
}

// Close ends the browser and removes its profile.
func (p *Page) Close() { p.cancel() }

// T is what the checks need of a test: testing.T, or GinkgoT() in the suites (which
// cannot be a testing.TB).
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Logf(format string, args ...any)
}

// FirstScreen is how far down a reader sees without scrolling, in CSS pixels.
const FirstScreen = 1000

// CheckFirstScreen checks a report page as the browser drew it: the outcome banner
// reads outcome and, when the run has a failed or inconclusive check (problems), the
// heading of the first one, both end within the first screen; and the page made no
// request but for its own file.
func CheckFirstScreen(t T, p *Page, outcome string, problems bool) {
	t.Helper()
	banner, err := p.BoxOf("#outcome .verdict")
	if err != nil {
		t.Fatal(err)
	}
	if !banner.Visible || banner.Top+banner.Height > FirstScreen {
		t.Errorf("the outcome is not on the first screen: %+v", banner)
	}
	if banner.Text != outcome {
		t.Errorf("the banner reads %q, want %q", banner.Text, outcome)
	}
	first, err := p.BoxOf("#problems article h3")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !problems && first.Found:
		t.Errorf("a run without failure shows one: %+v", first)
	case problems && (!first.Visible || first.Top+first.Height > FirstScreen):
		t.Errorf("the first failure is not on the first screen: %+v", first)
	}
	if req := p.Requests(); len(req) > 0 {
		t.Errorf("the page made network requests: %q", req)
	}
}

// SaveScreenshots writes the first screen and the whole page as PNG files named after
// name into the directory STETCONFORM_SCREENSHOTS names, when it is set: a person
// looks at them, which no assertion replaces.
func SaveScreenshots(t T, p *Page, name string) {
	t.Helper()
	dir := os.Getenv("STETCONFORM_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Eval[chromedp.Void](p, "window.scrollTo(0, 0)"); err != nil {
		t.Fatal(err)
	}
	for _, shot := range []struct {
		suffix string
		full   bool
	}{{"first-screen", false}, {"full-page", true}} {
		png, err := p.Screenshot(shot.full)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+"-"+shot.suffix+".png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", out)
	}
}
