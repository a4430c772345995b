package config_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// testKey returns a key of 32 bytes, all b, in base64.
func testKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// loadConfigs parses file with env and returns the Config of each region.
func loadConfigs(t *testing.T, file string, env []string) (*config.Regions, map[string]region.Config) {
	t.Helper()
	got := map[string]region.Config{}
	rs, err := config.Parse("corral.yaml", []byte(file), config.Options{
		Environ:   env,
		Configure: func(name string, c *region.Config) error { c.Logger = quietLogger; got[name] = *c; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	return rs, got
}

var quietLogger = slog.New(slog.DiscardHandler)

// TestFileBlocks checks that the near, early_refresh and keyring blocks and
// negative_expiration reach region.Config; that a region's own block
// replaces the defaults' as a whole; and that CORRAL_DEFAULTS_ and
// CORRAL_REGIONS_ variables reach a block's fields and the keys.
func TestFileBlocks(t *testing.T) {
	const file = `
defaults:
  url: memory://?serialize=true
  expiration: 1h
  near:
    max_entries: 100
    max_staleness: 50ms
  early_refresh:
    enabled: true
    beta: 2
  keyring:
    current: 2
    keys:
      1: ${KEY_ONE}
      2: ${KEY_TWO}
regions:
  users:
    negative_expiration: 30s
  orders:
    near:
      max_entries: 7
    early_refresh:
      enabled: false
    keyring:
      keys:
        9: ${KEY_NINE}
  plain:
    url: memory://
    expiration: never
    near: {max_entries: 0}
    early_refresh: {enabled: false, beta: 3}
`
	env := []string{"KEY_ONE=" + testKey(1), "KEY_TWO=" + hex.EncodeToString(bytes.Repeat([]byte{2}, 32)), "KEY_NINE=" + testKey(9)}
	rs, got := loadConfigs(t, file, env)

	u := got["users"]
	if u.Near != (region.NearConfig{MaxEntries: 100, MaxStaleness: 50 * time.Millisecond}) {
		t.Errorf("users near %+v", u.Near)
	}
	if !u.EarlyRefresh.Enabled || u.EarlyRefresh.Beta != 2 {
		t.Errorf("users early refresh %+v", u.EarlyRefresh)
	}
	if u.Keyring == nil || u.Keyring.Current() != 2 || len(u.Keyring.IDs()) != 2 {
		t.Errorf("users keyring %v", u.Keyring)
	}
	if u.NegativeExpiration != 30*time.Second || u.Expiration != time.Hour {
		t.Errorf("users negative expiration %v, expiration %v", u.NegativeExpiration, u.Expiration)
	}

	o := got["orders"]
	if o.Near != (region.NearConfig{MaxEntries: 7}) {
		t.Errorf("orders near %+v: want its own block only, no max_staleness from the defaults", o.Near)
	}
	if o.EarlyRefresh.Enabled || o.EarlyRefresh.Beta != 0 {
		t.Errorf("orders early refresh %+v: want its own block (off), no beta from the defaults", o.EarlyRefresh)
	}
	if o.Keyring == nil || o.Keyring.Current() != 9 || len(o.Keyring.IDs()) != 1 {
		t.Errorf("orders keyring %v: want its own, key 9 current as the only one", o.Keyring)
	}

	p := got["plain"]
	if p.Expiration != 0 || p.Near.MaxEntries != 0 || p.EarlyRefresh.Enabled || p.EarlyRefresh.Beta != 0 {
		t.Errorf("plain %+v", p)
	}
	if c, err := rs.Config("orders"); err != nil || c.Near.MaxEntries != 7 {
		t.Errorf("Config(orders) = %+v, %v", c.Near, err)
	}
	if _, err := rs.Config("nope"); !errors.Is(err, config.ErrUnknownRegion) {
		t.Errorf("Config(nope) = %v", err)
	}

	// The environment: the defaults' block through CORRAL_DEFAULTS_, one
	// region's through CORRAL_REGIONS_, a key given in the variable itself.
	_, got = loadConfigs(t, file, append(env,
		"CORRAL_DEFAULTS_NEAR_MAX_ENTRIES=300",
		"CORRAL_DEFAULTS_EARLY_REFRESH_BETA=0.5",
		"CORRAL_DEFAULTS_LOCK_WAIT=2s",
		"CORRAL_REGIONS_ORDERS_NEAR_MAX_STALENESS=20ms",
		"CORRAL_REGIONS_ORDERS_EARLY_REFRESH_ENABLED=true",
		"CORRAL_REGIONS_USERS_KEYRING_KEYS_3="+testKey(3),
		"CORRAL_REGIONS_USERS_KEYRING_CURRENT=3",
	))
	u, o = got["users"], got["orders"]
	if u.Near.MaxEntries != 300 || u.EarlyRefresh.Beta != 0.5 || u.LockWait != 2*time.Second || o.LockWait != 2*time.Second {
		t.Errorf("CORRAL_DEFAULTS_: users near %+v, beta %v, lock wait %v; orders lock wait %v", u.Near, u.EarlyRefresh.Beta, u.LockWait, o.LockWait)
	}
	if o.Near != (region.NearConfig{MaxEntries: 7, MaxStaleness: 20 * time.Millisecond}) || !o.EarlyRefresh.Enabled {
		t.Errorf("CORRAL_REGIONS_ORDERS_: near %+v, early refresh %+v", o.Near, o.EarlyRefresh)
	}
	if u.Keyring.Current() != 3 || len(u.Keyring.IDs()) != 3 {
		t.Errorf("users keyring from the environment: %v", u.Keyring)
	}
}

// TestFileDefaultsEnv checks that CORRAL_DEFAULTS_<FIELD> takes the place of
// the defaults' field, below a region's own field and its
// CORRAL_REGIONS_ variable, and works without a defaults: block.
func TestFileDefaultsEnv(t *testing.T) {
	file := "regions:\n  users: {}\n  orders:\n    expiration: 5m\n"
	_, got := loadConfigs(t, file, []string{"CORRAL_DEFAULTS_EXPIRATION=1m", "CORRAL_DEFAULTS_URL=memory://?max_entries=10"})
	if got["users"].Expiration != time.Minute || got["orders"].Expiration != 5*time.Minute {
		t.Errorf("expirations %v, %v; want 1m from the variable, orders' own 5m", got["users"].Expiration, got["orders"].Expiration)
	}
	_, got = loadConfigs(t, "defaults:\n  expiration: 1h\n"+file, []string{"CORRAL_DEFAULTS_EXPIRATION=1m", "CORRAL_REGIONS_USERS_EXPIRATION=2m"})
	if got["users"].Expiration != 2*time.Minute {
		t.Errorf("users expiration %v, want its own variable's 2m", got["users"].Expiration)
	}
}

// TestFileBlockErrors is TestFileErrors for the blocks, the keyring, the
// new fields and CORRAL_DEFAULTS_: every bad value names the file and line
// (or the variable) and the field, and no key reaches the message.
func TestFileBlockErrors(t *testing.T) {
	keys := []string{"K1=" + testKey(1), "K2=" + testKey(2), "SHORT=" + base64.StdEncoding.EncodeToString([]byte("hunter2")), "JUNK=hunter2!!"}
	for _, tc := range []struct {
		name string
		yaml string
		env  []string
		line int
		env1 string
		want []string
	}{
		{"near not a mapping", "regions:\n  users:\n    near: 100\n", nil, 3, "", []string{"regions.users.near", "want a mapping", "max_entries"}},
		{"near unknown field", "regions:\n  users:\n    near:\n      max_entires: 100\n", nil, 4, "", []string{"regions.users.near.max_entires", "unknown field", "max_staleness"}},
		{"near negative size", "regions:\n  users:\n    url: memory://?serialize=true\n    near:\n      max_entries: -1\n", nil, 5, "", []string{"regions.users.near.max_entries", "non-negative integer"}},
		{"near bad size", "regions:\n  users:\n    near:\n      max_entries: lots\n", nil, 4, "", []string{"regions.users.near.max_entries", `"lots"`}},
		{"near bad staleness", "regions:\n  users:\n    near:\n      max_entries: 10\n      max_staleness: soon\n", nil, 5, "", []string{"regions.users.near.max_staleness", `"soon" is not a duration`}},
		{"near negative staleness", "regions:\n  users:\n    near:\n      max_entries: 10\n      max_staleness: -1s\n", nil, 5, "", []string{"regions.users.near.max_staleness", "negative"}},
		{"near without size", "regions:\n  users:\n    near:\n      max_staleness: 1s\n", nil, 4, "", []string{"regions.users.near.max_entries", "missing"}},
		{"near given twice", "regions:\n  users:\n    near: {max_entries: 1}\n    near: {max_entries: 2}\n", nil, 4, "", []string{"regions.users.near", "twice"}},
		{"near on values in memory", "regions:\n  users:\n    near: {max_entries: 10}\n", nil, 2, "", []string{"regions.users", "decoded values"}},
		{"tracking timeout bad", "regions:\n  users:\n    url: redis://127.0.0.1:1\n    near:\n      max_entries: 10\n      tracking_timeout: later\n", nil, 6, "", []string{"regions.users.near.tracking_timeout", `"later"`}},
		{"tracking timeout under ping", "regions:\n  users:\n    url: redis://127.0.0.1:1\n    near:\n      max_entries: 10\n      tracking_timeout: 50ms\n", nil, 6, "", []string{"regions.users.near.tracking_timeout", "does not exceed"}},
		{"tracking timeout off Redis", "regions:\n  users:\n    url: memcached://127.0.0.1:1\n    near:\n      max_entries: 10\n      tracking_timeout: 2s\n", nil, 6, "", []string{"regions.users.near.tracking_timeout", "not a Redis URL"}},
		{"tracking timeouts differ", "defaults:\n  url: redis://127.0.0.1:1\nregions:\n  a:\n    near: {max_entries: 10, tracking_timeout: 2s}\n  b:\n    near: {max_entries: 10, tracking_timeout: 3s}\n", nil, 7, "", []string{"regions.b.near.tracking_timeout", `region "a"`, "corral.yaml:5"}},
		{"early refresh bad beta", "regions:\n  users:\n    early_refresh:\n      enabled: true\n      beta: -1\n", nil, 5, "", []string{"regions.users.early_refresh.beta", "≥ 0"}},
		{"early refresh word beta", "regions:\n  users:\n    early_refresh:\n      enabled: true\n      beta: high\n", nil, 5, "", []string{"regions.users.early_refresh.beta", `"high"`}},
		{"early refresh infinite beta", "regions:\n  users:\n    early_refresh:\n      enabled: true\n      beta: .inf\n", nil, 5, "", []string{"regions.users.early_refresh.beta"}},
		{"early refresh bad enabled", "regions:\n  users:\n    early_refresh:\n      enabled: maybe\n", nil, 4, "", []string{"regions.users.early_refresh.enabled", "true or false"}},
		{"early refresh without enabled", "regions:\n  users:\n    early_refresh:\n      beta: 2\n", nil, 4, "", []string{"regions.users.early_refresh.enabled", "missing"}},
		{"early refresh unknown field", "regions:\n  users:\n    early_refresh:\n      on: true\n", nil, 4, "", []string{"regions.users.early_refresh.on", "unknown field", "enabled"}},
		{"negative expiration bad", "regions:\n  users:\n    negative_expiration: often\n", nil, 3, "", []string{"regions.users.negative_expiration", `"often"`}},
		{"expiration nevermore", "regions:\n  users:\n    expiration: nevermore\n", nil, 3, "", []string{"regions.users.expiration", `"nevermore"`}},
		{"literal key", "regions:\n  users:\n    keyring:\n      keys:\n        1: hunter2-literal-key\n", keys, 5, "", []string{"regions.users.keyring.keys.1", "written in the file", "${NAME}"}},
		{"key partly a reference", "regions:\n  users:\n    keyring:\n      keys:\n        1: hunter2${K1}\n", keys, 5, "", []string{"regions.users.keyring.keys.1", "written in the file"}},
		{"key variable unset", "regions:\n  users:\n    keyring:\n      keys:\n        1: ${NO_SUCH_KEY}\n", keys, 5, "", []string{"regions.users.keyring.keys.1", `"NO_SUCH_KEY" is not set`}},
		{"key too short", "regions:\n  users:\n    keyring:\n      keys:\n        1: ${SHORT}\n", keys, 5, "", []string{"regions.users.keyring.keys.1", "SHORT", "7 bytes", "openssl rand"}},
		{"key not encoded", "regions:\n  users:\n    keyring:\n      keys:\n        1: ${JUNK}\n", keys, 5, "", []string{"regions.users.keyring.keys.1", "JUNK", "neither base64 nor"}},
		{"key ID bad", "regions:\n  users:\n    keyring:\n      keys:\n        first: ${K1}\n", keys, 5, "", []string{"regions.users.keyring.keys.first", "not a key ID"}},
		{"key ID too large", "regions:\n  users:\n    keyring:\n      keys:\n        4294967296: ${K1}\n", keys, 5, "", []string{"not a key ID"}},
		{"key ID twice", "regions:\n  users:\n    keyring:\n      keys:\n        1: ${K1}\n        01: ${K2}\n", keys, 6, "", []string{"key ID 1 given twice"}},
		{"key null", "regions:\n  users:\n    keyring:\n      keys:\n        1:\n", keys, 5, "", []string{"regions.users.keyring.keys.1", "want ${NAME}"}},
		{"keys not a mapping", "regions:\n  users:\n    keyring:\n      keys: ${K1}\n", keys, 4, "", []string{"regions.users.keyring.keys", "mapping of key IDs"}},
		{"keyring unknown field", "regions:\n  users:\n    keyring:\n      primary: 1\n", keys, 4, "", []string{"regions.users.keyring.primary", "unknown field", "current"}},
		{"current not a key", "regions:\n  users:\n    keyring:\n      current: 3\n      keys:\n        1: ${K1}\n", keys, 4, "", []string{"regions.users.keyring.current", "current key ID 3 is not among"}},
		{"current bad", "regions:\n  users:\n    keyring:\n      current: newest\n      keys:\n        1: ${K1}\n", keys, 4, "", []string{"regions.users.keyring.current", "not a key ID"}},
		{"current without keys", "regions:\n  users:\n    keyring:\n      current: 1\n", keys, 4, "", []string{"regions.users.keyring.current", "no keyring.keys"}},
		{"several keys no current", "regions:\n  users:\n    keyring:\n      keys:\n        1: ${K1}\n        2: ${K2}\n", keys, 5, "", []string{"regions.users.keyring", "no keyring.current"}},
		{"env key bad", "regions:\n  users: {}\n", []string{"CORRAL_REGIONS_USERS_KEYRING_KEYS_1=hunter2"}, 0, "CORRAL_REGIONS_USERS_KEYRING_KEYS_1", []string{"regions.users.keyring.keys.1", "does not hold a key"}},
		{"env key ID bad", "regions:\n  users: {}\n", []string{"CORRAL_REGIONS_USERS_KEYRING_KEYS_X=hunter2"}, 0, "CORRAL_REGIONS_USERS_KEYRING_KEYS_X", []string{"names no region and field", "KEYRING_KEYS_<ID>"}},
		{"env near bad", "regions:\n  users: {}\n", []string{"CORRAL_REGIONS_USERS_NEAR_MAX_ENTRIES=many"}, 0, "CORRAL_REGIONS_USERS_NEAR_MAX_ENTRIES", []string{"regions.users.near.max_entries", `"many"`}},
		{"defaults env unknown field", "regions:\n  users: {}\n", []string{"CORRAL_DEFAULTS_EXPIRY=1m"}, 0, "CORRAL_DEFAULTS_EXPIRY", []string{"names no field", "CORRAL_DEFAULTS_<FIELD>", "EXPIRATION"}},
		{"defaults env bad value", "regions:\n  users: {}\n", []string{"CORRAL_DEFAULTS_LOCK_WAIT=soon"}, 0, "CORRAL_DEFAULTS_LOCK_WAIT", []string{"regions.users.lock_wait", `"soon"`}},
		{"defaults env bad url", "regions:\n  users: {}\n", []string{"CORRAL_DEFAULTS_URL=redis://:hunter2@127.0.0.1:0"}, 0, "CORRAL_DEFAULTS_URL", []string{"regions.users", "xxxxx"}},
		{"unknown scheme", "regions:\n  users:\n    url: disk:///tmp/x.db\n", nil, 3, "", []string{"regions.users.url", `unknown scheme "disk"`, "Options.Schemes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = []string{}
			}
			rs, err := config.Parse("corral.yaml", []byte(tc.yaml), config.Options{Environ: env,
				Configure: func(_ string, c *region.Config) error { c.Logger = quietLogger; return nil }})
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
			} else if tc.line > 0 && (ce.Line != tc.line || !strings.HasPrefix(msg, "corral.yaml:"+itoa(tc.line)+":")) {
				t.Fatalf("%q: line %d, want %d", msg, ce.Line, tc.line)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("%q does not say %q", msg, w)
				}
			}
			for _, secret := range []string{"hunter2", testKey(1), testKey(2)} {
				if strings.Contains(msg, secret) {
					t.Fatalf("%q holds a secret", msg)
				}
			}
		})
	}
}

