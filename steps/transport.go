package steps

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/evidence"
	"github.com/stetconform/stetconform/internal/profile"
)

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
	w.note("TLS 1.2+ negotiated %s; TLS 1.1 refused: %s", pr.modernVersion, evidence.Describe(pr.legacy))
	return nil
}

// getToken sends the code exchange as GET with its parameters in the query (TOKEN-14).
func (w *World) getToken(ctx context.Context, c *profile.Client) error {
	q := codeForm(w.code, c.RedirectURI, c.ClientID)
	req, err := http.NewRequest(http.MethodGet, w.p.Endpoints.Token+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	w.do(ctx, w.client(c), req)
	return nil
}

func (w *World) getRefused() error {
	a := w.last
	switch {
	case a.err != nil:
		return fmt.Errorf("expected HTTP 405 (or 400) to GET /token; %s", a)
	case a.str("access_token") != "" || a.status >= 200 && a.status < 300:
		return fmt.Errorf("expected the token endpoint to serve POST only (RFC 6749 section 3.2); it answered the GET with %s%s", a, tokenHint(a))
	case a.status == http.StatusMethodNotAllowed || a.status == http.StatusBadRequest:
		return nil
	case a.status >= 400 && a.status < 500:
		w.warn("the token endpoint refused the GET with HTTP %d; 405 Method Not Allowed says why", a.status)
		return nil
	default:
		return fmt.Errorf("expected HTTP 405 (or 400) to GET /token; %s", a)
	}
}
