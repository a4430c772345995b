package redisstore

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/internal/redistls"
)

// The fail-fast defaults NewClient and Open give a client whose URL does
// not set them: a region falls through to its creator while Redis is
// unreachable, so a failed command should cost little.
const (
	DefaultDialTimeout   = 200 * time.Millisecond // dial_timeout
	DefaultReadTimeout   = 200 * time.Millisecond // read_timeout
	DefaultWriteTimeout  = 200 * time.Millisecond // write_timeout
	DefaultMaxRetries    = 1                      // max_retries
	DefaultDialerRetries = 1                      // dialer_retries
)

// RedactURL returns rawURL with its userinfo (user and password) replaced
// by "xxxxx", for errors and logs. It works on malformed URLs too: whatever
// lies between "://" and the last "@" is replaced, so a password holding
// "/" or "@" is hidden as well.
func RedactURL(rawURL string) string {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		if j := strings.LastIndex(rawURL, "@"); j >= 0 {
			return "xxxxx@" + rawURL[j+1:]
		}
		return rawURL
	}
	rest := rawURL[i+3:]
	j := strings.LastIndex(rest, "@")
	if j < 0 {
		return rawURL
	}
	return rawURL[:i+3] + "xxxxx@" + rest[j+1:]
}

// NewClient returns a go-redis client made from rawURL, with the fail-fast
// defaults. A redis:// (rediss:// for TLS, or unix://) URL gives a single
// node client; one with addr=host:port query parameters gives a Cluster
// client. The URL takes go-redis's options (redis.ParseURL and
// redis.ParseClusterURL: user, password, database, and query parameters
// such as dial_timeout, read_timeout, write_timeout, max_retries,
// pool_size), and these:
//
//   - dialer_retries: the dial attempts per connection
//     (DefaultDialerRetries when not given; go-redis's own default is 5);
//   - dialer_retry_timeout: the pause between them;
//   - ca_file: a PEM file of the CAs that sign the server's certificate
//     (rediss:// only), instead of the system's;
//   - cert_file and key_file: a client certificate and its key, for mutual
//     TLS (rediss:// only; both or neither);
//   - skip_verify=true: no verification of the server's certificate
//     (rediss:// only; for tests);
//   - context_timeout_enabled: whether a context's deadline cuts socket
//     reads and writes (go-redis's ContextTimeoutEnabled; default false).
//
// dial_timeout, read_timeout and write_timeout default to 200ms, and
// max_retries to 1 (DefaultDialTimeout and the others), rather than
// go-redis's 5s, 3s, 3s and 3. A URL that is malformed (bad scheme, host or
// port, an unknown or invalid option) gives an error wrapping
// ErrInvalidOptions; errors never contain the URL's user or password (see
// RedactURL).
func NewClient(rawURL string) (redis.UniversalClient, error) {
	red := RedactURL(rawURL)
	var msgSecrets []string // what no message may hold
	if secret := userinfo(rawURL); secret != "" {
		msgSecrets = append(msgSecrets, secret)
		msgSecrets = append(msgSecrets, strings.SplitN(secret, ":", 2)...)
	}
	invalid := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		for _, s := range msgSecrets {
			if s != "" {
				msg = strings.ReplaceAll(msg, s, "xxxxx")
			}
		}
		return fmt.Errorf("%w: URL %s: %s", ErrInvalidOptions, red, msg)
	}
	u, err := url.Parse(rawURL)
	if err == nil && u.User != nil {
		pw, _ := u.User.Password()
		for _, s := range []string{u.User.Username(), pw} {
			if s != "" {
				msgSecrets = append(msgSecrets, s)
			}
		}
	}
	if err != nil {
		// url.Parse's error quotes the URL: parse the redacted one for the
		// reason, or blame the userinfo.
		if _, rerr := url.Parse(red); rerr != nil {
			var ue *url.Error
			if asURLError(rerr, &ue) {
				return nil, invalid("%v", ue.Err)
			}
			return nil, invalid("malformed")
		}
		return nil, invalid("malformed user or password")
	}
	switch u.Scheme {
	case "redis", "rediss":
		if err := checkHost(u.Host); err != nil {
			return nil, invalid("%v", err)
		}
	case "unix":
	default:
		return nil, invalid("scheme %q, want redis, rediss or unix", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, invalid("no // after the scheme")
	}
	q := u.Query()
	own := map[string]string{}
	for _, name := range append([]string{"dialer_retries", "dialer_retry_timeout", "context_timeout_enabled"}, redistls.Params...) {
		if q.Has(name) {
			own[name] = q.Get(name)
			q.Del(name)
		}
	}
	given := func(name string) bool { return q.Has(name) }
	setDial, setRead, setWrite, setRetries := !given("dial_timeout"), !given("read_timeout"), !given("write_timeout"), !given("max_retries")
	for _, a := range q["addr"] {
		if err := checkHost(a); err != nil || strings.HasPrefix(a, ":") || strings.HasSuffix(a, ":") || !strings.Contains(a, ":") {
			return nil, invalid("addr %q is not host:port", a)
		}
	}
	rest := *u
	rest.RawQuery = q.Encode()

	var c clientOpts
	var so *redis.Options
	var co *redis.ClusterOptions
	if q.Has("addr") {
		if co, err = redis.ParseClusterURL(rest.String()); err != nil {
			return nil, invalid("%v", err)
		}
		c = clientOpts{&co.DialTimeout, &co.ReadTimeout, &co.WriteTimeout, &co.MaxRetries, &co.DialerRetries, &co.DialerRetryTimeout, &co.TLSConfig}
	} else {
		if so, err = redis.ParseURL(rest.String()); err != nil {
			return nil, invalid("%v", err)
		}
		c = clientOpts{&so.DialTimeout, &so.ReadTimeout, &so.WriteTimeout, &so.MaxRetries, &so.DialerRetries, &so.DialerRetryTimeout, &so.TLSConfig}
	}
	if setDial {
		*c.dial = DefaultDialTimeout
	}
	if setRead {
		*c.read = DefaultReadTimeout
	}
	if setWrite {
		*c.write = DefaultWriteTimeout
	}
	if setRetries {
		*c.retries = DefaultMaxRetries
	}
	*c.dialerRetries = DefaultDialerRetries
	// Off by default: the Store's per-operation bound (Options.Timeout)
	// then stops a resend without cutting a reply in progress — a new
	// connection's handshake and its first command take two round trips.
	cte := false
	if v, ok := own["context_timeout_enabled"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, invalid("context_timeout_enabled %q is not a boolean", v)
		}
		cte = b
	}
	if so != nil {
		so.ContextTimeoutEnabled = cte
	} else {
		co.ContextTimeoutEnabled = cte
	}
	if v, ok := own["dialer_retries"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, invalid("dialer_retries %q is not a positive integer", v)
		}
		*c.dialerRetries = n
	}
	if v, ok := own["dialer_retry_timeout"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, invalid("dialer_retry_timeout %q is not a duration", v)
		}
		*c.dialerPause = d
	}
	if err := redistls.Apply(*c.tls, own); err != nil {
		return nil, invalid("%v", err)
	}
	if co != nil {
		return redis.NewClusterClient(co), nil
	}
	return redis.NewClient(so), nil
}

