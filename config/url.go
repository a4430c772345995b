package config

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/internal/redistls"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// ErrInvalidURL is wrapped by the errors of Open for a URL it cannot use:
// an unknown scheme, a malformed host list, an unknown or invalid query
// parameter. Such errors also wrap region.ErrInvalidConfig, and never hold
// the URL's user or password.
var ErrInvalidURL = errors.New("config: invalid URL")

// Connection is what one URL sets up for a region: its backend, a locker and
// a key registry on the same servers, and the clients behind them. Open
// makes one; Apply puts it into a region.Config; Close closes the clients.
// Several regions may share one Connection (their namespaces keep them
// apart).
type Connection struct {
	// Backend stores the entries.
	Backend backend.Backend
	// Locker is the dogpile lock: in-process for memory://, the store's
	// own for a disk file. Nil on Redis and memcached: their stores lease
	// (backend.Leaser), and a region takes the lock with the lease, in the
	// same round trip. Set a Locker of your own (redislocker,
	// memcachelocker) in the region's Config to lock apart from the
	// lease — it costs a creation three more round trips.
	Locker lock.Locker
	// Registry records the keys of cached functions, on the same servers.
	Registry keyreg.Registry

	url    string // redacted
	scheme string
	ping   func(context.Context) error
	closes []func() error
}

// Opener opens what a URL of one scheme names, for [Options.Schemes]: the
// backend and, on the same storage, a locker and a key registry. A nil
// locker or registry leaves the choice to region.New (see region.Config).
// It must not connect (Ping does) unless opening is local, as a file's is.
//
// The Connection made from it closes the backend when the backend has a
// Close() error method (which must close whatever else the Opener made),
// and its Ping calls the backend's Ping(context.Context) error method when
// it has one. An error the Opener returns is wrapped with ErrInvalidURL and
// region.ErrInvalidConfig; it must not hold the URL's secrets.
//
// The signature names only corral's core interfaces, so that a store's
// module provides an Opener without importing this package (and its Redis
// and memcached clients): diskstore.OpenURL is one.
type Opener func(rawURL string) (backend.Backend, lock.Locker, keyreg.Registry, error)

// builtinSchemes are the schemes Open knows by itself.
var builtinSchemes = []string{"memory", "redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel", "memcached"}

// Open sets up the backend, locker and registry that rawURL names:
//
//	memory://?max_entries=100000&max_bytes=0&serialize=false
//	redis://[user:password@]host:port[/db][?options]
//	rediss://[user:password@]host:port[/db]?ca_file=…&cert_file=…&key_file=…&skip_verify=…
//	redis+cluster://[user:password@]host1:port,host2:port[?options]   (rediss+cluster:// with TLS)
//	redis+sentinel://[user:password@]host1:port,host2:port/master-name[?db=…&options]   (rediss+sentinel:// with TLS)
//	memcached://host1:port,host2:port[?timeout=…&max_idle_conns=…&failures=…&cooldown=…&max_item_size=…]
//
// redis:// and rediss:// take redisstore.NewClient's options (go-redis's,
// and TLS files); their clients, and the Sentinel's, fail fast by default
// (redisstore.DefaultDialTimeout and the others: 200 ms timeouts, one
// retry). A Sentinel URL's user and password are the master's (with
// sentinel_auth=true, the Sentinels' too), its path the master's name; it
// takes db, dial_timeout, read_timeout, write_timeout, max_retries,
// dialer_retries, pool_size and sentinel_auth, and with rediss+sentinel://
// (TLS to the Sentinels and to the master alike) ca_file, cert_file,
// key_file and skip_verify. memcached:// builds a memcachestore.Pool over
// the servers (a failing server is taken out and probed back in) and gives
// it to memcachestore, memcachelocker and memcachereg, which use
// memcached's meta protocol on it where it saves round trips (memcached
// 1.6.10 or later: Ping checks the servers' versions); timeout defaults to
// memcachestore.DefaultTimeout (200 ms).
//
// Other schemes come from other modules, given explicitly to OpenWith (or
// to Load in Options.Schemes): disk:// from
// github.com/corralcache/corral/backend/diskstore, for one.
//
// Open does not connect: Ping does. An unusable URL gives an error wrapping
// ErrInvalidURL and region.ErrInvalidConfig that never holds the URL's user
// or password.
func Open(rawURL string) (*Connection, error) {
	return open(rawURL, nil, redisstore.Options{})
}

// OpenWith is Open with the schemes of o.Schemes besides the built-in ones;
// o's other fields are not used. A scheme of o.Schemes that is built in, is
// not a valid URL scheme, or has a nil Opener is an error wrapping
// region.ErrInvalidConfig.
func OpenWith(rawURL string, o Options) (*Connection, error) {
	if err := checkSchemes(o.Schemes); err != nil {
		return nil, err
	}
	return open(rawURL, o.Schemes, redisstore.Options{})
}