// TestFileTrackingTimeout checks that regions on one Redis URL may each
// set the same near.tracking_timeout (they share one Connection), and
// that one region's tracking_timeout reaches the regions on its URL that
// set none.
func TestFileTrackingTimeout(t *testing.T) {
	file := `
defaults:
  url: redis://127.0.0.1:1
  expiration: 1m
regions:
  a:
    near: {max_entries: 10, tracking_timeout: 2s}
  b:
    near: {max_entries: 10, tracking_timeout: 2s}
  c: {}
`
	rs, got := loadConfigs(t, file, []string{})
	if got["a"].Backend != got["b"].Backend || got["a"].Backend != got["c"].Backend {
		t.Fatal("regions on one URL: want one shared store")
	}
	if _, ok := got["a"].Backend.(*redisstore.Store); !ok {
		t.Fatalf("backend %T", got["a"].Backend)
	}
	_ = rs
}

// TestMissingExpirationLogged checks the warning Load logs for a region
// without expiration, and that expiration: never (or any value) silences
// it.
func TestMissingExpirationLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	rs, err := config.Parse("corral.yaml", []byte("regions:\n  users: {}\n  orders: {expiration: never}\n  items: {expiration: 1m}\n"), config.Options{
		Environ:   []string{},
		Configure: func(_ string, c *region.Config) error { c.Logger = logger; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "no expiration") || !strings.Contains(out, "region=users") {
		t.Fatalf("logged %q; want a warning for users", out)
	}
	if strings.Contains(out, "region=orders") || strings.Contains(out, "region=items") || strings.Count(out, "\n") != 1 {
		t.Fatalf("logged %q; want one line, for users only", out)
	}
}

// TestRedissSentinel checks rediss+sentinel://: a failover client with TLS
// and the TLS parameters, which redis+sentinel:// refuses.
func TestRedissSentinel(t *testing.T) {
	c, err := config.Open("rediss+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/mymaster?skip_verify=true&db=1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, ok := c.Backend.(*redisstore.Store).Client().(*redis.Client)
	if !ok {
		t.Fatal("want a failover client")
	}
	if o := rc.Options(); o.TLSConfig == nil || !o.TLSConfig.InsecureSkipVerify || o.DB != 1 {
		t.Fatalf("options: TLS %v, db %d", o.TLSConfig, o.DB)
	}
	for _, bad := range []string{
		"redis+sentinel://127.0.0.1:1/m?skip_verify=true",
		"rediss+sentinel://127.0.0.1:1/m?ca_file=/nonexistent/ca.pem",
		"rediss+sentinel://127.0.0.1:1/m?cert_file=/nonexistent/c.pem",
		"rediss+sentinel://:pw@127.0.0.1:1",
	} {
		if c, err := config.Open(bad); err == nil {
			_ = c.Close()
			t.Errorf("%s: no error", bad)
		} else if !errors.Is(err, config.ErrInvalidURL) || strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// fakeStore is a backend an Opener returns: it records Close and Ping.
type fakeStore struct {
	*memory.Backend
	url            string
	closed, pinged int
}

func (f *fakeStore) Close() error                   { f.closed++; return f.Backend.Close() }
func (f *fakeStore) Ping(ctx context.Context) error { f.pinged++; return nil }

// TestSchemes checks Options.Schemes: an Opener's backend, locker and
// registry reach the regions, one Connection per URL, closed and pinged
// through the backend; its errors wrap ErrInvalidURL; bad scheme tables are
// refused.
func TestSchemes(t *testing.T) {
	var opened []*fakeStore
	fake := func(rawURL string) (backend.Backend, lock.Locker, keyreg.Registry, error) {
		if strings.Contains(rawURL, "fail") {
			return nil, nil, nil, errors.New("cannot open that")
		}
		b, err := memory.New(memory.Options{Serialize: true})
		if err != nil {
			return nil, nil, nil, err
		}
		reg, _ := keyreg.NewMemory(keyreg.MemoryOptions{})
		s := &fakeStore{Backend: b, url: rawURL}
		opened = append(opened, s)
		return s, lock.NewLocal(), reg, nil
	}
	schemes := map[string]config.Opener{"fake": fake}
	file := "defaults:\n  url: fake://here\n  expiration: 1m\nregions:\n  a: {}\n  b: {}\n  c: {url: fake://there}\n"
	got := map[string]region.Config{}
	rs, err := config.Parse("corral.yaml", []byte(file), config.Options{Environ: []string{}, Schemes: schemes,
		Configure: func(n string, c *region.Config) error { got[n] = *c; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(opened) != 2 || opened[0].url != "fake://here" || got["a"].Backend != got["b"].Backend || got["a"].Backend == got["c"].Backend {
		t.Fatalf("opened %d stores; want one per URL", len(opened))
	}
	if _, ok := got["a"].Locker.(*lock.Local); !ok {
		t.Fatalf("locker %T", got["a"].Locker)
	}
	if err := rs.Ping(t.Context()); err != nil || opened[0].pinged != 1 {
		t.Fatalf("Ping: %v, pinged %d", err, opened[0].pinged)
	}
	if err := rs.Close(); err != nil || opened[0].closed != 1 || opened[1].closed != 1 {
		t.Fatalf("Close: %v, closed %d %d", err, opened[0].closed, opened[1].closed)
	}

	if c, err := config.OpenWith("fake://x", config.Options{Schemes: schemes}); err != nil {
		t.Fatal(err)
	} else {
		_ = c.Close()
	}
	if _, err := config.OpenWith("fake://fail", config.Options{Schemes: schemes}); !errors.Is(err, config.ErrInvalidURL) || !strings.Contains(err.Error(), "cannot open that") {
		t.Fatalf("failing opener: %v", err)
	}
	if _, err := config.Open("fake://x"); !errors.Is(err, config.ErrInvalidURL) {
		t.Fatalf("Open without the scheme: %v", err)
	}
	_, err = config.Parse("corral.yaml", []byte("regions:\n  a: {url: fake://fail}\n"), config.Options{Environ: []string{}, Schemes: schemes})
	if ce := (*config.Error)(nil); !errors.As(err, &ce) || ce.Line != 2 || ce.Field != "regions.a.url" {
		t.Fatalf("failing opener in a file: %v", err)
	}
	for name, bad := range map[string]map[string]config.Opener{
		"built in":   {"redis": fake},
		"not a name": {"Disk": fake},
		"empty":      {"": fake},
		"nil":        {"disk": nil},
	} {
		if _, err := config.OpenWith("memory://", config.Options{Schemes: bad}); !errors.Is(err, region.ErrInvalidConfig) {
			t.Errorf("%s: OpenWith: %v", name, err)
		}
		if _, err := config.Parse("corral.yaml", []byte("regions:\n  a: {}\n"), config.Options{Schemes: bad}); !errors.Is(err, region.ErrInvalidConfig) {
			t.Errorf("%s: Parse: %v", name, err)
		}
	}
}
