package steps

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/stetconform/stetconform/internal/httpsig"
	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/report"
	"github.com/stetconform/stetconform/internal/state"
)

// registration is a client the scenario created through the bank's register API.
type registration struct {
	registrant *profile.Client // the TPP that registered it (register.client)
	clientID   string
	token      string // registration access token (RFC 7592)
	uri        string // registration client URI
	redirect   string // the redirect URI registered
	// kept is the state file's record of a registration an earlier run made (register.
	// effective: later); nil: made by this scenario.
	kept *state.Registration
	// workedAtToken: the client_id was a client at the token endpoint before the
	// deletion; deleted: the scenario deleted it (no housekeeping left).
	workedAtToken, deleted bool
}

// registrations holds each scenario's registration: World is not this file's to extend.
var registrations sync.Map // *World -> *registration

func (w *World) registration() *registration {
	r, _ := registrations.Load(w)
	reg, _ := r.(*registration)
	return reg
}

// registerRegistration gives the sentences of registration.feature their code.
func (w *World) registerRegistration(sc sentences) {
	sc.Before(w.beforeRegistration) // not applicable without a register API
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if r := w.registration(); r != nil && r.kept != nil && w.result().Verdict == report.Inconclusive {
			// Not in force yet, it seems: a still later run tries it again.
			registrations.Delete(w)
			w.env.State.KeepRegistration(*r.kept)
			return ctx, nil
		}
		w.deleteRegistration(ctx)
		return ctx, nil
	})
	sc.Step(`^the registering TPP has registered a client through the register API$`, w.hasRegistered)
	sc.Step(`^the registering TPP has a client registered through the register API and in force at the bank$`, w.hasRegistrationInForce)
	sc.Step(`^the registered client's configuration is read (without a client certificate|without the registration access token)$`, func(ctx context.Context, how string) error {
		r := w.registration()
		if how == "without a client certificate" {
			w.manageRegistration(ctx, r, nil, r.token)
		} else {
			w.manageRegistration(ctx, r, r.registrant, "")
		}
		return nil
	})
	sc.Step(`^the register API refuses the request$`, w.registerRefused)
	sc.Step(`^the same request with the registering TPP's QWAC and the registration access token is served$`, w.registerControl)
	sc.Step(`^the PSU goes through the authorization request of the registered client with another redirect_uri$`, func(ctx context.Context) error {
		r := w.registration()
		// The positive control is the registered client with its registered redirect URI:
		// a bank that does not know the client at all refuses both, which proves nothing.
		return w.psuGoesThroughAs(ctx, r.clientID, r.redirect, r.clientID, otherRedirect(r.redirect), "code", otherRedirect(r.redirect))
	})
	sc.Step(`^the PSU's browser is never sent to that other redirect_uri$`, func() error {
		return w.neverSentTo(otherRedirect(w.registration().redirect))
	})
	sc.Step(`^the second TPP presents the registered client_id at the token endpoint$`, func(ctx context.Context) error {
		r := w.registration()
		w.postToken(ctx, w.named("second"), unknownCodeForm(r))
		return nil
	})
	sc.Step(`^the bank does not authenticate the second TPP as that client$`, w.registeredClientRefused)
	sc.Step(`^the registering TPP replaces the client's redirect URIs through the register API$`, w.updateRegistration)
	sc.Step(`^the register API serves the client's configuration with the new redirect URIs$`, w.updateServed)
	sc.Step(`^the registering TPP deletes the client through the register API$`, w.deleteRegistered)
	sc.Step(`^the deleted client's configuration is no longer served$`, w.deletedNotServed)
	sc.Step(`^the deleted client_id no longer works at the token endpoint$`, w.deletedRefusedAtToken)
	sc.Step(`^the registering TPP's same request is refused for the code only$`, w.registeredClientAccepted)
}

// beforeRegistration makes the @option:register scenarios not applicable to a bank that
// declares no register API, and skips them where the suite cannot run them yet.
func (w *World) beforeRegistration(ctx context.Context, sc *godog.Scenario) (context.Context, error) {
	if !hasTag(sc, "@option:register") {
		return ctx, nil
	}
	switch r := w.p.Register; {
	case r == nil:
		w.na = "the bank profile declares no register API (register:)"
	case w.registrant() == nil:
		w.skip = fmt.Sprintf("the bank profile has no clients.%s, the client register.client names", r.Client)
	}
	if w.na != "" || w.skip != "" {
		return ctx, godog.ErrSkip
	}
	return ctx, nil
}

