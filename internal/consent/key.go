package consent

import "strings"

// A TPP's codes and grants are kept apart by role: a code or a grant of the PSU's consent
// for one role's scope (aisp, cbpii) never serves a check of the other role. Everything
// the broker and the plan count by TPP is counted by key: the TPP's name, and its role
// unless the role is aisp ("primary" for the primary TPP's aisp consents, "primary/cbpii"
// for its cbpii ones), so that the AISP checks keep the keys they always had.

// RoleAISP is the role a key names by the TPP's name alone.
const RoleAISP = "aisp"

// Key names the codes and grants of tpp for role ("" is aisp).
func Key(tpp, role string) string {
	if role == "" || role == RoleAISP {
		return tpp
	}
	return tpp + "/" + role
}

// SplitKey returns the TPP and the role ("aisp" for a bare TPP name) a key names.
func SplitKey(key string) (tpp, role string) {
	tpp, role, ok := strings.Cut(key, "/")
	if !ok {
		return key, RoleAISP
	}
	return tpp, role
}
