package steps

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stetconform/stetconform/internal/profile"
	"github.com/stetconform/stetconform/internal/psu"
)

// AUTHZ-10 reads what a bank did with a request for both roles: refused at its first page
// or on the callback, split (one role granted), or one grant holding both. A refusal is
// attributed only when the same request for cbpii alone reaches the login page.
func TestBothRolesNeverGranted(t *testing.T) {
	login, _ := url.Parse("https://bank.example/login")
	loginPage := authStart{page: &answer{status: http.StatusOK}, url: login}
	errorPage := authStart{page: &answer{status: http.StatusBadRequest}, url: login}
	callback := func(q string) *url.URL {
		u, _ := url.Parse("https://tpp.example/callback?" + q)
		return u
	}
	token := func(status int, body string) *answer {
		a := &answer{status: status, header: http.Header{}}
		_ = json.Unmarshal([]byte(body), &a.fields)
		return a
	}
	for _, tc := range []struct {
		name             string
		control, altered authStart
		outcome          *psu.Outcome
		exchange         *answer
		want             string // "pass", "fail" or "inconclusive"
		says             string
	}{
		{name: "refused on the callback at once", control: loginPage, altered: authStart{page: &answer{status: http.StatusFound}, callback: callback("error=invalid_scope")}, want: "pass"},
		{name: "refused on an error page", control: loginPage, altered: errorPage, want: "pass"},
		{name: "no login page for cbpii alone either", control: errorPage, altered: errorPage, want: "inconclusive", says: "positive control failed"},
		{name: "split: one role granted", control: loginPage, altered: loginPage, outcome: &psu.Outcome{Callback: callback("code=c")},
			exchange: token(200, `{"access_token":"a","scope":"cbpii"}`), want: "pass"},
		{name: "one grant with both roles", control: loginPage, altered: loginPage, outcome: &psu.Outcome{Callback: callback("code=c")},
			exchange: token(200, `{"access_token":"a","scope":"aisp cbpii"}`), want: "fail", says: `granted "aisp cbpii" in one grant`},
		{name: "the code refused for another reason", control: loginPage, altered: loginPage, outcome: &psu.Outcome{Callback: callback("code=c")},
			exchange: token(400, `{"error":"invalid_request"}`), want: "inconclusive", says: "another reason than the roles"},
		{name: "refused on the callback after the journey", control: loginPage, altered: loginPage, outcome: &psu.Outcome{Callback: callback("error=access_denied")}, want: "pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &World{p: &profile.Profile{Scopes: profile.Scopes{AISP: "aisp", CBPII: "cbpii"}}, control: tc.control, altered: tc.altered,
				outcome: tc.outcome, bothExchange: tc.exchange}
			err := w.bothRolesNeverGranted(context.Background())
			got, msg := "pass", ""
			switch {
			case w.inconclusiveWhy != "":
				got, msg = "inconclusive", w.inconclusiveWhy
			case err != nil:
				got, msg = "fail", err.Error()
			}
			if got != tc.want || !strings.Contains(msg, tc.says) {
				t.Errorf("%s (%s), want %s saying %q", got, msg, tc.want, tc.says)
			}
		})
	}
}
