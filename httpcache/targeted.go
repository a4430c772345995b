package httpcache

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// defaultTargetedField is the target list of a Cache whose
// Options.TargetedFields is nil: the field for CDNs (RFC 9213 §3).
const defaultTargetedField = "CDN-Cache-Control"

// targetList checks Options.TargetedFields and returns the targeted
// fields it names, canonical, without Cache-Control: nil names the
// default.
func targetList(names []string) ([]string, error) {
	if names == nil {
		return []string{http.CanonicalHeaderKey(defaultTargetedField)}, nil
	}
	if len(names) == 0 {
		return nil, errors.New("TargetedFields is empty: list Cache-Control alone to turn targeted fields off")
	}
	var targets []string
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		if !isToken(name) {
			return nil, fmt.Errorf("TargetedFields: %q is not a field name", name)
		}
		name = http.CanonicalHeaderKey(name)
		switch {
		case seen[name]:
			return nil, fmt.Errorf("TargetedFields: %s twice", name)
		case name == "Cache-Control" && i != len(names)-1:
			return nil, fmt.Errorf("TargetedFields: Cache-Control is always last, %s cannot follow it", names[i+1])
		case name == "Expires":
			return nil, errors.New("TargetedFields: Expires holds no directives")
		}
		seen[name] = true
		if name != "Cache-Control" {
			targets = append(targets, name)
		}
	}
	return targets, nil
}

// isToken reports whether s is a token (RFC 9110 §5.6.2), as field names
// are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// responseDirectives returns the directives that set a response's caching
// policy (RFC 9213 §2.2): those of the first field of the target list
// that it carries with a valid, non-empty value, and that field's name; or
// else those of its Cache-Control, and "".
func (c *Cache) responseDirectives(h http.Header) (d directives, targeted string) {
	for _, name := range c.targets {
		if lines, ok := h[name]; ok {
			if d, ok := parseTargeted(lines); ok {
				return d, name
			}
		}
	}
	return parseDirectives(h), ""
}