// checkSchemes checks the names and openers of schemes.
func checkSchemes(schemes map[string]Opener) error {
	for name, op := range schemes {
		valid := name != "" && name[0] >= 'a' && name[0] <= 'z'
		for _, c := range []byte(name) {
			valid = valid && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
		}
		switch {
		case !valid:
			return fmt.Errorf("%w: config: Options.Schemes: %q is not a URL scheme (lower-case letters, digits, + - .)", region.ErrInvalidConfig, name)
		case slices.Contains(builtinSchemes, name):
			return fmt.Errorf("%w: config: Options.Schemes: %q is built in", region.ErrInvalidConfig, name)
		case op == nil:
			return fmt.Errorf("%w: config: Options.Schemes: scheme %q has a nil Opener", region.ErrInvalidConfig, name)
		}
	}
	return nil
}

// open opens rawURL, with the schemes of extra besides the built-in ones
// and so as the options of a Redis store.
func open(rawURL string, extra map[string]Opener, so redisstore.Options) (*Connection, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, urlError(rawURL, "no scheme: want %s://", strings.Join(knownSchemes(extra), "://, "))
	}
	c := &Connection{url: redisstore.RedactURL(rawURL), scheme: scheme}
	var err error
	switch scheme {
	case "memory":
		err = c.openMemory(rawURL)
	case "redis", "rediss":
		err = c.openRedis(rawURL, so)
	case "redis+cluster", "rediss+cluster":
		err = c.openCluster(rawURL, strings.TrimSuffix(scheme, "+cluster"), so)
	case "redis+sentinel", "rediss+sentinel":
		err = c.openSentinel(rawURL, scheme == "rediss+sentinel", so)
	case "memcached":
		err = c.openMemcached(rawURL)
	default:
		op, ok := extra[scheme]
		if !ok {
			return nil, urlError(rawURL, "unknown scheme %q: want %s (other schemes come from Options.Schemes)", scheme, strings.Join(knownSchemes(extra), ", "))
		}
		err = c.openWith(rawURL, op)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// knownSchemes lists the built-in schemes and those of extra.
func knownSchemes(extra map[string]Opener) []string {
	return append(slices.Clone(builtinSchemes), slices.Sorted(maps.Keys(extra))...)
}

// openWith opens rawURL with an Opener of Options.Schemes.
func (c *Connection) openWith(rawURL string, op Opener) error {
	b, l, r, err := op(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %w: %s: %w", region.ErrInvalidConfig, ErrInvalidURL, c.url, err)
	}
	if b == nil {
		return urlError(rawURL, "the %s:// Opener returned no backend", c.scheme)
	}
	if closer, ok := b.(interface{ Close() error }); ok {
		c.closes = append(c.closes, closer.Close)
	}
	if p, ok := b.(interface{ Ping(context.Context) error }); ok {
		c.ping = p.Ping
	}
	c.Backend, c.Locker, c.Registry = b, l, r
	return nil
}

// Apply returns cfg with its Backend, Locker and Registry set to the
// connection's.
func (c *Connection) Apply(cfg region.Config) region.Config {
	cfg.Backend, cfg.Locker, cfg.Registry = c.Backend, c.Locker, c.Registry
	return cfg
}

// String returns the URL the connection was opened with, its user and
// password replaced by "xxxxx".
func (c *Connection) String() string { return c.url }

// Ping checks that every server the connection needs answers: PING on
// Redis (through the Sentinels to the master), a no-op on every memcached
// server, nothing for memory://. Errors name the URL without its secrets;
// a nil ctx gives one wrapping region.ErrNilContext, as a region call does.
func (c *Connection) Ping(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("config: ping %s: %w", c.url, region.ErrNilContext)
	}
	if c.ping == nil {
		return nil
	}
	if err := c.ping(ctx); err != nil {
		return fmt.Errorf("config: ping %s: %w", c.url, err)
	}
	return nil
}

// Close closes the clients and backends the connection made. Calling it
// again does nothing.
func (c *Connection) Close() error {
	var errs []error
	for i := len(c.closes) - 1; i >= 0; i-- {
		errs = append(errs, c.closes[i]())
	}
	c.closes = nil
	return errors.Join(errs...)
}

func urlError(rawURL, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s: %s", region.ErrInvalidConfig, ErrInvalidURL, redisstore.RedactURL(rawURL), fmt.Sprintf(format, args...))
}

