package httpcache

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// keyer builds the canonical cache key of a request.
type keyer struct {
	ignore map[string]bool // query parameters left out of the key
	vary   []string        // canonical names of request headers in the key
}

func newKeyer(o Options) keyer {
	k := keyer{ignore: make(map[string]bool, len(o.IgnoreParams))}
	for _, p := range o.IgnoreParams {
		k.ignore[p] = true
	}
	for _, h := range o.Vary {
		k.vary = append(k.vary, http.CanonicalHeaderKey(h))
	}
	return k
}

// target returns "METHOD path?query" for a URL: the escaped path and the
// query with ignored parameters removed and the rest sorted by name (the
// values of a repeated parameter keep their order, which may matter to the
// handler). An empty path is "/". It fails on a query that does not parse,
// since two malformed queries could otherwise share one entry.
func (k keyer) target(method string, u *url.URL) (string, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("httpcache: query %q: %w", u.RawQuery, err)
	}
	for p := range k.ignore {
		delete(q, p)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(path)
	if enc := q.Encode(); enc != "" {
		b.WriteByte('?')
		b.WriteString(enc)
	}
	return b.String(), nil
}

// varyNames returns the canonical names of the request headers a response
// varies on: those of its Vary header and of Options.Vary, sorted, without
// duplicates. star is true for "Vary: *", which matches no other request.
func (k keyer) varyNames(h http.Header) (names []string, star bool) {
	names = slices.Clone(k.vary)
	for _, line := range h.Values("Vary") {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "*":
				star = true
			case name != "":
				names = append(names, http.CanonicalHeaderKey(name))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

// variant returns the secondary key of a request under the index idx: the
// index's nonce, the request's host (net/http keeps it out of the header
// map) and the values of the index's Vary headers, one "Name: v1, v2" line
// each. The nonce makes every variant of an index unreachable once the
// index is gone.
func variant(idx *response, host string, h http.Header) string {
	var b strings.Builder
	b.WriteString("v\n")
	b.WriteString(idx.Nonce)
	b.WriteString("\nHost: ")
	b.WriteString(strings.ToLower(host))
	b.WriteByte('\n')
	for _, name := range idx.Vary {
		b.WriteString(name)
		b.WriteString(": ")
		// Header values cannot hold a newline, so lines stay apart. The
		// members of a list are compared without the whitespace around
		// them, and several lines as one list (RFC 9111 §4.1, RFC 9110
		// §5.3, §5.6.1); commas inside quoted strings do not split.
		n := 0
		for _, v := range h.Values(name) {
			for len(v) > 0 {
				var member string
				member, v = splitDirective(v)
				if n > 0 {
					b.WriteString(", ")
				}
				b.WriteString(strings.TrimSpace(member))
				n++
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
