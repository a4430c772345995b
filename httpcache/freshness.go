package httpcache

import (
	"net/http"
	"strings"
	"time"
)

// heuristicStatuses are the statuses cacheable by default (RFC 9110 §15.1),
// 206 left out since the cache does not combine ranges.
var heuristicStatuses = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// errorStatuses are the statuses that let stale-if-error serve a stale
// response (RFC 5861 §4).
var errorStatuses = map[int]bool{500: true, 502: true, 503: true, 504: true}

// policy is what the response's own headers say about reusing it.
type policy struct {
	d        directives
	lifetime time.Duration // freshness lifetime (RFC 9111 §4.2.1)
	// strict forbids serving it stale (must-revalidate, proxy-revalidate,
	// s-maxage, no-cache).
	strict bool
	swr    time.Duration // stale-while-revalidate
	sie    time.Duration // stale-if-error
}

// policyOf reads a stored response's freshness from d, the directives
// that set its policy: those of a targeted field when targeted, and Expires
// is then ignored (RFC 9213 §2.2), or else its Cache-Control. heuristic is
// the lifetime given to a response without explicit freshness or
// Last-Modified whose status is cacheable by default (or that is public);
// one with a Last-Modified gets a tenth of the time since then (RFC 9111
// §4.2.2), at most maxHeuristic. A malformed max-age or s-maxage makes the
// response stale (RFC 9111 §4.2.1).
func policyOf(resp *response, d directives, targeted bool, heuristic, maxHeuristic time.Duration) policy {
	p := policy{d: d}
	exp, expires := resp.Header["Expires"]
	switch s, smax := d.seconds("s-maxage"); {
	case smax:
		p.lifetime = s
	case d.has("s-maxage"), d.has("max-age"):
		// Present but malformed (a negative, quoted or fractional
		// value, or s-maxage with a valid max-age beside it): stale.
		p.lifetime, _ = d.seconds("max-age")
		if d.has("s-maxage") {
			p.lifetime = 0
		}
	case expires && !targeted:
		// An Expires that is not one HTTP-date (two lines are not) is
		// in the past (RFC 9111 §5.3).
		if len(exp) == 1 {
			if e, ok := httpDate(exp[0], resp.Received); ok {
				p.lifetime = max(e.Sub(resp.date()), 0)
			}
		}
	case heuristicStatuses[resp.Status] || d.has("public"):
		p.lifetime = heuristic
		if lm, ok := httpDate(resp.Header.Get("Last-Modified"), resp.Received); ok {
			p.lifetime = min(max(resp.date().Sub(lm)/10, 0), maxHeuristic)
		}
	}
	if d.unqualified("no-cache") {
		p.lifetime = 0
	}
	p.strict = d.has("must-revalidate") || d.has("proxy-revalidate") || d.has("s-maxage") || d.unqualified("no-cache")
	if !p.strict {
		p.swr, _ = d.seconds("stale-while-revalidate")
		p.sie, _ = d.seconds("stale-if-error")
	}
	return p
}

// date is the response's Date, or when it was received if it has none that
// parses.
func (resp *response) date() time.Time {
	if date, ok := httpDate(resp.Header.Get("Date"), resp.Received); ok {
		return date
	}
	return time.Unix(0, resp.Received)
}

// explicitFreshness reports whether a response states its own freshness in
// d, its directives, or in an Expires that a targeted field does not set
// aside.
func explicitFreshness(h http.Header, d directives, targeted bool) bool {
	_, exp := h["Expires"]
	return exp && !targeted || d.has("max-age") || d.has("s-maxage")
}

// initialAge is the corrected initial age of a response (RFC 9111 §4.2.3):
// the larger of its apparent age (from Date) and its Age, when it has a
// valid one, plus the time the handler took. It is at most 2^31 seconds,
// very old (§1.2.2), so that the ages counted from it cannot overflow
// (a Date centuries ago is past what a Duration holds).
func initialAge(h http.Header, requested, received int64) time.Duration {
	apparent := time.Duration(0)
	if date, ok := httpDate(h.Get("Date"), received); ok {
		apparent = max(time.Unix(0, received).Sub(date), 0)
	}
	corrected := time.Duration(received - requested)
	if a, ok := ageField(h); ok {
		corrected += a
	}
	return min(max(apparent, corrected), maxDeltaSeconds*time.Second)
}

// ageField reads a response's Age (RFC 9111 §5.1). Of a list-valued Age,
// on one line or several, the first member counts and the rest is
// discarded (empty members are no members: RFC 9110 §5.6.1); ok is false
// when there is no Age or that member is not delta-seconds, and the field
// is then ignored. An Age past 2^31 seconds is 2^31 seconds (§1.2.2),
// older than any freshness lifetime.
func ageField(h http.Header) (age time.Duration, ok bool) {
	for _, line := range h.Values("Age") {
		for member := range strings.SplitSeq(line, ",") {
			if member = strings.Trim(member, " \t"); member != "" {
				return deltaSeconds(member)
			}
		}
	}
	return 0, false
}

// age is a stored response's current age at now (RFC 9111 §4.2.3).
func (resp *response) age(now int64) time.Duration {
	return time.Duration(resp.InitialAge) + max(time.Duration(now-resp.Received), 0)
}

// use is what a request may do with a stored response.
type use int

const (
	useFresh    use = iota // serve it
	useStale               // serve it stale, as the request allows (max-stale)
	useSWR                 // serve it stale while one request revalidates it
	useValidate            // validate it with the origin first
)

// usage decides how a request with directives rd may use a stored response
// whose policy is p, at age a.
func usage(p policy, a time.Duration, rd directives) use {
	fresh := p.lifetime > a
	if rd.has("no-cache") {
		return useValidate
	}
	if m, ok := rd.seconds("max-age"); ok && a > m {
		return useValidate
	}
	if mf, ok := rd.seconds("min-fresh"); ok && p.lifetime-a < mf {
		return useValidate
	}
	if fresh {
		return useFresh
	}
	if p.strict {
		return useValidate
	}
	staleness := a - p.lifetime
	if ms, ok := rd["max-stale"]; ok {
		if n, ok := rd.seconds("max-stale"); ms == "" || ok && staleness <= n {
			return useStale
		}
	}
	if staleness < p.swr {
		return useSWR
	}
	return useValidate
}
