package preflight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/stetconform/stetconform/internal/profile"
)

// FirstPage opens the primary TPP's authorization request as the PSU's browser does (no
// client certificate, the server checked against tls.ca) and reports whether the bank
// answers it. Any HTTP answer is OK, a refusal included: whether the bank should refuse it
// is a conformance check, not a question of setup. A transport error (DNS, TCP, TLS, no
// answer within the timeouts) is a Fail: no PSU journey could start.
func FirstPage(ctx context.Context, p *profile.Profile) Finding {
	redact := redactor(p)
	const field = "endpoints.authorize"
	at := p.Where(field)
	if p.Clients.Primary == nil || p.Endpoints.Authorize == "" {
		return redact(Finding{Level: Fail, Where: field, At: at, What: "no authorization request can be built without clients.primary and endpoints.authorize"})
	}
	target := authorizationURL(p)
	ctx, cancel := context.WithTimeout(ctx, p.Timeouts.Connect+p.Timeouts.Request)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return redact(Finding{Level: Fail, Where: field, At: at, What: fmt.Sprintf("the authorization URL cannot be built: %v", err)})
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	tr := &http.Transport{TLSClientConfig: p.TLSConfig(nil), TLSHandshakeTimeout: p.Timeouts.Connect, ResponseHeaderTimeout: p.Timeouts.Request}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // the first page is the bank's first answer
	}}
	shown := strings.SplitN(p.Endpoints.Authorize, "?", 2)[0]
	resp, err := hc.Do(req)
	if err != nil {
		return redact(Finding{Level: Fail, Where: field, At: at,
			What: fmt.Sprintf("the PSU's browser cannot open the authorization request (GET %s?response_type=code&client_id=...): %s; no PSU journey can start", shown, firstPageErr(err, p))})
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	next := ""
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		next = ", redirecting to " + strings.SplitN(loc, "?", 2)[0]
	}
	return redact(Finding{Level: OK, Where: field,
		What: fmt.Sprintf("the PSU's browser reaches the bank's first page: GET %s?response_type=code&client_id=... answers HTTP %d%s", shown, resp.StatusCode, next)})
}

// authorizationURL is the primary TPP's authorization request, as the steps send it.
func authorizationURL(p *profile.Profile) string {
	c := p.Clients.Primary
	var b [12]byte
	_, _ = rand.Read(b[:])
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {c.ClientID},
		"redirect_uri":  {c.RedirectURI},
		"scope":         {p.Scopes.AISP},
		"state":         {"stetconform-preflight-" + hex.EncodeToString(b[:])},
	}
	sep := "?"
	if strings.Contains(p.Endpoints.Authorize, "?") {
		sep = "&"
	}
	return p.Endpoints.Authorize + sep + q.Encode()
}

// firstPageErr says what stopped the browser, in the words the other probes use.
func firstPageErr(err error, p *profile.Profile) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within timeouts.connect + timeouts.request (%s)", p.Timeouts.Connect+p.Timeouts.Request)
	}
	return errText(err)
}
