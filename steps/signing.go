package steps

import (
	"context"
	"fmt"
	"net/http"

	"github.com/stetconform/stetconform/internal/profile"
)

// registerSigning gives the sentences of signing.feature their code.
func (w *World) registerSigning(sc sentences) {
	sc.Step(`^the primary TPP calls the accounts resource with the access token without signing it$`, func(ctx context.Context) error {
		w.callAccountsSealed(ctx, w.named("primary"), w.tokens.access, nil)
		return nil
	})
	sc.Step(`^the primary TPP calls the accounts resource with the access token signed with the second TPP's seal$`, func(ctx context.Context) error {
		w.callAccountsSealed(ctx, w.named("primary"), w.tokens.access, w.named("second"))
		return nil
	})
	sc.Step(`^the bank refuses the request with 401$`, w.refusedWith401)
	sc.Step(`^the same request, signed with the primary TPP's seal, opens the accounts resource$`, func(ctx context.Context) error {
		return w.sealedControl(ctx, w.named("primary"))
	})
}

// apiHeaders gives a TPP's API request what STET asks of each: a fresh X-Request-ID (at most
// 70 characters; a profile header may set it), the profile's extra headers on resource
// calls, and the Digest and Signature of seal's QSealC where the bank declares signing for
// this kind of call. seal is normally the TPP that calls; nil sends the request unsigned.
func (w *World) apiHeaders(req *http.Request, body []byte, seal *profile.Client, resource bool) error {
	if resource {
		for k, v := range w.p.Headers {
			req.Header.Set(k, expandHeader(v))
		}
	}
	if req.Header.Get("X-Request-ID") == "" {
		req.Header.Set("X-Request-ID", newUUID())
	}
	sign := w.p.Signing.SignsTokenRequests()
	if resource {
		sign = w.p.Signing.SignsResourceCalls()
	}
	if !sign || seal == nil {
		return nil
	}
	s := w.p.Signer(seal)
	if s == nil {
		return fmt.Errorf("the profile declares signing but %s has no usable qsealc", seal.Describe())
	}
	return s.Sign(req, body)
}

// callAccountsSealed calls the accounts resource as cert, signed with seal's QSealC (nil:
// unsigned), for the signature checks.
func (w *World) callAccountsSealed(ctx context.Context, cert *profile.Client, token string, seal *profile.Client) *answer {
	req, err := http.NewRequest(http.MethodGet, w.p.Endpoints.Accounts, nil)
	if err != nil {
		return &answer{err: err}
	}
	req.Header.Set("Accept", w.p.Options.ResourceMediaType)
	req.Header.Set("Authorization", "Bearer "+token)
	if err := w.apiHeaders(req, nil, seal, true); err != nil {
		return &answer{err: err}
	}
	return w.do(ctx, w.client(cert), req)
}

// refusedWith401 is SIG-01's refusal: STET banks answer a missing or wrong signature with
// 401 (Qonto, BPCE).
func (w *World) refusedWith401() error {
	a := w.last
	if err := w.notARefusal(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusUnauthorized {
		return fmt.Errorf("expected HTTP 401 for a request that is not signed with the calling TPP's QSealC (STET Part I section 3.5; the profile declares signing.required); %s", a)
	}
	return nil
}

// sealedControl is SIG-01's positive control: the same call, signed as it should be, opens
// the resource, so the refusal was for the signature.
func (w *World) sealedControl(ctx context.Context, c *profile.Client) error {
	refused := w.last
	a := w.callAccountsSealed(ctx, c, w.tokens.access, c)
	if err := w.notAnAnswer(a); err != nil {
		return err
	}
	if a.err != nil || a.status != http.StatusOK {
		return w.inconclusive("positive control failed: the same request signed with %s's own QSealC does not open the accounts resource either (%s), so the refusal (%s) proves nothing about signatures", c.Describe(), a, refused)
	}
	w.note("positive control: the same request signed with %s's QSealC opens the accounts resource", c.Describe())
	return nil
}
