package aspsp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strings"

	"github.com/ory/fosite"

	"github.com/stetconform/stetconform/internal/eidas"
)

// The CBPII role (card-based payment instrument issuer, STET "funds confirmation"): the
// cbpii scope, granted to certificates with the PSD2 role PSP_IC only, and never in the
// same grant as the AISP scopes (Airlock's STET scope filter; the seeds' S18).

// PathFundsConfirmations is the CBPII resource: POST a payment coverage request.
const PathFundsConfirmations = "/stet/psd2/v1.4.2/funds-confirmations"

// CBPII scopes: cbpii since STET 1.4.2, piisp before (1.4.0.x).
const (
	ScopeCBPII = "cbpii"
	ScopePIISP = "piisp"
)

// The PSU's account the funds-confirmation resource knows, and its available balance.
const (
	psuIBAN        = "FR7630006000011234567890189"
	psuBalance     = "1500.00"
	psuCurrency    = "EUR"
	maxCoverageID  = 35
	fundsBodyLimit = 16 << 10
)

// CBPIIConfig configures the CBPII role.
type CBPIIConfig struct {
	// AcceptPIISP accepts piisp, the scope's name before STET 1.4.2, as a cbpii scope
	// (granted to PSP_IC certificates as cbpii is). Without it piisp is an unknown scope.
	AcceptPIISP bool
	// Off makes a bank that offers the AISP role only: cbpii (and piisp) are unknown
	// scopes, and its profile declares roles [aisp].
	Off bool
}

// isAISPScope reports whether s is one of the AISP role's scopes.
func isAISPScope(s string) bool { return s == ScopeAISP || s == ScopeExtendedTransactionHistory }

// isCBPIIScope reports whether s is the CBPII role's scope as this bank names it.
func (b *Bank) isCBPIIScope(s string) bool {
	return !b.cfg.CBPII.Off && (s == ScopeCBPII || (s == ScopePIISP && b.cfg.CBPII.AcceptPIISP))
}

// grantable reports whether the PSU's consent can grant s.
func (b *Bank) grantable(s string) bool { return isAISPScope(s) || b.isCBPIIScope(s) }

// clientScopes are the scopes every client may ask for (fosite refuses others with
// invalid_scope at /authorize).
func (b *Bank) clientScopes() []string {
	s := []string{ScopeAISP, ScopeExtendedTransactionHistory}
	if !b.cfg.CBPII.Off {
		s = append(s, ScopeCBPII)
	}
	if b.cfg.CBPII.AcceptPIISP && !b.cfg.CBPII.Off {
		s = append(s, ScopePIISP)
	}
	return s
}

// roleFamilies says which roles' scopes a list holds.
func (b *Bank) roleFamilies(scopes []string) (aisp, cbpii bool) {
	for _, s := range scopes {
		aisp = aisp || isAISPScope(s)
		cbpii = cbpii || b.isCBPIIScope(s)
	}
	return aisp, cbpii
}

// checkRoleMix refuses an authorization request that asks for AISP and CBPII rights at
// once (AUTHZ-10): invalid_scope, sent to the callback at the first hop, before the PSU
// is asked to authenticate for a grant the bank would never give. nil under
// aisp-cbpii-combined.
func (b *Bank) checkRoleMix(scopes []string) error {
	if aisp, cbpii := b.roleFamilies(scopes); aisp && cbpii && !b.faults.has(FaultAISPCBPIICombined) && !b.faults.has(FaultAISPCBPIICombinedSilently) {
		return fosite.ErrInvalidScope.WithHint("AISP and CBPII scopes cannot be granted together: ask for each role in its own authorization request.")
	}
	return nil
}

