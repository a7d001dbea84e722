package profile

import (
	"crypto/tls"
	"encoding/asn1"
	"fmt"
)

// Client names, the keys under clients:.
const (
	ClientPrimary         = "primary"
	ClientSecond          = "second"
	ClientWithoutAISPRole = "without_aisp_role"
	ClientExpired         = "expired"
	// ClientWithoutCBPIIRole is a TPP whose QWAC lacks PSP_IC.
	ClientWithoutCBPIIRole = "without_cbpii_role"
)

type clientSlot struct {
	name   string
	client *Client
}

func (p *Profile) clientSlots() []clientSlot {
	return []clientSlot{
		{ClientPrimary, p.Clients.Primary},
		{ClientSecond, p.Clients.Second},
		{ClientWithoutAISPRole, p.Clients.WithoutAISPRole},
		{ClientExpired, p.Clients.Expired},
		{ClientWithoutCBPIIRole, p.Clients.WithoutCBPIIRole},
	}
}

// ClientByName returns the client under clients.<name> ("primary", "second",
// "without_aisp_role", "expired"), or nil when the profile has none.
func (p *Profile) ClientByName(name string) *Client {
	for _, s := range p.clientSlots() {
		if s.name == name {
			return s.client
		}
	}
	return nil
}

// Describe names the client for people: "primary (PSDFR-ACPR-12345)".
func (c *Client) Describe() string {
	switch {
	case c == nil:
		return "no client"
	case c.Name == "":
		return c.ClientID
	case c.ClientID == "":
		return c.Name
	}
	return fmt.Sprintf("%s (%s)", c.Name, c.ClientID)
}

// oidOrganizationIdentifier is X.520 organizationIdentifier, which holds a QWAC's PSD2
// authorisation number (ETSI TS 119 495).
var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// OrganizationIdentifier is the organizationIdentifier (OID 2.5.4.97) of the client's
// certificate subject, "" when absent or when no certificate is loaded. It is not checked
// against ClientID here: that is a check of its own.
func (c *Client) OrganizationIdentifier() string {
	if c == nil || c.Leaf == nil {
		return ""
	}
	for _, atv := range c.Leaf.Subject.Names {
		if atv.Type.Equal(oidOrganizationIdentifier) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// TLSConfig is the client TLS configuration for talking to the bank as client c (nil: no
// client certificate): the profile's trust anchors (nil RootCAs: system roots) and minimum
// version, and InsecureSkipVerify only when the profile asks for it.
func (p *Profile) TLSConfig(c *Client) *tls.Config {
	cfg := &tls.Config{
		RootCAs:            p.RootCAs,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: p.TLS.InsecureSkipVerify, // only when the bank's profile says so; reported loudly
		// Some bank front ends (IIS among them) ask for the client certificate by a TLS 1.2
		// renegotiation once the request's path is known.
		Renegotiation: tls.RenegotiateOnceAsClient,
		// Classic key exchange groups only, not Go's default hybrid X25519MLKEM768: its
		// key share makes the ClientHello over 1 KB, which some older TLS front ends and
		// middleboxes mishandle, and STET asks for nothing post-quantum. It also costs each
		// handshake an ML-KEM key generation (BenchmarkEmbeddedRun: about 5 % of a run's CPU).
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
	}
	if p.TLS.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	if c != nil && len(c.TLSCert.Certificate) > 0 {
		cert := c.TLSCert
		cfg.Certificates = []tls.Certificate{cert}
		// Present the certificate even when the bank's CertificateRequest names other CAs
		// (crypto/tls would then send none): the suite must show what the bank does with
		// the certificate it is given, expired or foreign ones included.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	}
	return cfg
}
