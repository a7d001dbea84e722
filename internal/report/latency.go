package report

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EndpointLatency is how fast one of the bank's endpoints answered during a run, in the
// terms EBA KPI-style monitoring of PSD2 interfaces uses: request count, median, 95th
// percentile and maximum response time.
type EndpointLatency struct {
	Endpoint string // the bank profile's name for it: authorize, token, accounts, revoke
	URL      string
	Count    int // requests sent to it
	// NoAnswer counts the requests that got no HTTP answer (timeout, TLS refusal, reset):
	// they have no response time, so the times below leave them out.
	NoAnswer int
	Median   time.Duration
	P95      time.Duration
	Max      time.Duration
}

// endpointOrder is the order a TPP calls the endpoints in; other named endpoints follow.
var endpointOrder = []string{"authorize", "token", "accounts", "revoke"}

// Latencies measures each of rep.Bank.Endpoints from the exchanges of the run. A request
// belongs to the endpoint whose URL has the same scheme and host and whose path is the
// request's path or a parent of it (the accounts resource has sub-resources); the
// longest such path wins. Requests to no endpoint (the bank's login pages, the callback)
// are not counted. An endpoint no request reached is left out.
//
// The median of an even count is the mean of the two middle values; the 95th percentile
// is the nearest-rank one (the smallest time at least 95 % of the answers did not
// exceed), so it is always a time some request took.
func Latencies(rep *Report) []EndpointLatency {
	type target struct {
		name string
		u    *url.URL
	}
	var targets []target
	for name, raw := range rep.Bank.Endpoints {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			targets = append(targets, target{name, u})
		}
	}
	times := map[string][]time.Duration{}
	noAnswer := map[string]int{}
	count := map[string]int{}
	for _, sc := range rep.Scenarios {
		for _, ex := range sc.Exchanges {
			u, err := url.Parse(ex.Request.URL)
			if err != nil {
				continue
			}
			best := -1
			for i, t := range targets {
				if !strings.EqualFold(t.u.Scheme, u.Scheme) || !strings.EqualFold(t.u.Host, u.Host) || !underPath(u.Path, t.u.Path) {
					continue
				}
				if best < 0 || len(t.u.Path) > len(targets[best].u.Path) {
					best = i
				}
			}
			if best < 0 {
				continue
			}
			name := targets[best].name
			count[name]++
			if ex.Response == nil {
				noAnswer[name]++
				continue
			}
			times[name] = append(times[name], ex.Duration)
		}
	}
	names := slices.Sorted(maps.Keys(count))
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	var out []EndpointLatency
	for _, n := range names {
		l := EndpointLatency{Endpoint: n, URL: rep.Bank.Endpoints[n], Count: count[n], NoAnswer: noAnswer[n]}
		if d := times[n]; len(d) > 0 {
			slices.Sort(d)
			l.Median = median(d)
			l.P95 = nearestRank(d, 95)
			l.Max = d[len(d)-1]
		}
		out = append(out, l)
	}
	return out
}

// rank orders the endpoints as endpointOrder, the others after them.
func rank(name string) int {
	if i := slices.Index(endpointOrder, name); i >= 0 {
		return i
	}
	return len(endpointOrder)
}

// underPath says whether path p is base or below it, ignoring a trailing slash.
func underPath(p, base string) bool {
	base = strings.TrimSuffix(base, "/")
	p = strings.TrimSuffix(p, "/")
	return p == base || strings.HasPrefix(p, base+"/")
}

// median of sorted, non-empty d.
func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// nearestRank is the p-th percentile of sorted, non-empty d by the nearest-rank method:
// the value of rank ceil(p/100 × n).
func nearestRank(d []time.Duration, p int) time.Duration {
	k := (p*len(d) + 99) / 100
	if k < 1 {
		k = 1
	}
	return d[k-1]
}
