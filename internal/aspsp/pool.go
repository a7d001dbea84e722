package aspsp

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// psuPool is the bank's PSUs: those listed, and psu1..psuN for a pool of count N. The pool's
// PSUs that are not listed share psu1's password (random when psu1 is not listed either), so
// that a profile's single PSU script, and a person, can log in as any of them; a caller
// wanting each its own password lists them.
func psuPool(listed map[string]string, count int) (map[string]string, error) {
	if count < 0 {
		return nil, fmt.Errorf("aspsp: Config.PSUCount %d: expected the number of PSUs, 0 or more", count)
	}
	psus := make(map[string]string, max(len(listed), count))
	for id, pw := range listed {
		psus[id] = pw
	}
	if len(psus) == 0 || count > 0 {
		shared, ok := psus[DefaultPSU]
		if !ok {
			shared = randomString(12)
		}
		for i := 1; i <= max(count, 1); i++ {
			if id := poolPSU(i); psus[id] == "" {
				psus[id] = shared
			}
		}
	}
	return psus, nil
}

// poolPSU is the identifier of the i-th PSU of a pool (1-based): psu1, psu2...
func poolPSU(i int) string { return "psu" + strconv.Itoa(i) }

// PSUIDs returns the bank's PSU identifiers, psu1..psuN in numeric order, then any others
// sorted.
func (b *Bank) PSUIDs() []string {
	ids := make([]string, 0, len(b.psus))
	for id := range b.psus {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y string) int {
		nx, okx := poolIndex(x)
		ny, oky := poolIndex(y)
		switch {
		case okx && oky:
			return nx - ny
		case okx:
			return -1
		case oky:
			return 1
		}
		return strings.Compare(x, y)
	})
	return ids
}

// poolIndex is i for "psu<i>".
func poolIndex(id string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "psu"))
	return n, err == nil && n > 0 && strings.HasPrefix(id, "psu") && poolPSU(n) == id
}

// logIn records the PSU's login into a live journey (ok false: the journey is gone). Under
// one-session-per-PSU (exclusive) it refuses, busy, while another live journey of the same
// PSU has logged in and not ended: the check and the record are one step, so that two
// concurrent logins cannot both pass.
func (js *journeys) logIn(id, psu string, exclusive bool) (j journey, busy, ok bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	now := js.now()
	cur, ok := js.m[id]
	if !ok || now.After(cur.expires) {
		return journey{}, false, false
	}
	if exclusive {
		for oid, o := range js.m {
			if oid != id && o.psu == psu && !now.After(o.expires) {
				return *cur, true, true
			}
		}
	}
	cur.psu = psu
	return *cur, false, true
}