// roleMissing says why a certificate cannot hold scopes (nil when it can): the AISP scopes
// need PSP_AI, the CBPII scope PSP_IC (ETSI TS 119 495; S18's role-to-scope mapping).
func (b *Bank) roleMissing(leaf *x509.Certificate, clientID string, scopes []string) error {
	if leaf == nil {
		return nil // only under no-client-cert-accepted: there is no role to check
	}
	aisp, cbpii := b.roleFamilies(scopes)
	aispChecked := !b.faults.has(FaultRoleNotChecked) && !b.faults.has(FaultRoleNotCheckedRedirect)
	if aisp && aispChecked && !eidas.HasRole(leaf, eidas.RolePSPAI) {
		return fosite.ErrUnauthorizedClient.WithHintf(
			"The certificate of %s does not carry the PSD2 role PSP_AI needed for AISP scopes.", clientID)
	}
	if cbpii && !b.faults.has(FaultCBPIIRoleNotChecked) && !eidas.HasRole(leaf, eidas.RolePSPIC) {
		return fosite.ErrUnauthorizedClient.WithHintf(
			"The certificate of %s does not carry the PSD2 role PSP_IC needed for the CBPII scope.", clientID)
	}
	return nil
}

// refreshMayAdd reports whether a refresh may add sc, which the grant lacks: never,
// except under refresh-widens-scope (any scope) and refresh-adds-other-role (the other
// role's scope: cbpii on an AISP grant, aisp on a CBPII grant).
func (b *Bank) refreshMayAdd(granted fosite.Arguments, sc string) bool {
	if b.faults.has(FaultRefreshWidensScope) {
		return true
	}
	if !b.faults.has(FaultRefreshAddsOtherRole) {
		return false
	}
	aisp, cbpii := b.roleFamilies(granted)
	return (aisp && b.isCBPIIScope(sc)) || (cbpii && isAISPScope(sc))
}

// coverageRequest is STET's PaymentCoverageRequestResource.
type coverageRequest struct {
	PaymentCoverageRequestID string            `json:"paymentCoverageRequestId"`
	Payee                    string            `json:"payee,omitempty"`
	InstructedAmount         coverageAmount    `json:"instructedAmount"`
	AccountID                map[string]string `json:"accountId"`
}

// coverageAmount is STET's AmountType: an ISO 4217 currency and a decimal string.
type coverageAmount struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

var (
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	amountPattern   = regexp.MustCompile(`^-?[0-9]{1,13}(\.[0-9]{0,5})?$`)
)

// serveFundsConfirmations is POST /funds-confirmations (STET 1.4.2 CBPII): a payment
// coverage request, answered with STET's PaymentCoverageReportResource {request, result,
// _links}. It is protected as the accounts resource is: signed requests where the bank
// requires them, a certificate-bound Bearer token, and the token must grant cbpii.
func (b *Bank) serveFundsConfirmations(w http.ResponseWriter, r *http.Request) {
	echoRequestID(w, r)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		b.writeSTETError(w, r, http.StatusMethodNotAllowed, "", "The funds-confirmations resource accepts POST only.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, fundsBodyLimit+1))
	if err != nil || len(body) > fundsBodyLimit {
		b.writeSTETError(w, r, http.StatusBadRequest, "", "The request body cannot be read, or is larger than 16 KiB.")
		return
	}
	if b.cfg.RequireSignature && !b.faults.has(FaultSignatureNotChecked) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if why := b.checkSignature(r); why != "" {
			b.writeSTETError(w, r, http.StatusUnauthorized, "", why)
			return
		}
	}
	if b.faults.has(FaultFundsExpiredTokenAccepted) {
		r = r.WithContext(context.WithValue(r.Context(), acceptExpiredAccess{}, true))
	}
	_, ok := b.bearerSession(w, r, func(granted fosite.Arguments) bool {
		_, cbpii := b.roleFamilies(granted)
		return cbpii || b.faults.has(FaultFundsAnyScope)
	}, ScopeCBPII)
	if !ok {
		return
	}
	var req coverageRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		b.writeSTETError(w, r, http.StatusBadRequest, "", "The body is not a STET PaymentCoverageRequestResource: "+err.Error()+".")
		return
	}
	if why := req.invalid(); why != "" {
		b.writeSTETError(w, r, http.StatusBadRequest, "", why)
		return
	}
	if !strings.EqualFold(req.AccountID["iban"], psuIBAN) {
		b.writeSTETError(w, r, http.StatusForbidden, "", "The account is not one the PSU gave access to.")
		return
	}
	result := req.InstructedAmount.Currency == psuCurrency && req.covered()
	var res any = result
	if b.faults.has(FaultFundsResultString) {
		res = fmt.Sprint(result)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"request": req,
		"result":  res,
		"_links":  map[string]any{"self": map[string]any{"href": PathFundsConfirmations}},
	})
}

