package psu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
	"golang.org/x/net/publicsuffix"
)

// FormDriver drives a journey over plain HTTP, as a browser without JavaScript would:
// it follows redirects, keeps cookies, and submits the HTML forms of the bank's pages.
// It is enough for the reference bank and for banks whose login and consent pages are
// plain forms. It never requests the callback: the redirect to it ends the journey.
//
// Beyond the script's steps it follows a <meta http-equiv=refresh> of at most 5 s (a
// redirect page) and, as a Press, a link with an href.
type FormDriver struct {
	client *http.Client
}

// NewFormDriver returns a form driver sending its requests with client, which carries
// the TLS trust, the timeouts and the evidence recording. The driver uses a copy of it
// with its own cookie jar per journey and follows redirects itself.
func NewFormDriver(client *http.Client) *FormDriver {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &FormDriver{client: client}
}

// userAgent is what the form driver says it is: banks often serve other pages, or
// nothing, to clients that do not look like a browser.
const userAgent = "Mozilla/5.0 (compatible; stetconform-psu-form-driver)"

// metaRefreshLimit is the longest <meta refresh> delay taken as a redirect; a longer
// one is a session-expiry refresh that a PSU would not wait for.
const metaRefreshLimit = 5

// Drive runs the journey; see Driver.
func (d *FormDriver) Drive(ctx context.Context, j Journey) (*Outcome, error) {
	out := &Outcome{LastURL: j.AuthorizeURL}
	if err := j.check(); err != nil {
		return out, err
	}
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		return out, err
	}
	client := *d.client
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	jctx, cancel := context.WithTimeout(ctx, j.timeout())
	defer cancel()
	r := &formRun{client: &client, j: j, out: out}
	err = r.run(jctx)
	if err != nil && jctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		return out, journeyTimedOut(j.timeout(), out.LastURL)
	}
	return out, err
}

type formRun struct {
	client *http.Client
	j      Journey
	out    *Outcome
}

// page is a 200 HTML page of the bank, parsed.
type htmlPage struct {
	url    *url.URL
	status int
	title  string
	doc    *html.Node
}

func (p *htmlPage) describe() string { return describePage(p.url.String(), p.status, p.title) }

func (r *formRun) run(ctx context.Context) error {
	start, _ := url.Parse(r.j.AuthorizeURL)
	pg, err := r.navigate(ctx, &formRequest{method: http.MethodGet, url: start})
	if err != nil || pg == nil {
		return err
	}
	steps := r.j.Script
	for i := 0; ; {
		if i == len(steps) {
			return fmt.Errorf("%w: %s the journey stopped on %s", ErrNoCallback, afterSteps(len(steps)), pg.describe())
		}
		st := steps[i]
		i++
		req, err := r.apply(i, st, pg)
		if err != nil {
			return err
		}
		if req == nil {
			continue // no Press: the next step acts on the same page
		}
		sctx, cancel, limit := stepTimeout(ctx, st)
		pg, err = r.navigate(sctx, req)
		stepExpired := sctx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err != nil {
			if stepExpired {
				return stepTimedOut(i, limit, fmt.Sprintf("after pressing %q", st.Press), r.out.LastURL)
			}
			return fmt.Errorf("step %d: after pressing %q: %w", i, st.Press, err)
		}
		if pg == nil {
			return nil // the callback
		}
	}
}

func afterSteps(n int) string {
	switch n {
	case 0:
		return "the script has no steps and"
	case 1:
		return "after the only script step"
	}
	return fmt.Sprintf("after the last of %d script steps", n)
}

// apply does one step on the page; it returns the request of the pressed button, or nil
// when the step presses nothing.
func (r *formRun) apply(n int, st Step, pg *htmlPage) (*formRequest, error) {
	if st.Match != "" && !MatchGlob(st.Match, pg.url.String()) {
		return nil, fmt.Errorf("step %d: expected a page matching %q, the journey is on %s", n, st.Match, pg.describe())
	}
	if st.WaitFor != "" {
		if _, err := pg.find(n, st.WaitFor); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(st.Fill))
	for k := range st.Fill {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		el, err := pg.find(n, k)
		if err != nil {
			return nil, err
		}
		if err := fillControl(el, st.Fill[k]); err != nil {
			return nil, fmt.Errorf("step %d: fill %q: %v on %s", n, k, err, pg.describe())
		}
	}
	if st.Press == "" {
		return nil, nil
	}
	el, err := pg.find(n, st.Press)
	if err != nil {
		return nil, err
	}
	req, err := submission(pg.doc, el, pg.url)
	if err != nil {
		return nil, fmt.Errorf("step %d: press %q: %v on %s", n, st.Press, err, pg.describe())
	}
	return req, nil
}

func (p *htmlPage) find(n int, selector string) (*html.Node, error) {
	sel, err := compileSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("step %d: %v", n, err)
	}
	el := cascadia.Query(p.doc, sel)
	if el == nil {
		return nil, fmt.Errorf("step %d: no element matches %q on %s", n, selector, p.describe())
	}
	return el, nil
}

