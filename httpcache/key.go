package httpcache

import (
	"fmt"
	"net/http"
	"net/url"
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

// variant returns the values of the Vary headers of h, one "Name: v1, v2"
// line each, in the order of Options.Vary. It is empty when no header is
// configured.
func (k keyer) variant(h http.Header) string {
	if len(k.vary) == 0 {
		return ""
	}
	var b strings.Builder
	for _, name := range k.vary {
		b.WriteString(name)
		b.WriteString(": ")
		// Header values cannot hold a newline, so lines stay apart.
		b.WriteString(strings.Join(h.Values(name), ", "))
		b.WriteByte('\n')
	}
	return b.String()
}