func hasTag(sc *godog.Scenario, tag string) bool {
	for _, t := range sc.Tags {
		if t.Name == tag {
			return true
		}
	}
	return false
}

// registrant is the client that registers (register.client).
func (w *World) registrant() *profile.Client {
	if w.p.Register == nil {
		return nil
	}
	return w.named(w.p.Register.Client)
}

// otherRedirect is a redirect URI the registration does not hold: the registered one with
// a path segment added.
func otherRedirect(registered string) string {
	return strings.TrimSuffix(registered, "/") + "/not-registered"
}

// registerSigner signs register API requests with c's QSealC, whether or not the bank
// declares signing for its resources: BPCE's register API wants them signed.
func (w *World) registerSigner(c *profile.Client) *httpsig.Signer {
	if s := w.p.Signer(c); s != nil {
		return s
	}
	if c == nil || c.QSealC == nil {
		return nil
	}
	key, ok := c.QSealC.Cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil
	}
	alg := httpsig.RSASHA256
	if _, ec := key.Public().(*ecdsa.PublicKey); ec {
		alg = httpsig.ECDSASHA256
	}
	return &httpsig.Signer{KeyID: c.QSealC.KeyID, Key: key, Algorithm: alg}
}

// registerRequest sends a register API request over cert's QWAC (nil: none), signed with
// seal's QSealC (nil: unsigned), with the registration access token when not empty.
func (w *World) registerRequest(ctx context.Context, method, rawURL string, cert, seal *profile.Client, token string, body []byte) *answer {
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		return &answer{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Request-ID", newUUID())
	if s := w.registerSigner(seal); s != nil {
		if err := s.Sign(req, body); err != nil {
			return &answer{err: err}
		}
	}
	return w.do(ctx, w.client(cert), req)
}

// hasRegistered is the precondition: the registering TPP creates a client with its
// redirect URI (RFC 7591 section 3.1, tls_client_auth).
func (w *World) hasRegistered(ctx context.Context) error {
	c := w.registrant()
	scopes := make([]string, 0, 2)
	if w.p.HasRole(profile.RoleAISP) {
		scopes = append(scopes, w.p.Scopes.AISP)
	}
	if w.p.HasRole(profile.RoleCBPII) {
		scopes = append(scopes, w.p.Scopes.CBPII)
	}
	body, _ := json.Marshal(map[string]any{
		"redirect_uris":              []string{c.RedirectURI},
		"token_endpoint_auth_method": "tls_client_auth",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      strings.Join(scopes, " "),
		"client_name":                "stetconform " + c.Name + " " + time.Now().UTC().Format("20060102T150405Z"),
	})
	bootstrap, err := w.initialAccessToken(ctx, c)
	if err != nil {
		return err
	}
	a := w.registerRequest(ctx, http.MethodPost, w.p.Register.URL, c, c, bootstrap, body)
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || (a.status != http.StatusCreated && a.status != http.StatusOK) || a.str("client_id") == "" || a.str("registration_access_token") == "" {
		return fmt.Errorf("expected HTTP 201 with a client_id and a registration_access_token (RFC 7591 section 3.2.1) for %s's registration; %s", c.Describe(), a)
	}
	r := &registration{registrant: c, clientID: a.str("client_id"), token: a.str("registration_access_token"),
		uri: a.str("registration_client_uri"), redirect: c.RedirectURI}
	if r.uri == "" {
		r.uri = strings.TrimSuffix(w.p.Register.URL, "/") + "/" + url.PathEscape(r.clientID)
		w.note("the registration answer has no registration_client_uri (RFC 7592 section 3); the suite uses %s", r.uri)
	}
	registrations.Store(w, r)
	w.note("registered client %s for %s", r.clientID, c.Describe())
	return nil
}

// hasRegistrationInForce is the precondition of the checks that need the registered
// client in force at /authorize and /token. Where the bank puts registrations in force at
// once, the scenario registers one. Where it does so later, the scenario takes the one an
// earlier run kept for this check; without one, it registers a client, keeps it in the
// state file and is skipped: the first run after the bank puts it in force checks it.
func (w *World) hasRegistrationInForce(ctx context.Context) error {
	if w.p.Register.Effective != profile.EffectiveLater {
		return w.hasRegistered(ctx)
	}
	st, c := w.env.State, w.registrant()
	if st == nil {
		return w.skipBecause("register.effective is later: a client registered now is not in force before a later run; run with a state file (--state) to carry one over")
	}
	check := strings.Join(w.res.Requirements, " ")
	if kept, ok := st.TakeRegistration(w.p.Register.URL, c.ClientID, check); ok {
		w.env.Redactor.Add(kept.Token)
		registrations.Store(w, &registration{registrant: c, clientID: kept.ClientID, token: kept.Token, uri: kept.URI, redirect: kept.RedirectURI, kept: &kept})
		w.note("checked with client %s, registered by run %s at %s (register.effective: later)", kept.ClientID, kept.KeptByRun, kept.RegisteredAt.Format(time.RFC3339))
		return nil
	}
	if err := w.hasRegistered(ctx); err != nil {
		return err
	}
	r := w.registration()
	registrations.Delete(w) // kept, not deleted at the scenario's end
	st.KeepRegistration(state.Registration{Register: w.p.Register.URL, Registrant: c.ClientID, For: check, ClientID: r.clientID,
		Token: r.token, URI: r.uri, RedirectURI: r.redirect, RegisteredAt: time.Now(), KeptByRun: w.env.RunID})
	return w.skipBecause("register.effective is later: client %s, registered now, is kept in the state file (%s); the first run after the bank puts it in force checks this with it", r.clientID, st.Path())
}

// initialAccessToken obtains the token a bank that declares register.scope wants on a
// registration (RFC 7591 section 3; BPCE: a client credentials grant over the TPP's QWAC);
// "" without register.scope. Without one, the checks that register cannot be made.
func (w *World) initialAccessToken(ctx context.Context, c *profile.Client) (string, error) {
	scope := w.p.Register.Scope
	if scope == "" {
		return "", nil
	}
	a := w.postToken(ctx, c, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "client_id": {c.ClientID}})
	if err := w.notAnAnswer(a); err != nil {
		return "", err
	}
	if a.err != nil || a.status != http.StatusOK || a.str("access_token") == "" {
		return "", w.inconclusive("no initial access token for the register API: the client credentials grant for register.scope %q got %s, so nothing can be registered to check", scope, a)
	}
	return a.str("access_token"), nil
}

