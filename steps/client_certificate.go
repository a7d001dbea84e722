package steps

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/evidence"
	"github.com/stetconform/stetconform/internal/profile"
)

// registerClientCertificate gives the sentences of client_certificate.feature their code.
func (w *World) registerClientCertificate(sc sentences) {
	sc.Step(`^the code is exchanged without a client certificate$`, func(ctx context.Context) error {
		w.lastCertNone = true
		c := w.named("primary")
		w.exchange(ctx, nil, c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the code is exchanged with the primary TPP's expired certificate$`, func(ctx context.Context) error {
		c := w.named("primary")
		w.exchange(ctx, w.named("expired"), c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP exchanges the second TPP's code under the second TPP's client_id$`, func(ctx context.Context) error {
		b := w.named("second")
		w.exchange(ctx, w.named("primary"), b.ClientID, b.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP refreshes the second TPP's token under the second TPP's client_id$`, func(ctx context.Context) error {
		if w.tokens.refresh == "" {
			return w.noRefreshToken()
		}
		w.postToken(ctx, w.named("primary"), refreshForm(w.tokens.refresh, w.named("second").ClientID))
		return nil
	})
	sc.Step(`^the code is exchanged with a certificate carrying the primary TPP's identity from an untrusted issuer$`, func(ctx context.Context) error {
		c := w.named("primary")
		twin, err := untrustedTwin(c)
		if err != nil {
			return err
		}
		w.exchange(ctx, twin, c.ClientID, c.RedirectURI)
		return nil
	})
	sc.Step(`^the primary TPP connects to the token endpoint with TLS 1.2 and then with TLS 1.1$`, func(ctx context.Context) error {
		return w.probeTLSVersions(ctx, w.named("primary"))
	})
	sc.Step(`^the bank accepts TLS 1.2 and refuses TLS 1.1$`, w.tlsLegacyRefused)
	sc.Step(`^the bank refuses to authenticate the client$`, func() error {
		if w.lastCertNone {
			return w.clientRefused("", "either") // no certificate: a host shared with /authorize can only refuse it in HTTP
		}
		return w.clientRefused("bad_certificate", w.p.Options.BadCertificate)
	})
	sc.Step(`^the bank refuses the client_id with invalid_client$`, func() error {
		return w.clientRefused("client_mismatch", w.p.Options.ClientMismatch)
	})
	sc.Step(`^the TPP without the AISP role asks for AISP access with the PSU's approval$`, func(ctx context.Context) error {
		return w.roleAsksAccess(ctx, w.named("without_aisp_role"), roleAISP)
	})
	sc.Step(`^the bank gives it no access token that opens the accounts resource$`, func() error {
		return w.roleGetsNoAccess(roleAISP)
	})
}

// clientRefused checks that the bank refused to authenticate the TPP, the way the bank
// profile declares it with option (mode tls: by ending the TLS handshake; http: by HTTP
// invalid_client; either). A certificate the bank cannot accept at all (none, expired,
// untrusted) may also be refused by a TLS front end with its own 4xx page: allowed, with
// a warning. A client_id that does not match a valid certificate is the OAuth server's to
// refuse: strict.
func (w *World) clientRefused(option, mode string) error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	strict := option == "client_mismatch"
	if a.status != http.StatusOK {
		if err := w.codeMayHaveExpired(); err != nil {
			return err
		}
	}
	if a.err != nil && a.status == 0 { // no HTTP answer at all: a TLS-level refusal?
		if mode == "http" {
			return fmt.Errorf("expected HTTP 400 or 401 with error invalid_client (the profile declares %s: http); %s", option, a)
		}
		if !isTLSRefusal(a.err) {
			return fmt.Errorf("expected the bank to refuse the client in the TLS handshake or with invalid_client; the request failed otherwise: %s", a)
		}
		return nil
	}
	if a.err != nil || a.status >= 200 && a.status < 300 {
		return fmt.Errorf("expected the bank to refuse the client; it answered %s%s", a, tokenHint(a))
	}
	if mode == "tls" {
		return fmt.Errorf("expected the TLS handshake to fail (the profile declares %s: tls); the bank answered %s", option, a)
	}
	if a.str("error") != "invalid_client" || (a.status != http.StatusBadRequest && a.status != http.StatusUnauthorized) {
		if !strict && a.status >= 400 && a.status < 500 && a.str("access_token") == "" {
			w.warn("the bank refused the client with %s, not the RFC 6749 invalid_client error (a TLS front end's page?)", a)
			return nil
		}
		return fmt.Errorf("expected HTTP 400 or 401 with error invalid_client (RFC 6749 section 5.2, RFC 8705 section 2); %s", a)
	}
	return nil
}

// roleRefusals are the errors by which a bank says that a TPP may not have what it asks
// for: only these, or 401/403 at the token endpoint or the resource, or an error on the
// callback, count as refusing the missing PSD2 role (MTLS-03, MTLS-11).
var roleRefusals = []string{"unauthorized_client", "access_denied", "invalid_scope", "invalid_client"}

// psd2Role is a TPP role as the role checks name it: the scope family, the PSD2 role of
// the eIDAS certificate that grants it, and the resource it opens.
type psd2Role struct {
	name     string // AISP, CBPII
	role     string // the World's role: "" (aisp) or cbpii
	psd2     string // PSP_AI, PSP_IC
	resource string // the resource a token of the role opens
}

var (
	roleAISP  = psd2Role{name: "AISP", role: "", psd2: "PSP_AI", resource: "accounts resource"}
	roleCBPII = psd2Role{name: "CBPII", role: profile.RoleCBPII, psd2: "PSP_IC", resource: "funds-confirmations resource"}
)

// roleAsksAccess runs the whole flow of role r for the TPP lacking its PSD2 role, noting
// where the bank refused it. Only a refusal that names an authorization problem counts;
// anything else (an error page about something else, a redirect_uri problem, no answer,
// 429, 5xx) leaves the check inconclusive, with where the journey stopped.
func (w *World) roleAsksAccess(ctx context.Context, c *profile.Client, r psd2Role) error {
	w.role = r.role
	undecided := fmt.Sprintf("cannot tell whether the bank refuses the TPP without the %s role", r.name)
	first := w.firstPage(ctx, w.authorizeURL(c.ClientID, c.RedirectURI, "code"), c.RedirectURI)
	if err := w.psuDecides(ctx, c, true); err != nil {
		w.inconclusiveWhy = "" // a journey stopped by the bank may be the refusal looked for
		if why := notAnAuthorizationRefusal(first); why != "" {
			return w.inconclusive("%s: %s", undecided, why)
		}
		// The first page the primary TPP, which holds the role, gets for the same request:
		// an error code the bank writes on every first page (a login page's script, say) is
		// no refusal of this TPP.
		var control authStart
		if p := w.named("primary"); p != nil {
			control = w.firstPage(ctx, w.authorizeURL(p.ClientID, p.RedirectURI, "code"), p.RedirectURI)
		}
		if code := roleRefusalIn(w.outcome.LastURL, first, control); code != "" && w.journeyInconclusive() == nil {
			w.roleRefusedAt = fmt.Sprintf("the authorization journey (%s, error %s)", first.where(), code)
			return nil
		}
		return w.inconclusive("%s: its journey stopped without a role-related error (%s), at %s: %s",
			undecided, strings.Join(roleRefusals, ", "), first.where(), journeyError(w.journeyErr))
	}
	q := w.outcome.Callback.Query()
	if q.Get("code") == "" {
		switch e := q.Get("error"); {
		case e == "server_error" || e == "temporarily_unavailable":
			return w.inconclusive("%s: the callback carries error=%s, the bank not serving, which is no refusal of the role", undecided, e)
		case e != "":
			// The same journey works for a TPP with the role: the primary TPP's code
			// exchange in this run (@control:code-exchange).
			w.res.Tags = append(w.res.Tags, "@control:"+controlCodeExchange)
			w.roleRefusedAt = fmt.Sprintf("the callback (error=%q)", e)
			return nil
		}
		return w.inconclusive("%s: the callback has neither a code nor an error", undecided)
	}
	w.code = q.Get("code")
	a := w.exchange(ctx, c, c.ClientID, c.RedirectURI)
	if err := w.notARefusal(a); err != nil {
		return err
	}
	switch {
	case a.status == 0 && a.err != nil:
		return w.inconclusive("%s: the token endpoint gave %s, which does not say why", undecided, a)
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden,
		a.status >= 400 && slices.Contains(roleRefusals, a.str("error")):
		w.roleRefusedAt = "the token endpoint (" + a.String() + ")"
		return nil
	case a.status != http.StatusOK || a.str("access_token") == "":
		return w.inconclusive("%s: the token endpoint refused it for another reason than a role (%s)", undecided, a)
	}
	if err := w.keepTokens(c, a); err != nil {
		return err
	}
	// A token may still be issued (without the role's scope, say): what matters is that
	// it does not open the role's resource.
	var res *answer
	if r.role == profile.RoleCBPII {
		res = w.confirmFunds(ctx, c, w.tokens.access)
	} else {
		res = w.callAccounts(ctx, c, "Bearer", w.tokens.access)
	}
	if err := w.notARefusal(res); err != nil {
		return err
	}
	switch {
	case res.err == nil && (res.status == http.StatusUnauthorized || res.status == http.StatusForbidden):
		w.roleRefusedAt = fmt.Sprintf("the %s (HTTP %d)", r.resource, res.status)
	case res.err != nil || res.status != http.StatusOK:
		return w.inconclusive("%s: the %s answered %s", undecided, r.resource, res)
	}
	return nil
}

// roleRefusalIn finds a role-related error code in the URL where a journey stopped (an
// error parameter) or in the first page the bank showed, when that page is not the one a
// TPP holding the role gets (control, which must be a page the bank served) and the code
// is not in that page too.
func roleRefusalIn(lastURL string, first, control authStart) string {
	if u, err := url.Parse(lastURL); err == nil {
		if e := u.Query().Get("error"); slices.Contains(roleRefusals, e) {
			return e
		}
	}
	if first.page == nil || !control.isPage() || busy(control.page) || control.page.status >= 500 || samePage(first, control) {
		return ""
	}
	body, controlBody := strings.ToLower(string(first.page.body)), strings.ToLower(string(control.page.body))
	for _, code := range roleRefusals {
		if strings.Contains(body, code) && !strings.Contains(controlBody, code) {
			return code
		}
	}
	return ""
}

// roleGetsNoAccess passes when the bank refused the TPP lacking role r's PSD2 role
// somewhere along the flow, and says where.
func (w *World) roleGetsNoAccess(r psd2Role) error {
	if w.roleRefusedAt == "" {
		return fmt.Errorf("expected no usable %s access for a certificate without the %s role; the bank issued a token and the %s answered %s", r.name, r.psd2, r.resource, w.last)
	}
	w.note("the bank refused the TPP without the %s role at %s", r.psd2, w.roleRefusedAt)
	return nil
}

// untrustedTwin returns a client with c's client_id and identity (organizationIdentifier,
// PSD2 roles) in a QWAC issued by a throwaway CA, made for this scenario: no QTSP, and so
// no bank, trusts it.
func untrustedTwin(c *profile.Client) (*profile.Client, error) {
	now := time.Now()
	ca, err := eidas.NewAuthority("stetconform throwaway CA (not a QTSP)", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	psd2, err := eidas.ParsePSD2(c.Leaf)
	if err != nil {
		psd2 = &eidas.PSD2{Roles: []eidas.Role{eidas.RolePSPAI}, NCAName: eidas.TestNCAName, NCAID: eidas.TestNCAID}
	}
	kp, err := ca.IssueQWAC(eidas.QWACRequest{CommonName: c.Leaf.Subject.CommonName + " (untrusted issuer)",
		Organization: "stetconform untrusted twin", Country: "FR", OrganizationIdentifier: c.OrganizationIdentifier(),
		PSD2: psd2, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	return &profile.Client{Name: c.Name + " from an untrusted issuer", ClientID: c.ClientID, RedirectURI: c.RedirectURI,
		TLSCert: kp.TLSCertificate(), Leaf: kp.Cert}, nil
}

// tlsProbe is the outcome of TLS handshakes with the token endpoint's host at a forced
// protocol version (MTLS-09).
type tlsProbe struct {
	modern, legacy error // TLS 1.2 and above; TLS 1.1 at most
	modernVersion  string
}

// probeTLSVersions makes two handshakes as c: one at TLS 1.2 or above (the bank must
// accept it, else the check proves nothing), one at TLS 1.1 at most (the bank must refuse).
func (w *World) probeTLSVersions(ctx context.Context, c *profile.Client) error {
	u, err := url.Parse(w.p.Endpoints.Token)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	handshake := func(min, max uint16) (string, error) {
		conf := w.p.TLSConfig(c)
		conf.MinVersion, conf.MaxVersion = min, max
		if max != 0 && max < tls.VersionTLS12 {
			// Offer every suite TLS 1.1 can use, the weak ones too: a bank that accepts
			// TLS 1.1 only with RSA key exchange must not look as if it refused TLS 1.1.
			for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
				conf.CipherSuites = append(conf.CipherSuites, cs.ID)
			}
		}
		conf.ServerName = u.Hostname()
		d := tls.Dialer{NetDialer: w.dialer(), Config: conf}
		ctx, cancel := context.WithTimeout(ctx, w.p.Timeouts.Connect)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return tls.VersionName(conn.(*tls.Conn).ConnectionState().Version), nil
	}
	w.tlsProbe.modernVersion, w.tlsProbe.modern = handshake(tls.VersionTLS12, 0)
	_, w.tlsProbe.legacy = handshake(tls.VersionTLS10, tls.VersionTLS11)
	return nil
}

func (w *World) tlsLegacyRefused() error {
	pr := w.tlsProbe
	if pr.modern != nil {
		return fmt.Errorf("expected a TLS 1.2+ handshake with the token endpoint to succeed first; it failed: %s", evidence.Describe(pr.modern))
	}
	if pr.legacy == nil {
		return fmt.Errorf("expected the bank to refuse a TLS 1.1 handshake (STET Part I section 3.2 requires TLS 1.2); it completed it (TLS 1.2+ gives %s)", pr.modernVersion)
	}
	var ne net.Error
	if errors.As(pr.legacy, &ne) && ne.Timeout() {
		return fmt.Errorf("expected the bank to refuse a TLS 1.1 handshake; it did not answer it: %s", evidence.Describe(pr.legacy))
	}
	if !versionRefused(pr.legacy) {
		// A handshake_failure, a reset or a closed connection may mean "no cipher suite in
		// common" (TLS 1.1 offered only with suites this TLS stack lacks, such as DHE): not
		// proof that the version itself is refused.
		return w.inconclusive("the TLS 1.1 handshake failed, but not with a protocol_version alert (RFC 5246 section 7.2.2) nor with the bank choosing a newer version: %s; the bank may accept TLS 1.1 with cipher suites the suite cannot offer", evidence.Describe(pr.legacy))
	}
	w.note("TLS 1.2+ negotiated %s; TLS 1.1 refused: %s", pr.modernVersion, evidence.Describe(pr.legacy))
	return nil
}

// versionRefused says whether a failed handshake proves that the server refused the
// protocol version: its protocol_version alert, or a ServerHello for a newer version than
// the client offered (which the client then aborts).
func versionRefused(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) && alert == 70 { // protocol_version
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "protocol version not supported") || strings.Contains(msg, "server selected unsupported protocol version")
}