// clientOpts points at the fields of a single node's or a Cluster's
// options that NewClient sets.
type clientOpts struct {
	dial, read, write      *time.Duration
	retries, dialerRetries *int
	dialerPause            *time.Duration
	tls                    **tls.Config
}

// userinfo returns what RedactURL hides, or "".
func userinfo(rawURL string) string {
	red := RedactURL(rawURL)
	if red == rawURL {
		return ""
	}
	i := strings.Index(rawURL, "://")
	start := i + 3
	if i < 0 {
		start = 0
	}
	return rawURL[start : start+len(rawURL)-len(red)+len("xxxxx")]
}

func asURLError(err error, target **url.Error) bool {
	ue, ok := err.(*url.Error)
	if ok {
		*target = ue
	}
	return ok
}

// checkHost checks host ("host", "host:port", "[v6]:port" or empty) for a
// non-empty host and a port in 1..65535.
func checkHost(host string) error {
	if host == "" {
		return nil // go-redis: localhost:6379
	}
	h, p := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return fmt.Errorf("host %q: missing ]", host)
		}
		h, p = host[1:end], strings.TrimPrefix(host[end+1:], ":")
		if rest := host[end+1:]; rest != "" && !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("host %q: junk after ]", host)
		}
		if strings.HasSuffix(host, ":") {
			return fmt.Errorf("host %q: empty port", host)
		}
	} else if i := strings.LastIndex(host, ":"); i >= 0 {
		h, p = host[:i], host[i+1:]
		if strings.Contains(h, ":") {
			return fmt.Errorf("host %q: an IPv6 address needs brackets", host)
		}
		if p == "" {
			return fmt.Errorf("host %q: empty port", host)
		}
	}
	if h == "" && p != "" {
		return fmt.Errorf("host %q: empty host name", host)
	}
	if p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("host %q: port %q is not in 1..65535", host, p)
		}
	}
	return nil
}