// manageRegistration reads the registered client's configuration (RFC 7592 section 2.1)
// over cert's QWAC (nil: none; then unsigned) with token ("" : none).
func (w *World) manageRegistration(ctx context.Context, r *registration, cert *profile.Client, token string) *answer {
	return w.registerRequest(ctx, http.MethodGet, r.uri, cert, cert, token, nil)
}

// registerRefused is REG-03's refusal: a TLS refusal, or 401/403.
func (w *World) registerRefused() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	switch {
	case a.err != nil && a.status == 0 && isTLSRefusal(a.err):
		w.note("the bank refused the request without an HTTP answer: %s", a)
		return nil
	case a.err != nil && a.status == 0:
		return w.inconclusive("the register API did not answer (%s): a timeout or a lost connection is no refusal", a)
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return nil
	}
	return fmt.Errorf("expected the register API to refuse the request (HTTP 401 or 403, or a refused TLS handshake): it needs the TPP's QWAC and the registration access token (RFC 7592 section 2); %s", a)
}

// registerControl is REG-03's positive control: with both, the configuration is served.
func (w *World) registerControl(ctx context.Context) error {
	refused := w.last
	r := w.registration()
	a := w.manageRegistration(ctx, r, r.registrant, r.token)
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK {
		return w.inconclusive("positive control failed: the configuration of %s is not served to its registrant with the registration access token either (%s), so the refusal (%s) proves nothing", r.clientID, a, refused)
	}
	if id := a.str("client_id"); id != "" && id != r.clientID {
		return fmt.Errorf("expected the configuration of %s (RFC 7592 section 3); the answer names client_id %q", r.clientID, id)
	}
	w.note("positive control: the registrant's QWAC with the registration access token reads the configuration")
	return nil
}

// unknownCodeForm is a code exchange of the registered client with a code the bank never
// issued: the client authentication decides the answer before the code does.
func unknownCodeForm(r *registration) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {"unknown-" + newUUID()},
		"redirect_uri": {r.redirect}, "client_id": {r.clientID}}
}