func (c *Connection) openMemory(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host != "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return urlError(rawURL, "want memory://?max_entries=N (no host, path or user)")
	}
	var o memory.Options
	q, err := params(u.Query(), "max_entries", "max_bytes", "serialize")
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	if o.MaxEntries, err = q.int("max_entries"); err != nil {
		return urlError(rawURL, "%v", err)
	}
	mb, err := q.int("max_bytes")
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	o.MaxBytes = int64(mb)
	if o.Serialize, err = q.bool("serialize"); err != nil {
		return urlError(rawURL, "%v", err)
	}
	b, err := memory.New(o)
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	c.closes = append(c.closes, b.Close)
	reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	c.Backend, c.Locker, c.Registry = b, lock.NewLocal(), reg
	return nil
}

func (c *Connection) openRedis(rawURL string, so redisstore.Options) error {
	client, err := redisstore.NewClient(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", region.ErrInvalidConfig, ErrInvalidURL, err)
	}
	return c.useRedis(rawURL, client, so)
}

// openCluster turns redis+cluster://h1,h2,h3?q into the URL go-redis's
// ParseClusterURL reads (redis://h1?addr=h2&addr=h3&q) and opens it with
// redisstore.NewClient.
func (c *Connection) openCluster(rawURL, scheme string, so redisstore.Options) error {
	user, hosts, rest, err := splitHosts(rawURL)
	if err != nil {
		return err
	}
	path, query, _ := strings.Cut(rest, "?")
	if path != "" && path != "/" {
		return urlError(rawURL, "a Cluster has no database: no path after the hosts")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return urlError(rawURL, "query: %v", err)
	}
	if q.Has("addr") {
		return urlError(rawURL, "list the nodes as host1,host2, not addr=")
	}
	// Every host is an addr, so that a single host still makes a Cluster
	// client; the host part is the first again (go-redis dedupes nothing,
	// which costs one extra seed entry).
	for _, h := range hosts {
		q.Add("addr", h)
	}
	u := scheme + "://" + user + hosts[0] + "?" + q.Encode()
	client, err := redisstore.NewClient(u)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", region.ErrInvalidConfig, ErrInvalidURL, err)
	}
	if _, ok := client.(*redis.ClusterClient); !ok {
		_ = client.Close()
		return urlError(rawURL, "not a Cluster client")
	}
	return c.useRedis(rawURL, client, so)
}

// openSentinel opens a redis+sentinel:// URL, or with useTLS a
// rediss+sentinel:// one: TLS to the Sentinels and to the master.
func (c *Connection) openSentinel(rawURL string, useTLS bool, so redisstore.Options) error {
	user, hosts, rest, err := splitHosts(rawURL)
	if err != nil {
		return err
	}
	path, query, _ := strings.Cut(rest, "?")
	master := strings.Trim(path, "/")
	if master == "" || strings.Contains(master, "/") {
		return urlError(rawURL, "want redis+sentinel://host1,host2/master-name")
	}
	if m, err := url.PathUnescape(master); err == nil {
		master = m
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return urlError(rawURL, "query: %v", err)
	}
	names := []string{"db", "dial_timeout", "read_timeout", "write_timeout", "max_retries", "dialer_retries", "pool_size", "sentinel_auth"}
	if useTLS {
		names = append(names, redistls.Params...)
	}
	q, err := params(vals, names...)
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	o := &redis.FailoverOptions{
		MasterName:    master,
		SentinelAddrs: hosts,
		DialTimeout:   redisstore.DefaultDialTimeout,
		ReadTimeout:   redisstore.DefaultReadTimeout,
		WriteTimeout:  redisstore.DefaultWriteTimeout,
		MaxRetries:    redisstore.DefaultMaxRetries,
		DialerRetries: redisstore.DefaultDialerRetries,
	}
	if user != "" {
		ui, err := url.Parse("redis://" + user + "x")
		if err != nil || ui.User == nil {
			return urlError(rawURL, "malformed user or password")
		}
		o.Username = ui.User.Username()
		o.Password, _ = ui.User.Password()
	}
	if auth, err := q.bool("sentinel_auth"); err != nil {
		return urlError(rawURL, "%v", err)
	} else if auth {
		o.SentinelUsername, o.SentinelPassword = o.Username, o.Password
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"dial_timeout", &o.DialTimeout}, {"read_timeout", &o.ReadTimeout}, {"write_timeout", &o.WriteTimeout}} {
		if err := q.duration(d.name, d.dst); err != nil {
			return urlError(rawURL, "%v", err)
		}
	}
	for _, d := range []struct {
		name string
		dst  *int
	}{{"db", &o.DB}, {"max_retries", &o.MaxRetries}, {"dialer_retries", &o.DialerRetries}, {"pool_size", &o.PoolSize}} {
		if q.has(d.name) {
			n, err := q.int(d.name)
			if err != nil {
				return urlError(rawURL, "%v", err)
			}
			*d.dst = n
		}
	}
	if useTLS {
		// No ServerName: each connection checks the certificate against
		// the host it dials, a Sentinel's or the master's.
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if err := redistls.Apply(o.TLSConfig, q); err != nil {
			return urlError(rawURL, "%v", err)
		}
	}
	return c.useRedis(rawURL, redis.NewFailoverClient(o), so)
}

