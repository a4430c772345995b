package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// directives are the Cache-Control directives of a message, by lower-case
// name; a directive without an argument maps to "".
type directives map[string]string

// parseDirectives reads every Cache-Control line of h. Quoted arguments are
// unquoted; a comma inside quotes (private="a, b") does not split.
func parseDirectives(h http.Header) directives {
	lines := h.Values("Cache-Control")
	if len(lines) == 0 {
		return nil
	}
	d := directives{}
	for _, line := range lines {
		for len(line) > 0 {
			var item string
			item, line = splitDirective(line)
			name, arg, _ := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			arg = strings.TrimSpace(arg)
			if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
				arg = arg[1 : len(arg)-1]
			}
			if _, dup := d[name]; !dup {
				d[name] = arg
			}
		}
	}
	return d
}

// splitDirective returns the first comma-separated item of s, commas
// inside double quotes included, and the rest.
func splitDirective(s string) (item, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// unqualified reports whether the directive is present without a list of
// field names, as no-cache and private may carry one (RFC 9111 §5.2.2.4,
// §5.2.2.7).
func (d directives) unqualified(name string) bool {
	arg, ok := d[name]
	return ok && strings.TrimSpace(arg) == ""
}

// fields returns the field names a qualified directive lists, canonical.
func (d directives) fields(name string) []string {
	var names []string
	for f := range strings.SplitSeq(d[name], ",") {
		if f = strings.TrimSpace(f); f != "" {
			names = append(names, http.CanonicalHeaderKey(f))
		}
	}
	return names
}

// seconds returns a delta-seconds argument. A malformed one is treated as
// absent (ok false), except that an overflowing one saturates. A negative
// or fractional one is malformed.
func (d directives) seconds(name string) (time.Duration, bool) {
	return deltaSeconds(d[name])
}

// deltaSeconds reads a delta-seconds value (RFC 9111 §1.2.2): one or more
// digits, nothing else; ok is false for anything else. A value past
// maxDeltaSeconds is maxDeltaSeconds.
func deltaSeconds(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxDeltaSeconds {
		n = maxDeltaSeconds // RFC 9111 §1.2.2: overflow means 2^31
	}
	return time.Duration(n) * time.Second, true
}

// maxDeltaSeconds is the largest delta-seconds a cache must handle (RFC 9111
// §1.2.2).
const maxDeltaSeconds = 1 << 31

// requestDirectives are the Cache-Control directives of a request, with
// "Pragma: no-cache" read as no-cache when there is no Cache-Control (RFC
// 9111 §5.4).
func requestDirectives(h http.Header) directives {
	d := parseDirectives(h)
	if d == nil && len(h.Values("Cache-Control")) == 0 {
		for _, p := range h.Values("Pragma") {
			if strings.Contains(strings.ToLower(p), "no-cache") {
				return directives{"no-cache": ""}
			}
		}
	}
	return d
}
