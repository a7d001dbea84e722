package aspsp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// realm is the realm of the accounts resource's Bearer challenges.
const realm = "stet"

// accessTokenPrefix starts every access token the bank issues (fosite's HMAC strategy).
const accessTokenPrefix = "ory_at_"

// stetError is the STET error model (Part III ErrorModel): status and message required.
type stetError struct {
	Status    int    `json:"status"`
	Message   string `json:"message"`
	Error     string `json:"error,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
	Path      string `json:"path,omitempty"`
}

// account is a STET AccountResource, reduced to what a test needs.
type account struct {
	ResourceID      string            `json:"resourceId"`
	AccountID       map[string]string `json:"accountId"`
	Name            string            `json:"name"`
	Usage           string            `json:"usage"`
	CashAccountType string            `json:"cashAccountType"`
	Currency        string            `json:"currency"`
	PSUStatus       string            `json:"psuStatus"`
}

// echoRequestID sends back the X-Request-ID of a request (STET's correlation header),
// when it is of a sane length.
func echoRequestID(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 200 {
		w.Header().Set("X-Request-ID", id)
	}
}

// serveAccounts is GET /accounts: an AISP resource protected by a certificate-bound Bearer
// token (RFC 6750, RFC 8705 section 3).
func (b *Bank) serveAccounts(w http.ResponseWriter, r *http.Request) {
	echoRequestID(w, r)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		b.writeSTETError(w, r, http.StatusMethodNotAllowed, "", "The accounts resource accepts GET only.")
		return
	}
	if b.cfg.RequireSignature && !b.faults.has(FaultSignatureNotChecked) {
		if why := b.checkSignature(r); why != "" {
			b.writeSTETError(w, r, http.StatusUnauthorized, "", why)
			return
		}
	}
	tok, ok := b.bearerToken(r)
	if !ok && b.faults.has(FaultNoTokenNoChallenge) {
		b.writeSTETError(w, r, http.StatusUnauthorized, "", "An access token is required (Authorization: Bearer).")
		return
	}
	if !ok {
		b.challenge(w, r, http.StatusUnauthorized, "", "An access token is required (Authorization: Bearer).")
		return
	}
	if tok == "" {
		b.challenge(w, r, http.StatusBadRequest, "invalid_request", "The Authorization header carries an empty Bearer token.")
		return
	}
	if b.faults.has(FaultTokenUnknownAccepted) && !strings.HasPrefix(tok, accessTokenPrefix) {
		// Fail-open: a token in another format goes to a check that lets it through.
		b.writeAccounts(w, "unknown")
		return
	}
	ctx := r.Context()
	use, ar, err := b.oauth.IntrospectToken(ctx, tok, fosite.AccessToken, newSession(""), b.accountsScopes()...)
	switch {
	case err != nil && fosite.ErrorToRFC6749Error(err).ErrorField == "invalid_scope":
		b.challenge(w, r, http.StatusForbidden, "insufficient_scope", "The access token does not grant the scope aisp.")
		return
	case err != nil && b.accessTokenExpired(ctx, tok):
		if b.faults.has(FaultExpiredTokenNoInvalidToken) {
			b.challenge(w, r, http.StatusUnauthorized, "", "The access token expired.")
			return
		}
		b.challenge(w, r, http.StatusUnauthorized, "invalid_token", "The access token expired.")
		return
	case err != nil:
		b.challenge(w, r, http.StatusUnauthorized, "invalid_token", "The access token is unknown, revoked or malformed.")
		return
	case use != fosite.AccessToken:
		b.challenge(w, r, http.StatusUnauthorized, "invalid_token", "A refresh token is not an access token.")
		return
	}
	sess, _ := ar.GetSession().(*fosite.DefaultSession)
	var bound string
	if sess != nil {
		bound, _ = sess.Extra[thumbprintKey].(string)
	}
	// An empty binding only exists under no-client-cert-accepted (a token issued without a
	// certificate): it is left unbound so that fault breaks only the token endpoint.
	if bound != "" && !b.faults.has(FaultTokenNotBound) && thumbprint(firstCert(peerCerts(r))) != bound {
		b.challenge(w, r, http.StatusUnauthorized, "invalid_token", "The access token is bound to another client certificate.")
		return
	}
	if b.faults.has(FaultAccountsForbidden) {
		b.challenge(w, r, http.StatusForbidden, "insufficient_scope", "The access token does not grant access to the accounts.")
		return
	}
	psu := "psu"
	if sess != nil && sess.Subject != "" {
		psu = sess.Subject
	}
	b.writeAccounts(w, psu)
}

// writeAccounts answers 200 with the accounts of a PSU.
func (b *Bank) writeAccounts(w http.ResponseWriter, psu string) {
	body := map[string]any{"accounts": []account{{
		ResourceID:      "acc-" + psu + "-001",
		AccountID:       map[string]string{"iban": "FR7630006000011234567890189"},
		Name:            "Compte courant",
		Usage:           "PRIV",
		CashAccountType: "CACC",
		Currency:        "EUR",
		PSUStatus:       "Account Holder",
	}}}
	writeJSON(w, http.StatusOK, body)
}

// bearerToken returns the token of an "Authorization: Bearer" header; ok is false when the
// request carries no Bearer credentials. The scheme is case-insensitive (RFC 7235 2.1)
// except under scheme-case-sensitive. Tokens in the query or body are not accepted.
func (b *Bank) bearerToken(r *http.Request) (token string, ok bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(h, " ")
	if b.faults.has(FaultSchemeCaseSensitive) {
		if scheme != "Bearer" {
			return "", false
		}
	} else if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// accessTokenExpired reports whether tok is an issued access token whose lifetime is over
// (on the bank's clock or the real one).
func (b *Bank) accessTokenExpired(ctx context.Context, tok string) bool {
	req, err := b.store.GetAccessTokenSession(ctx, b.strategy.AccessTokenSignature(ctx, tok), nil)
	if err != nil || req.GetSession() == nil {
		return false
	}
	exp := req.GetSession().GetExpiresAt(fosite.AccessToken)
	return !exp.IsZero() && (b.now().After(exp) || time.Now().After(exp))
}

// challenge answers with a Bearer challenge (RFC 6750 section 3) and a STET error body.
// errCode "" gives a bare challenge, as for a request without credentials.
func (b *Bank) challenge(w http.ResponseWriter, r *http.Request, status int, errCode, message string) {
	if !b.faults.has(FaultNoWWWAuthenticate) {
		v := `Bearer realm="` + realm + `"`
		if errCode != "" {
			v += `, error="` + errCode + `", error_description="` + strings.ReplaceAll(message, `"`, "'") + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	b.writeSTETError(w, r, status, errCode, message)
}

func (b *Bank) writeSTETError(w http.ResponseWriter, r *http.Request, status int, errCode, message string) {
	if b.faults.has(FaultErrorsNotSTET) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status)+": "+message+"\n")
		return
	}
	writeJSON(w, status, stetError{
		Status:    status,
		Message:   message,
		Error:     errCode,
		Timestamp: b.now().UTC().Format(time.RFC3339),
		Path:      r.URL.Path,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	js, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"status":500,"message":"encoding the response failed"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(js, '\n'))
}
