package steps

import (
	"net/url"
	"testing"
)

// A role-related error code counts as the bank refusing the TPP without the role only
// where the TPP holding the role does not meet it: in the URL where the journey stopped,
// or on a first page other than that TPP's, and not on that TPP's page too.
func TestRoleRefusalIn(t *testing.T) {
	page := func(path string, status int, body string) authStart {
		u, _ := url.Parse("https://bank.example" + path)
		return authStart{page: &answer{status: status, body: []byte(body)}, url: u}
	}
	login := `<html><script>if (e === "access_denied") show()</script><form>Login</form></html>`
	for _, c := range []struct {
		name           string
		lastURL        string
		first, control authStart
		want           string
	}{
		{"the error on the callback URL", "https://tpp.example/cb?error=unauthorized_client", page("/login", 200, login), page("/login", 200, login), "unauthorized_client"},
		{"an error page naming the code", "", page("/error", 403, "<p>unauthorized_client: no PSP_AI role</p>"), page("/login", 200, login), "unauthorized_client"},
		{"the login page every TPP gets, whose script names a code", "", page("/login", 200, login), page("/login", 200, login), ""},
		{"another page, but the code is on the control's page too", "", page("/login2", 200, login), page("/login", 200, login), ""},
		{"no control page", "", page("/error", 400, "invalid_client"), authStart{}, ""},
		{"a control page the bank would not serve (429)", "", page("/error", 400, "invalid_client"), page("/login", 429, ""), ""},
		{"a control page the bank failed (500)", "", page("/error", 400, "invalid_client"), page("/login", 500, ""), ""},
		{"no code anywhere", "", page("/error", 400, "redirect_uri mismatch"), page("/login", 200, login), ""},
	} {
		if got := roleRefusalIn(c.lastURL, c.first, c.control); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
