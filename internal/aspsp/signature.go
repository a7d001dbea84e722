package aspsp

import (
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/stetconform/stetconform/internal/eidas"
	"github.com/stetconform/stetconform/internal/httpsig"
)

// consentAtKey is where a grant's session keeps when the PSU consented (time.Time).
const consentAtKey = "consent_at"

// checkSignature says why a request is not signed as STET Part I 3.5 asks ("" when it is):
// a Digest and a Signature over (request-target), date, digest and x-request-id, made with
// a registered QSealC of the same TPP (organizationIdentifier) as the QWAC of the
// connection. The keyId is not fetched: the bank knows its TPPs' seals.
func (b *Bank) checkSignature(r *http.Request) string {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, formLimit))
	}
	if _, err := httpsig.Parse(r); err != nil {
		return "The request is not signed (STET Part I 3.5): " + err.Error() + "."
	}
	orgs := make([]string, 0, len(b.seals))
	for org := range b.seals {
		orgs = append(orgs, org)
	}
	slices.Sort(orgs)
	sealedBy, lastErr := "", error(nil)
	for _, org := range orgs {
		if _, err := httpsig.Verify(r, body, b.seals[org].PublicKey, httpsig.DefaultHeaders, b.now()); err == nil {
			sealedBy = org
			break
		} else {
			lastErr = err
		}
	}
	if sealedBy == "" {
		return fmt.Sprintf("The request's signature does not verify with any registered QSealC: %v.", lastErr)
	}
	qwac := eidas.OrganizationIdentifier(firstCert(peerCerts(r)))
	if sealedBy != qwac && !b.faults.has(FaultSealOfAnyTPPAccepted) {
		return fmt.Sprintf("The request is sealed by %s, but comes over the QWAC of %s: the QSealC and the QWAC must belong to the same TPP.", sealedBy, qwac)
	}
	return ""
}