// navigate sends req and follows redirects until a page, the callback (nil page), or an
// error.
func (r *formRun) navigate(ctx context.Context, req *formRequest) (*htmlPage, error) {
	redirects := 0
	follow := func(from *url.URL, status int, to *url.URL) error {
		if redirects == maxRedirects {
			return fmt.Errorf("redirect loop: %d redirects without reaching a page or the callback, the last from %s to %s", maxRedirects, from, to)
		}
		redirects++
		r.out.Redirects++
		req = redirected(req, status, to)
		return nil
	}
	for {
		if r.j.isCallback(req.url.String()) {
			r.out.Callback = req.url
			return nil, nil
		}
		if req.url.Scheme != "http" && req.url.Scheme != "https" {
			return nil, fmt.Errorf("the bank sent the browser to %s, which is neither a web page nor the callback %s", req.url, r.j.CallbackPrefix)
		}
		resp, body, err := r.do(ctx, req)
		if err != nil {
			return nil, err
		}
		switch status := resp.StatusCode; {
		case isRedirect(status):
			loc := resp.Header.Get("Location")
			if loc == "" {
				return nil, fmt.Errorf("the bank answered HTTP %d without a Location header at %s", status, req.url)
			}
			to, err := req.url.Parse(loc)
			if err != nil {
				return nil, fmt.Errorf("the bank answered HTTP %d with a Location %q that is not a URL at %s", status, loc, req.url)
			}
			if err := follow(req.url, status, to); err != nil {
				return nil, err
			}
		case status == http.StatusOK:
			doc, err := parsePage(bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("the page at %s is not HTML: %v", req.url, err)
			}
			pg := &htmlPage{url: req.url, status: status, title: pageTitle(doc), doc: doc}
			r.out.LastTitle = pg.title
			if to, ok := metaRefresh(doc, pg.url); ok {
				if err := follow(req.url, status, to); err != nil {
					return nil, err
				}
				req.method = http.MethodGet // a refresh is a plain navigation
				continue
			}
			return pg, nil
		default:
			title := ""
			if doc, err := html.Parse(bytes.NewReader(body)); err == nil {
				title = pageTitle(doc)
			}
			r.out.LastTitle = title
			return nil, fmt.Errorf("the bank answered HTTP %d at %s, page title %q", status, req.url, title)
		}
	}
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirected is the request a browser sends after a redirect: 307 and 308 repeat the
// method and body, the others become a GET.
func redirected(req *formRequest, status int, to *url.URL) *formRequest {
	next := &formRequest{method: http.MethodGet, url: to, referer: req.referer}
	if status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect {
		next.method, next.body, next.contentType, next.origin = req.method, req.body, req.contentType, req.origin
	}
	return next
}

// do sends one request and reads the answer, within maxBody.
func (r *formRun) do(ctx context.Context, fr *formRequest) (*http.Response, []byte, error) {
	r.out.LastURL, r.out.LastStatus, r.out.LastTitle = fr.url.String(), 0, ""
	var body io.Reader
	if fr.body != nil {
		body = bytes.NewReader(fr.body)
	}
	req, err := http.NewRequestWithContext(ctx, fr.method, fr.url.String(), body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	req.Header.Set("User-Agent", userAgent)
	if fr.contentType != "" {
		req.Header.Set("Content-Type", fr.contentType)
	}
	if fr.referer != "" {
		req.Header.Set("Referer", fr.referer)
	}
	if fr.origin != "" {
		req.Header.Set("Origin", fr.origin)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	r.out.LastStatus = resp.StatusCode
	if isRedirect(resp.StatusCode) {
		// The body of a redirect is not shown; read a little so the connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp, nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the page at %s: %w", fr.url, err)
	}
	if len(data) > maxBody {
		return nil, nil, fmt.Errorf("the page at %s is larger than %d MiB", fr.url, maxBody>>20)
	}
	return resp, data, nil
}

// pageTitle is the text of the page's <title>, whitespace collapsed.
func pageTitle(doc *html.Node) string {
	title := ""
	walkElements(doc, func(n *html.Node) bool {
		if n.Data == "title" && n.Namespace == "" {
			title = strings.Join(strings.Fields(textContent(n)), " ")
			return false
		}
		return true
	})
	return title
}

// metaRefresh finds a <meta http-equiv=refresh content="N; url=..."> with a short delay.
func metaRefresh(doc *html.Node, pageURL *url.URL) (*url.URL, bool) {
	var target *url.URL
	walkElements(doc, func(n *html.Node) bool {
		if n.Data != "meta" {
			return true
		}
		if v, _ := attr(n, "http-equiv"); !strings.EqualFold(strings.TrimSpace(v), "refresh") {
			return true
		}
		content, _ := attr(n, "content")
		delay, rest := content, ""
		if i := strings.IndexAny(content, ";,"); i >= 0 {
			delay, rest = content[:i], content[i+1:]
		}
		secs, err := strconv.ParseFloat(strings.TrimSpace(delay), 64)
		if err != nil || secs > metaRefreshLimit {
			return false
		}
		rest = strings.TrimSpace(rest)
		if len(rest) >= 4 && strings.EqualFold(rest[:3], "url") {
			if r := strings.TrimSpace(rest[3:]); strings.HasPrefix(r, "=") {
				rest = strings.TrimSpace(r[1:])
			}
		}
		rest = strings.Trim(rest, `"'`)
		if rest == "" {
			return false // a reload of the same page: nothing a PSU would wait for
		}
		if u, err := documentBase(doc, pageURL).Parse(rest); err == nil {
			target = u
		}
		return false
	})
	return target, target != nil
}
