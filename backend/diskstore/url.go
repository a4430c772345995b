package diskstore

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
)

// URLScheme is the scheme of the URLs OpenURL opens.
const URLScheme = "disk"

// urlParams are the query parameters of a disk:// URL, each an Options
// field.
var urlParams = []string{"max_bytes", "max_entries", "access_resolution", "busy_timeout", "durable"}

// OpenURL opens the store that a disk:// URL names and returns it with its
// Locker and Registry: one file holds a region's entries, locks and
// records. It is a config.Opener, for the config package's Options.Schemes
// (this package does not import config, which brings Redis's and
// memcached's clients):
//
//	regions, err := config.Load("corral.yaml", config.Options{
//		Schemes: map[string]config.Opener{diskstore.URLScheme: diskstore.OpenURL},
//	})
//
// with, in corral.yaml, url: disk:///var/cache/app/corral.db. The path
// follows "disk://": disk:///abs/path.db is absolute, disk://cache.db is
// relative to the working directory; '?' and '%' in it are written %3F and
// %25. The query sets Options:
//
//	max_bytes=536870912      Options.MaxBytes (default DefaultMaxBytes; negative: no bound)
//	max_entries=100000       Options.MaxEntries (default: no bound)
//	access_resolution=1s     Options.AccessResolution (default DefaultAccessResolution)
//	busy_timeout=10s         Options.BusyTimeout (default DefaultBusyTimeout)
//	durable=true             Options.Durable (default false)
//
// The file is opened (and created) at once, unlike a server URL. The
// backend's Close closes it. Errors wrap ErrInvalidOptions for a URL it
// cannot read, or come from Open.
func OpenURL(rawURL string) (backend.Backend, lock.Locker, keyreg.Registry, error) {
	path, o, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := Open(path, o)
	if err != nil {
		return nil, nil, nil, err
	}
	return s, s.Locker(), s.Registry(), nil
}

// parseURL reads a disk:// URL into a path and Options.
func parseURL(rawURL string) (string, Options, error) {
	var o Options
	invalid := func(format string, args ...any) (string, Options, error) {
		return "", o, fmt.Errorf("%w: URL %s: %s", ErrInvalidOptions, rawURL, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(rawURL, URLScheme+"://")
	if !ok {
		return invalid("want %s:///path/to/file.db", URLScheme)
	}
	rawPath, rawQuery, _ := strings.Cut(rest, "?")
	path, err := url.PathUnescape(rawPath)
	if err != nil || path == "" || path == "/" {
		return invalid("no file: want %s:///path/to/file.db", URLScheme)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return invalid("query: %v", err)
	}
	for name, vals := range q {
		if !slices.Contains(urlParams, name) {
			return invalid("unknown parameter %q (known: %s)", name, strings.Join(urlParams, ", "))
		}
		if len(vals) != 1 {
			return invalid("parameter %q given %d times", name, len(vals))
		}
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"max_bytes", &o.MaxBytes}, {"max_entries", &o.MaxEntries}} {
		if !q.Has(p.name) {
			continue
		}
		n, err := strconv.ParseInt(q.Get(p.name), 10, 64)
		if err != nil {
			return invalid("%s %q is not an integer (bytes or entries)", p.name, q.Get(p.name))
		}
		*p.dst = n
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"access_resolution", &o.AccessResolution}, {"busy_timeout", &o.BusyTimeout}} {
		if !q.Has(p.name) {
			continue
		}
		d, err := time.ParseDuration(q.Get(p.name))
		if err != nil {
			return invalid("%s %q is not a duration such as 1s", p.name, q.Get(p.name))
		}
		*p.dst = d
	}
	if q.Has("durable") {
		b, err := strconv.ParseBool(q.Get("durable"))
		if err != nil {
			return invalid("durable %q is not true or false", q.Get("durable"))
		}
		o.Durable = b
	}
	return path, o, nil
}
