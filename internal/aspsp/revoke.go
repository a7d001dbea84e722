package aspsp

import (
	"context"
	"net/http"

	"github.com/ory/fosite"
)

// serveRevoke is POST /revoke (RFC 7009; STET Part I section 3.4.3.5): the TPP,
// authenticated by its QWAC, revokes a refresh or an access token, and fosite revokes the
// other token of the grant with it (BPCE: revoking one revokes the other).
func (b *Bank) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		b.writeTokenError(w, fosite.ErrInvalidRequest.WithHintf("The revocation endpoint accepts POST only, found %s.", r.Method), http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	if err := r.ParseForm(); err != nil {
		b.writeTokenError(w, fosite.ErrInvalidRequest.WithHint("The request body is not a form of at most 64 KiB."), 0)
		return
	}
	ctx := context.WithValue(r.Context(), ctxRequestingClient, r.PostForm.Get("client_id"))
	ctx = context.WithValue(ctx, ctxRevoking, true)
	if b.faults.has(FaultRevokeIgnored) {
		// Authenticates the TPP and says yes, but revokes nothing.
		if _, err := b.authenticateClient(ctx, r, r.PostForm); err != nil {
			b.oauth.WriteRevocationResponse(ctx, w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	b.oauth.WriteRevocationResponse(ctx, w, b.oauth.NewRevocationRequest(ctx, r.WithContext(ctx)))
}