// registeredClientRefused is REG-02's binding: another TPP's QWAC is not the registered
// client's, however valid.
func (w *World) registeredClientRefused() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	switch e := a.str("error"); {
	case a.err != nil && a.status == 0 && isTLSRefusal(a.err):
		w.note("the bank refused the second TPP without an HTTP answer: %s", a)
		return nil
	case a.err != nil && a.status == 0:
		return w.inconclusive("the token endpoint did not answer the second TPP (%s): a timeout or a lost connection is no refusal", a)
	case e == "invalid_client" || e == "unauthorized_client":
		return nil
	case a.status == http.StatusUnauthorized:
		// A client refused, in other words than RFC 6749's (TOKEN-13 checks the words).
		w.warn("the bank refused the second TPP with HTTP 401 but error %q, not invalid_client (RFC 6749 section 5.2)", e)
		return nil
	}
	return fmt.Errorf("expected the bank to refuse the second TPP's QWAC for client_id %s (invalid_client: the client stays bound to its registrant's organizationIdentifier, STET's indirect matching); %s", w.registration().clientID, a)
}

// registeredClientAccepted is REG-02's other half: over its registrant's QWAC the
// registered client_id is authenticated, so the request is refused for something else (the
// unknown code: 400 invalid_grant), never as a client (401, invalid_client, a TLS refusal).
func (w *World) registeredClientAccepted(ctx context.Context) error {
	r := w.registration()
	a := w.postToken(ctx, r.registrant, unknownCodeForm(r))
	if err := w.notARefusal(a); err != nil {
		return err
	}
	e := a.str("error")
	switch {
	case (a.err != nil || a.status == http.StatusUnauthorized || e == "invalid_client" || e == "unauthorized_client") && r.kept != nil:
		return w.inconclusive("the client %s registered by run %s is not accepted at the token endpoint over %s's QWAC (%s): the bank may not have put the registration in force yet (register.effective: later); it is kept for a later run",
			r.clientID, r.kept.KeptByRun, r.registrant.Describe(), a)
	case a.err != nil || a.status == http.StatusUnauthorized || e == "invalid_client" || e == "unauthorized_client":
		return fmt.Errorf("expected the registered client_id %s to be accepted at the token endpoint over %s's QWAC (the unknown code refused with invalid_grant); the client was refused: %s", r.clientID, r.registrant.Describe(), a)
	case a.status == http.StatusBadRequest && e == "invalid_grant":
		return nil
	case a.status == http.StatusBadRequest:
		w.note("the registrant's request was refused with HTTP 400 error %q, not as a client: the client_id was accepted", e)
		return nil
	}
	return w.inconclusive("the registrant's request with an unknown code got %s: that says nothing of its client_id", a)
}

// updatedRedirect is the redirect URI an update adds: the registered one with a path
// segment, an https URI the TPP could own as well.
func updatedRedirect(registered string) string {
	return strings.TrimSuffix(registered, "/") + "/updated"
}

// updateRegistration replaces the client's metadata (RFC 7592 section 2.2): the same, with
// a second redirect URI.
func (w *World) updateRegistration(ctx context.Context) error {
	r := w.registration()
	body, _ := json.Marshal(map[string]any{
		"client_id":                  r.clientID,
		"redirect_uris":              []string{r.redirect, updatedRedirect(r.redirect)},
		"token_endpoint_auth_method": "tls_client_auth",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
	})
	w.registerRequest(ctx, http.MethodPut, r.uri, r.registrant, r.registrant, r.token, body)
	return nil
}

// redirectURIsOf reads redirect_uris from a client configuration answer.
func redirectURIsOf(a *answer) []string {
	var uris []string
	list, _ := a.fields["redirect_uris"].([]any)
	for _, u := range list {
		if s, ok := u.(string); ok {
			uris = append(uris, s)
		}
	}
	return uris
}

// updateServed is REG-04's update: the PUT is answered 200 with the new configuration, and
// a later read of the configuration has the new redirect URI.
func (w *World) updateServed(ctx context.Context) error {
	a, r := w.last, w.registration()
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	want := updatedRedirect(r.redirect)
	if a.err != nil || a.status != http.StatusOK {
		return fmt.Errorf("expected HTTP 200 with the client's new configuration to the update of %s by its registrant (RFC 7592 section 2.2); %s", r.clientID, a)
	}
	read := w.manageRegistration(ctx, r, r.registrant, r.token)
	if err := w.notAnAnswer(read); err != nil {
		return err
	}
	if read.err != nil || read.status != http.StatusOK {
		return w.inconclusive("the configuration of %s could not be read back after the update (%s): the update cannot be seen", r.clientID, read)
	}
	if uris := redirectURIsOf(read); !slices.Contains(uris, want) {
		return fmt.Errorf("expected the configuration of %s read after the update to list the new redirect URI %s (RFC 7592 section 2.2); it lists %v", r.clientID, want, uris)
	}
	return nil
}