// invalid says why a coverage request breaks STET's schema ("" when it does not).
func (c coverageRequest) invalid() string {
	switch {
	case c.PaymentCoverageRequestID == "" || len(c.PaymentCoverageRequestID) > maxCoverageID:
		return fmt.Sprintf("paymentCoverageRequestId is required, at most %d characters.", maxCoverageID)
	case !currencyPattern.MatchString(c.InstructedAmount.Currency):
		return "instructedAmount.currency must be an ISO 4217 code such as EUR."
	case !amountPattern.MatchString(c.InstructedAmount.Amount):
		return `instructedAmount.amount must be a decimal string such as "12.25".`
	case c.AccountID["iban"] == "":
		return "accountId.iban is required."
	}
	return ""
}

// covered reports whether the PSU's balance covers the amount.
func (c coverageRequest) covered() bool {
	amount, ok1 := new(big.Rat).SetString(c.InstructedAmount.Amount)
	balance, ok2 := new(big.Rat).SetString(psuBalance)
	return ok1 && ok2 && amount.Cmp(balance) <= 0
}

// bearerSession checks a resource request's Bearer token as the accounts resource does
// (RFC 6750, RFC 8705 section 3) and that its scope is one the resource accepts (else
// 403 insufficient_scope with the scope needed: RFC 6750 section 3.1 — the token is
// valid, its privileges are not enough). It answers the refusal itself; ok is false then.
func (b *Bank) bearerSession(w http.ResponseWriter, r *http.Request, accept func(fosite.Arguments) bool, need string) (*fosite.DefaultSession, bool) {
	tok, ok := b.bearerToken(r)
	if !ok {
		b.challenge(w, r, http.StatusUnauthorized, "", "An access token is required (Authorization: Bearer).")
		return nil, false
	}
	if tok == "" {
		b.challenge(w, r, http.StatusBadRequest, "invalid_request", "The Authorization header carries an empty Bearer token.")
		return nil, false
	}
	ctx := r.Context()
	use, ar, err := b.oauth.IntrospectToken(ctx, tok, fosite.AccessToken, newSession(""))
	switch {
	case err != nil && b.accessTokenExpired(ctx, tok):
		errCode := "invalid_token"
		if b.faults.has(FaultExpiredTokenNoInvalidToken) {
			errCode = ""
		}
		b.challenge(w, r, http.StatusUnauthorized, errCode, "The access token expired.")
		return nil, false
	case err != nil:
		b.challenge(w, r, http.StatusUnauthorized, "invalid_token", "The access token is unknown, revoked or malformed.")
		return nil, false
	case use != fosite.AccessToken:
		b.challenge(w, r, http.StatusUnauthorized, "invalid_token", "A refresh token is not an access token.")
		return nil, false
	}
	sess, _ := ar.GetSession().(*fosite.DefaultSession)
	var bound string
	if sess != nil {
		bound, _ = sess.Extra[thumbprintKey].(string)
	}
	if bound != "" && !b.faults.has(FaultTokenNotBound) && !b.faults.has(FaultFundsTokenNotBound) &&
		thumbprint(firstCert(peerCerts(r))) != bound {
		b.challenge(w, r, http.StatusUnauthorized, "invalid_token", "The access token is bound to another client certificate.")
		return nil, false
	}
	if !accept(ar.GetGrantedScopes()) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="insufficient_scope", scope="`+need+`"`)
		b.writeSTETError(w, r, http.StatusForbidden, "insufficient_scope", "The access token does not grant the scope "+need+".")
		return nil, false
	}
	return sess, true
}

// accountsScopes are the scopes the accounts resource asks a token for: aisp, or none
// under accounts-cbpii-accepted.
func (b *Bank) accountsScopes() []string {
	if b.faults.has(FaultAccountsAnyScope) {
		return nil
	}
	return []string{ScopeAISP}
}
