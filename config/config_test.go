package config_test

import (
	"errors"
	"github.com/corralcache/corral/backend"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// TestFileErrors checks that every kind of mistake in a file, or in the
// environment overriding it, is an *Error naming the file and line (or the
// variable) and the field, wrapping region.ErrInvalidConfig, and that no
// password reaches the message.
func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		env  []string
		line int    // 0: no line (an environment variable)
		env1 string // the variable named, if any
		want []string
	}{
		{"unknown top key", "regions:\n  a: {}\nregion:\n  b: {}\n", nil, 3, "", []string{"region", "unknown key"}},
		{"unknown field", "regions:\n  users:\n    expiration: 1m\n    expirations: 2m\n", nil, 4, "", []string{"regions.users.expirations", "unknown field", "lock_ttl"}},
		{"bad duration", "regions:\n  users:\n    lock_ttl: 10 seconds\n", nil, 3, "", []string{"regions.users.lock_ttl", `"10 seconds" is not a duration`}},
		{"negative duration", "regions:\n  users:\n    grace: -1s\n", nil, 3, "", []string{"regions.users.grace", "negative"}},
		{"unknown serializer", "regions:\n  users:\n    serializer: gob\n", nil, 3, "", []string{"regions.users.serializer", `unknown serializer "gob"`}},
		{"bad stale", "regions:\n  users:\n    stale: never\n", nil, 3, "", []string{"regions.users.stale", "serve or block"}},
		{"bad bool", "regions:\n  users:\n    fail_closed: sometimes\n", nil, 3, "", []string{"regions.users.fail_closed", "true or false"}},
		{"bad int", "regions:\n  users:\n    compress_above: -3\n", nil, 3, "", []string{"regions.users.compress_above", "non-negative integer"}},
		{"bad url scheme", "regions:\n  users:\n    expiration: 1m\n    url: mysql://db:3306\n", nil, 4, "", []string{"regions.users.url", `unknown scheme "mysql"`}},
		{"bad url port", "regions:\n  users:\n    url: memcached://127.0.0.1:99999\n", nil, 3, "", []string{"regions.users.url", "not in 1..65535"}},
		{"bad url param", "regions:\n  users:\n    url: redis+sentinel://127.0.0.1:26379/mymaster?db=x\n", nil, 3, "", []string{"regions.users.url", `db "x"`}},
		{"literal password", "regions:\n  users:\n    url: redis://:hunter2@127.0.0.1:6379\n", nil, 3, "", []string{"regions.users.url", "holds a password", "xxxxx"}},
		{"unset variable", "regions:\n  users:\n    url: redis://:${NO_SUCH_PW}@127.0.0.1:6379\n", []string{}, 3, "", []string{"regions.users.url", `"NO_SUCH_PW" is not set`}},
		{"bad url from variable", "regions:\n  users:\n    url: redis://:${PW}@127.0.0.1:6379/x\n", []string{"PW=hunter2"}, 3, "", []string{"regions.users.url", "xxxxx"}},
		{"duplicate region", "regions:\n  users: {}\n  users: {}\n", nil, 3, "", []string{"regions.users", "twice"}},
		{"same env name", "regions:\n  a-b: {}\n  a_b: {}\n", nil, 3, "", []string{"regions.a_b", "A_B"}},
		{"duplicate field", "regions:\n  users:\n    grace: 1m\n    grace: 2m\n", nil, 4, "", []string{"regions.users.grace", "twice"}},
		{"no regions", "defaults:\n  grace: 1m\n", nil, 0, "", []string{"regions", "missing"}},
		{"not a mapping", "regions:\n  users: 3\n", nil, 2, "", []string{"regions.users", "want a mapping"}},
		{"null value", "regions:\n  users:\n    grace:\n", nil, 3, "", []string{"regions.users.grace", "want a value"}},
		{"yaml syntax", "regions:\n  users:\n    grace: [1m\n", nil, 2, "", []string{"did not find"}},
		{"bad default", "defaults:\n  lock_wait: soon\nregions:\n  users: {}\n", nil, 2, "", []string{"regions.users.lock_wait", `"soon"`}},
		{"region refuses", "regions:\n  users:\n    stale: block\n    background_regeneration: true\n", nil, 2, "", []string{"regions.users", "BlockOnStale"}},
		{"env bad duration", "regions:\n  users: {}\n", []string{"CORRAL_REGIONS_USERS_EXPIRATION=forever"}, 0, "CORRAL_REGIONS_USERS_EXPIRATION", []string{"regions.users.expiration", `"forever"`}},
		{"env unknown field", "regions:\n  users: {}\n", []string{"CORRAL_REGIONS_USERS_EXPIRY=1m"}, 0, "CORRAL_REGIONS_USERS_EXPIRY", []string{"names no region and field", "USERS"}},
		{"env unknown region", "regions:\n  users: {}\n", []string{"CORRAL_REGIONS_USER_URL=memory://"}, 0, "CORRAL_REGIONS_USER_URL", []string{"names no region and field"}},
		{"env bad url", "regions:\n  users: {}\n", []string{"CORRAL_REGIONS_USERS_URL=redis://:hunter2@127.0.0.1:0"}, 0, "CORRAL_REGIONS_USERS_URL", []string{"regions.users.url", "xxxxx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = []string{}
			}
			rs, err := config.Parse("corral.yaml", []byte(tc.yaml), config.Options{Environ: env})
			if err == nil {
				_ = rs.Close()
				t.Fatal("no error")
			}
			msg := err.Error()
			var ce *config.Error
			if !errors.As(err, &ce) || !errors.Is(err, region.ErrInvalidConfig) {
				t.Fatalf("%v: not a *config.Error wrapping region.ErrInvalidConfig", err)
			}
			if tc.env1 != "" {
				if ce.Env != tc.env1 || !strings.Contains(msg, "environment "+tc.env1) {
					t.Fatalf("%q does not name %s", msg, tc.env1)
				}
			} else if !strings.HasPrefix(msg, "corral.yaml") {
				t.Fatalf("%q does not name the file", msg)
			}
			if tc.line > 0 && (ce.Line != tc.line || !strings.HasPrefix(msg, "corral.yaml:"+itoa(tc.line)+":")) {
				t.Fatalf("%q: line %d, want %d", msg, ce.Line, tc.line)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("%q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "hunter2") {
				t.Fatalf("%q holds the password", msg)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestFileFields checks that every field of the file reaches region.Config,
// that a region's own fields beat the defaults and the environment beats
// both, and that ${NAME} is expanded in URLs.
func TestFileFields(t *testing.T) {
	const file = `
defaults:
  url: memory://?max_entries=${ENTRIES}
  lock_wait: 3s
  expiration: 1h
regions:
  users:
    serializer: json
    compress_above: 512
    expiration: 10m
    grace: 5m
    lock_ttl: 20s
    stale: serve
    background_regeneration: true
    fail_closed: true
    namespace: u1
    invalidation_refresh: 250ms
    breaker_threshold: -1
    breaker_cooldown: 2s
  sessions:
    serializer: raw
    stale: block
`
	got := map[string]region.Config{}
	rs, err := config.Parse("corral.yaml", []byte(file), config.Options{
		Environ: []string{"ENTRIES=1000", "CORRAL_REGIONS_SESSIONS_EXPIRATION=90s", "OTHER=x"},
		Configure: func(name string, c *region.Config) error {
			got[name] = *c
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	u := got["users"]
	if _, ok := u.Serializer.(serializer.JSON); !ok {
		t.Errorf("users serializer %T, want JSON", u.Serializer)
	}
	if u.CompressAbove != 512 || u.Expiration != 10*time.Minute || u.Grace != 5*time.Minute || u.LockTTL != 20*time.Second ||
		u.LockWait != 3*time.Second || u.Stale != region.ServeStale || !u.BackgroundRegeneration || !u.FailClosed ||
		u.Namespace != "u1" || u.InvalidationRefresh != 250*time.Millisecond || u.BreakerThreshold != -1 || u.BreakerCooldown != 2*time.Second {
		t.Errorf("users config %+v", u)
	}
	s := got["sessions"]
	if _, ok := s.Serializer.(serializer.Raw); !ok || s.Stale != region.BlockOnStale || s.Expiration != 90*time.Second || s.LockWait != 3*time.Second {
		t.Errorf("sessions config %+v", s)
	}
	if _, ok := u.Backend.(*memory.Backend); !ok || u.Backend != s.Backend {
		t.Errorf("backends %T %T: want one shared memory backend for one URL", u.Backend, s.Backend)
	}
	if _, ok := u.Locker.(*lock.Local); !ok {
		t.Errorf("locker %T, want lock.Local", u.Locker)
	}
	if names := rs.Names(); strings.Join(names, ",") != "users,sessions" {
		t.Errorf("Names = %v", names)
	}
	if c, err := rs.Connection("users"); err != nil || c.String() != "memory://?max_entries=1000" {
		t.Errorf("Connection = %v, %v", c, err)
	}
	if err := rs.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestRegionsLifecycle builds regions from a file on disk, uses one, and
// checks Region's errors and that Close closes every region, once.
func TestRegionsLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corral.yaml")
	if err := os.WriteFile(path, []byte("regions:\n  users:\n    expiration: 1m\n  orders:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := config.Load(path, config.Options{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	users, err := rs.Region("users")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := users.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Region("nope"); !errors.Is(err, config.ErrUnknownRegion) || !strings.Contains(err.Error(), "users, orders") {
		t.Fatalf("Region(nope) = %v", err)
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rs.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	orders, _ := rs.Region("orders")
	for _, r := range []*region.Region{users, orders} {
		if err := r.Set(ctx, "k", "v"); !errors.Is(err, region.ErrClosed) {
			t.Fatalf("%s after Close: %v, want ErrClosed", r.Name(), err)
		}
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"), config.Options{}); !errors.Is(err, region.ErrInvalidConfig) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestOpen checks the clients each scheme makes, without servers (Open
// does not connect), and that bad URLs fail with ErrInvalidURL and no
// password.
func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		url   string
		check func(t *testing.T, c *config.Connection)
	}{
		{"memory://?max_entries=10&serialize=true", func(t *testing.T, c *config.Connection) {
			if b, ok := c.Backend.(*memory.Backend); !ok || b.KeepsValues() {
				t.Fatalf("backend %T, want a serializing memory backend", c.Backend)
			}
		}},
		{"redis://:pw@127.0.0.1:1/3", func(t *testing.T, c *config.Connection) {
			if _, ok := c.Backend.(*redisstore.Store).Client().(*redis.Client); !ok {
				t.Fatal("want a single-node client")
			}
		}},
		{"redis+cluster://127.0.0.1:1,127.0.0.1:2?read_timeout=1s", func(t *testing.T, c *config.Connection) {
			cc, ok := c.Backend.(*redisstore.Store).Client().(*redis.ClusterClient)
			if !ok {
				t.Fatal("want a Cluster client")
			}
			if o := cc.Options(); o.ReadTimeout != time.Second || o.DialTimeout != redisstore.DefaultDialTimeout {
				t.Fatalf("cluster options %v %v", o.ReadTimeout, o.DialTimeout)
			}
		}},
		{"redis+cluster://127.0.0.1:7000", func(t *testing.T, c *config.Connection) {
			if _, ok := c.Backend.(*redisstore.Store).Client().(*redis.ClusterClient); !ok {
				t.Fatal("one host: want a Cluster client still")
			}
		}},
		{"redis+sentinel://u:p%2Fw@127.0.0.1:1,127.0.0.1:2/mymaster?db=2&dial_timeout=50ms", func(t *testing.T, c *config.Connection) {
			rc, ok := c.Backend.(*redisstore.Store).Client().(*redis.Client)
			if !ok {
				t.Fatal("want a failover client")
			}
			if o := rc.Options(); o.DB != 2 || o.DialTimeout != 50*time.Millisecond || o.Username != "u" || o.Password != "p/w" || o.ReadTimeout != redisstore.DefaultReadTimeout {
				t.Fatalf("failover options: db %d dial %v user %q read %v", o.DB, o.DialTimeout, o.Username, o.ReadTimeout)
			}
		}},
		{"memcached://127.0.0.1:1,127.0.0.1:2?timeout=100ms&max_item_size=2048", func(t *testing.T, c *config.Connection) {
			if _, ok := c.Backend.(*memcachestore.Store); !ok {
				t.Fatalf("backend %T", c.Backend)
			}
		}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := config.Open(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tc.check(t, c)
			if c.Registry == nil {
				t.Fatal("no registry")
			}
			// A store that leases takes the lock with the lease: no
			// Locker; another needs one.
			if _, leases := c.Backend.(backend.Leaser); leases == (c.Locker != nil) {
				t.Fatalf("backend %T (leases: %t) with Locker %T", c.Backend, leases, c.Locker)
			}
			if strings.Contains(c.String(), "pw") || strings.Contains(c.String(), ":p%2Fw") {
				t.Fatalf("String %q holds the password", c.String())
			}
		})
	}
	for _, bad := range []string{
		"127.0.0.1:6379", "ftp://x", "memory://host", "memory://?max_entries=-1", "memory://?size=3",
		"redis://:pw@127.0.0.1:6379?bogus=1", "redis://:pw@127.0.0.1:0", "rediss://:pw@h:1?ca_file=/nonexistent",
		"redis+cluster://:pw@", "redis+cluster://:pw@127.0.0.1:1/0", "redis+cluster://h:1?addr=h:2", "redis+cluster://h",
		"redis+sentinel://:pw@h:1", "redis+sentinel://:pw@h:1/m?bogus=1", "redis+sentinel://:pw@h:1/m?dial_timeout=x",
		"memcached://", "memcached://u:pw@h:1", "memcached://h:1/path", "memcached://h:1?timeout=-1s", "memcached://h:1?x=1",
	} {
		t.Run(bad, func(t *testing.T) {
			c, err := config.Open(bad)
			if err == nil {
				_ = c.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, config.ErrInvalidURL) || !errors.Is(err, region.ErrInvalidConfig) {
				t.Fatalf("%v: want ErrInvalidURL and ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Fatalf("%q holds the password", err)
			}
		})
	}
}

// TestREADMEExample loads the YAML example of the README, so that it stays
// true. Open connects to nothing, so no server is needed.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n# corral.yaml\n")
	if !ok {
		t.Fatal("README has no corral.yaml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	got := map[string]region.Config{}
	rs, err := config.Parse("README.md", []byte(example), config.Options{
		Environ:   []string{"REDIS_PASSWORD=pw"},
		Configure: func(name string, c *region.Config) error { got[name] = *c; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if _, ok := got["users"].Backend.(*redisstore.Store); !ok {
		t.Errorf("users on %T, want Redis", got["users"].Backend)
	}
	if s := got["sessions"]; s.Namespace != "sess" || !s.BackgroundRegeneration || s.CompressAbove != 1024 {
		t.Errorf("sessions %+v", s)
	}
}

// TestFileAnchors checks YAML anchors, aliases and merge keys: merged
// fields apply, the mapping's own fields win.
func TestFileAnchors(t *testing.T) {
	const file = `
x-common: &common
  expiration: 5m
  lock_wait: 2s
regions:
  users:
    <<: *common
    lock_wait: 9s
  orders: *common
`
	got := map[string]region.Config{}
	_, err := config.Parse("corral.yaml", []byte(file), config.Options{Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "corral.yaml:2: x-common: unknown key") {
		t.Fatalf("an unknown top-level key holding the anchor: %v", err)
	}
	file2 := strings.Replace(file, "x-common: &common", "defaults: &common", 1)
	rs, err := config.Parse("corral.yaml", []byte(file2), config.Options{Environ: []string{}, Configure: func(n string, c *region.Config) error { got[n] = *c; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if u := got["users"]; u.Expiration != 5*time.Minute || u.LockWait != 9*time.Second {
		t.Errorf("users: expiration %v, lock_wait %v; want 5m from the merge, its own 9s", u.Expiration, u.LockWait)
	}
	if o := got["orders"]; o.Expiration != 5*time.Minute || o.LockWait != 2*time.Second {
		t.Errorf("orders: expiration %v, lock_wait %v", o.Expiration, o.LockWait)
	}
}

// TestBreakerPerURL: the regions of one URL share its circuit breaker (one
// server, one set of failures) unless their settings differ; another URL
// gets its own.
func TestBreakerPerURL(t *testing.T) {
	file := `
regions:
  a: {url: "redis://127.0.0.1:1", expiration: 1m}
  b: {url: "redis://127.0.0.1:1", expiration: 1m}
  c: {url: "redis://127.0.0.1:1", expiration: 1m, breaker_threshold: 9}
  d: {url: "redis://127.0.0.1:2", expiration: 1m}
  e: {url: "redis://127.0.0.1:1", expiration: 1m, breaker_threshold: -1}
`
	rs, err := config.Parse("corral.yaml", []byte(file), config.Options{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	breaker := func(name string) *region.Breaker {
		cfg, err := rs.Config(name)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Breaker
	}
	a, b, c, d, e := breaker("a"), breaker("b"), breaker("c"), breaker("d"), breaker("e")
	switch {
	case a == nil || a != b:
		t.Fatalf("a and b, on one URL: breakers %p and %p, want one", a, b)
	case c == nil || c == a:
		t.Fatalf("c, another threshold: breaker %p, want its own", c)
	case d == nil || d == a:
		t.Fatalf("d, another URL: breaker %p, want its own", d)
	case e != nil:
		t.Fatalf("e, no breakers: %p", e)
	}
}