func (c *Connection) useRedis(rawURL string, client redis.UniversalClient, so redisstore.Options) error {
	c.closes = append(c.closes, client.Close)
	store, err := redisstore.New(client, so)
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	reg, err := redisreg.New(client, redisreg.Options{})
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	c.Backend, c.Registry = store, reg // the store leases: no Locker
	c.ping = func(ctx context.Context) error { return client.Ping(ctx).Err() }
	return nil
}

func (c *Connection) openMemcached(rawURL string) error {
	user, hosts, rest, err := splitHosts(rawURL)
	if err != nil {
		return err
	}
	if user != "" {
		return urlError(rawURL, "memcached takes no user or password")
	}
	path, query, _ := strings.Cut(rest, "?")
	if path != "" && path != "/" {
		return urlError(rawURL, "memcached has no path")
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return urlError(rawURL, "query: %v", err)
	}
	q, err := params(vals, "timeout", "max_idle_conns", "failures", "cooldown", "max_item_size")
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	var po memcachestore.PoolOptions
	var so memcachestore.Options
	if err := q.duration("timeout", &po.Timeout); err != nil {
		return urlError(rawURL, "%v", err)
	}
	if err := q.duration("cooldown", &po.Cooldown); err != nil {
		return urlError(rawURL, "%v", err)
	}
	for _, d := range []struct {
		name string
		dst  *int
	}{{"max_idle_conns", &po.MaxIdleConns}, {"failures", &po.Failures}, {"max_item_size", &so.MaxItemSize}} {
		if *d.dst, err = q.int(d.name); err != nil {
			return urlError(rawURL, "%v", err)
		}
	}
	pool, err := memcachestore.NewPool(po, hosts...)
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	c.closes = append(c.closes, pool.Close)
	client := pool.Client()
	// On the Pool itself, the store and the registry use the meta
	// protocol where it saves round trips (the store's leases too).
	store, err := memcachestore.New(pool, so)
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	reg, err := memcachereg.New(pool, memcachereg.Options{})
	if err != nil {
		return urlError(rawURL, "%v", err)
	}
	c.Backend, c.Registry = store, reg // the store leases: no Locker
	c.ping = func(ctx context.Context) error {
		if err := pingMemcached(ctx, client); err != nil {
			return err
		}
		return pool.CheckVersions()
	}
	return nil
}

// pingMemcached pings every server of client, giving up when ctx ends.
func pingMemcached(ctx context.Context, client *memcache.Client) error {
	done := make(chan error, 1)
	go func() { done <- client.Ping() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// splitHosts splits scheme://[userinfo@]h1,h2/rest into the userinfo with
// its "@" (or ""), the hosts, each checked as host:port, and what follows
// them ("/path?query", "?query" or "").
func splitHosts(rawURL string) (user string, hosts []string, rest string, err error) {
	_, after, _ := strings.Cut(rawURL, "://")
	end := strings.IndexAny(after, "/?")
	if end < 0 {
		end = len(after)
	}
	// A password may hold '/' or '?': the userinfo ends at the last '@'
	// before the host list, which holds none.
	if at := strings.LastIndex(after, "@"); at >= 0 {
		user = after[:at+1]
		after = after[at+1:]
		end = strings.IndexAny(after, "/?")
		if end < 0 {
			end = len(after)
		}
	}
	hostList, rest := after[:end], after[end:]
	if hostList == "" {
		return "", nil, "", urlError(rawURL, "no host: want host1:port,host2:port")
	}
	for _, h := range strings.Split(hostList, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return "", nil, "", urlError(rawURL, "host %q is not host:port", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", nil, "", urlError(rawURL, "host %q: port %q is not in 1..65535", h, port)
		}
		hosts = append(hosts, h)
	}
	return user, hosts, rest, nil
}

// query holds a URL's parameters, each known and given at most once.
type query map[string]string

// params checks that vals holds only names, each once.
func params(vals url.Values, names ...string) (query, error) {
	q := query{}
	for k, v := range vals {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return nil, fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(names, ", "))
		}
		if len(v) != 1 {
			return nil, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
		q[k] = v[0]
	}
	return q, nil
}

func (q query) has(name string) bool { _, ok := q[name]; return ok }

func (q query) int(name string) (int, error) {
	v, ok := q[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a non-negative integer", name, v)
	}
	return n, nil
}

func (q query) bool(name string) (bool, error) {
	v, ok := q[name]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q is not a boolean", name, v)
	}
	return b, nil
}

func (q query) duration(name string, dst *time.Duration) error {
	v, ok := q[name]
	if !ok {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%s %q is not a duration such as 200ms", name, v)
	}
	*dst = d
	return nil
}