// deleteRegistered deletes the client (RFC 7592 section 2.3), having seen first that its
// configuration and its client_id work: the positive controls of what follows.
func (w *World) deleteRegistered(ctx context.Context) error {
	r := w.registration()
	if before := w.manageRegistration(ctx, r, r.registrant, r.token); before.err != nil || before.status != http.StatusOK {
		return w.inconclusive("positive control failed: the configuration of %s is not served to its registrant before the deletion either (%s)", r.clientID, before)
	}
	r.workedAtToken = w.p.Register.Effective != profile.EffectiveLater && w.registrantAccepted(ctx, r)
	a := w.registerRequest(ctx, http.MethodDelete, r.uri, r.registrant, r.registrant, r.token, nil)
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || (a.status != http.StatusNoContent && a.status != http.StatusOK) {
		return fmt.Errorf("expected HTTP 204 to the deletion of %s by its registrant (RFC 7592 section 2.3); %s", r.clientID, a)
	}
	if a.status == http.StatusOK {
		w.warn("the deletion was answered 200, not 204 No Content (RFC 7592 section 2.3)")
	}
	r.deleted = true
	return nil
}

// deletedNotServed is REG-04's deletion: the deleted client's configuration is refused,
// 401 by RFC 7592 section 2.3 (403 or 404 with a warning), where it was served before.
func (w *World) deletedNotServed(ctx context.Context) error {
	r := w.registration()
	a := w.manageRegistration(ctx, r, r.registrant, r.token)
	if err := w.notARefusal(a); err != nil {
		return err
	}
	switch {
	case a.status == http.StatusUnauthorized:
		return nil
	case a.status == http.StatusForbidden || a.status == http.StatusNotFound:
		w.warn("the deleted client's configuration was refused with HTTP %d; RFC 7592 section 2.3 answers 401 for a client that no longer exists", a.status)
		return nil
	}
	return fmt.Errorf("expected the configuration of the deleted client %s to be refused (HTTP 401, RFC 7592 section 2.3), as it was served before the deletion; %s", r.clientID, a)
}

// deletedRefusedAtToken: the deleted client_id, over its registrant's QWAC, is no longer a
// client at the token endpoint, where it was one before the deletion.
func (w *World) deletedRefusedAtToken(ctx context.Context) error {
	r := w.registration()
	if !r.workedAtToken {
		if w.p.Register.Effective == profile.EffectiveLater {
			w.note("register.effective is later: the client was never in force at the token endpoint, so its deletion there is not checked")
			return nil
		}
		return w.inconclusive("positive control failed: the client %s was not accepted at the token endpoint before its deletion either, so a refusal after it proves nothing", r.clientID)
	}
	a := w.postToken(ctx, r.registrant, unknownCodeForm(r))
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if e := a.str("error"); a.status == http.StatusUnauthorized || e == "invalid_client" || e == "unauthorized_client" || (a.err != nil && a.status == 0 && isTLSRefusal(a.err)) {
		return nil
	}
	if a.err != nil && a.status == 0 {
		return w.inconclusive("the token endpoint did not answer (%s): a timeout or a lost connection is no refusal", a)
	}
	return fmt.Errorf("expected the deleted client_id %s to be refused as a client at the token endpoint (invalid_client), as the deletion ends it (RFC 7592 section 2.3); before the deletion the same request was refused for its code only; now: %s", r.clientID, a)
}

// registrantAccepted says whether the registered client_id is a client at the token
// endpoint over its registrant's QWAC: a code the bank never issued is refused for the
// code (400 invalid_grant), not as a client.
func (w *World) registrantAccepted(ctx context.Context, r *registration) bool {
	a := w.postToken(ctx, r.registrant, unknownCodeForm(r))
	return a.err == nil && a.status == http.StatusBadRequest && a.str("error") == "invalid_grant"
}

// deleteRegistration removes the scenario's client (RFC 7592 section 2.3), off the record:
// it is housekeeping, not a check.
func (w *World) deleteRegistration(ctx context.Context) {
	r := w.registration()
	registrations.Delete(w)
	if r == nil || r.deleted {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, r.uri, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("X-Request-ID", newUUID())
	if s := w.registerSigner(r.registrant); s != nil && s.Sign(req, nil) != nil {
		return
	}
	hc := &http.Client{Timeout: w.timeout(), Transport: &http.Transport{TLSClientConfig: w.p.TLSConfig(r.registrant)}}
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
	}
	hc.CloseIdleConnections()
}
