package integration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/region"
)

// configSecret is the password of the servers that take one; it reaches
// the URLs only through the environment.
const configSecret = "s3cret-pw"

// configScheme is one URL scheme with its servers: url is what the file
// holds, env the environment it is loaded with, stop stops every server.
type configScheme struct {
	name string
	url  string
	env  []string
	stop func()
}

// configSchemes starts, for each URL scheme, its servers on loopback.
func configSchemes(t *testing.T) []configScheme {
	t.Helper()
	env := []string{"PW=" + configSecret}
	var out []configScheme

	single := servers.Redis(t, "--requirepass", configSecret)
	out = append(out, configScheme{"redis", "redis://:${PW}@" + single.Addr + "/1", env, single.Stop})

	tlsSrv, files := servers.RedisTLS(t)
	out = append(out, configScheme{"rediss", fmt.Sprintf("rediss://%s?ca_file=%s&cert_file=%s&key_file=%s", tlsSrv.Addr, files.CA, files.ClientCert, files.ClientKey), nil, tlsSrv.Stop})

	cluster := servers.RedisCluster(t, 3)
	out = append(out, configScheme{"redis+cluster", "redis+cluster://" + strings.Join(cluster.Addrs(), ","), nil, func() {
		for _, n := range cluster.Nodes {
			n.Stop()
		}
	}})

	master := servers.Redis(t, "--requirepass", configSecret)
	sentinel := servers.Sentinel(t, master, "corral-master", configSecret)
	out = append(out, configScheme{"redis+sentinel", "redis+sentinel://:${PW}@" + sentinel.Addr + "/corral-master?db=2", env, func() {
		master.Stop()
		sentinel.Stop()
	}})

	tlsMaster, tlsFiles := servers.RedisTLS(t)
	tlsSentinel := servers.SentinelTLS(t, tlsMaster, tlsFiles, "corral-tls")
	out = append(out, configScheme{"rediss+sentinel", fmt.Sprintf("rediss+sentinel://%s/corral-tls?ca_file=%s&cert_file=%s&key_file=%s",
		tlsSentinel.Addr, tlsFiles.CA, tlsFiles.ClientCert, tlsFiles.ClientKey), nil, func() {
		tlsMaster.Stop()
		tlsSentinel.Stop()
	}})

	mc1, mc2 := servers.Memcached(t), servers.Memcached(t)
	out = append(out, configScheme{"memcached", "memcached://" + mc1.Addr + "," + mc2.Addr, nil, func() {
		mc1.Stop()
		mc2.Stop()
	}})
	return out
}

// writeConfig writes a configuration file with one region, users, on url.
func writeConfig(t *testing.T, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corral.yaml")
	body := fmt.Sprintf("regions:\n  users:\n    url: %q\n    expiration: 1m\n    lock_wait: 5s\n    invalidation_refresh: 20ms\n", url)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigURLSchemes loads one file twice — two processes' worth of
// regions — for every URL scheme against real servers (a password from the
// environment on Redis and through a Sentinel, mutual TLS on rediss and to
// a Sentinel and its master on rediss+sentinel), and
// checks that the two share values, the key registry and invalidation
// through the servers, that Ping answers while the servers run and fails,
// without the password, once they are stopped.
func TestConfigURLSchemes(t *testing.T) {
	for _, sc := range configSchemes(t) {
		t.Run(sc.name, func(t *testing.T) {
			ctx := mcCtx(t, 30*time.Second)
			path := writeConfig(t, sc.url)
			a, err := config.Load(path, config.Options{Environ: sc.env})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := config.Load(path, config.Options{Environ: sc.env})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, rs := range []*config.Regions{a, b} {
				if err := rs.Ping(ctx); err != nil {
					t.Fatalf("Ping: %v", err)
				}
				if c, _ := rs.Connection("users"); strings.Contains(c.String(), configSecret) {
					t.Fatalf("Connection %q holds the password", c)
				}
			}
			ra, _ := a.Region("users")
			rb, _ := b.Region("users")
			name := "load-" + strings.ReplaceAll(t.Name(), "/", "-")
			fa, err := region.Cache1(ra, func(context.Context, int) (string, error) { return "from a", nil }, region.Named(name))
			if err != nil {
				t.Fatal(err)
			}
			fb, err := region.Cache1(rb, func(context.Context, int) (string, error) { return "from b", nil }, region.Named(name))
			if err != nil {
				t.Fatal(err)
			}
			if v, err := fa.Call(ctx, 42); err != nil || v != "from a" {
				t.Fatalf("a: %q, %v", v, err)
			}
			var out region.Outcome
			if v, err := fb.Call(ctx, 42, region.ReportOutcome(&out)); err != nil || v != "from a" || out != region.OutcomeHit {
				t.Fatalf("b: %q, %v, %v; want a's value, a hit", v, err, out)
			}
			if _, recorded, err := fb.Key(ctx, 42); err != nil || !recorded {
				t.Fatalf("b: key recorded %v, %v; want the registry shared", recorded, err)
			}
			if err := fa.Invalidate(ctx, 42); err != nil {
				t.Fatal(err)
			}
			if _, found, err := fb.Get(ctx, 42); err != nil || found {
				t.Fatalf("b after a's Invalidate: found %v, %v", found, err)
			}
			if keys, err := fb.Keys(ctx); err != nil && !errors.Is(err, keyreg.ErrNotListable) {
				t.Fatalf("Keys: %v", err)
			} else if len(keys) != 0 {
				t.Fatalf("Keys after Invalidate: %v", keys)
			}

			sc.stop()
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err = a.Ping(pctx)
			if err == nil {
				t.Fatal("Ping with the servers stopped: no error")
			}
			if strings.Contains(err.Error(), configSecret) {
				t.Fatalf("Ping error %q holds the password", err)
			}
			t.Logf("Ping with the servers stopped: %v", err)
			if err := a.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

// TestConfigEnvURLOverride points a region, declared on memory:// in the
// file, at a real Redis through CORRAL_REGIONS_USERS_URL (password
// included), and checks it reaches the server.
func TestConfigEnvURLOverride(t *testing.T) {
	srv := servers.Redis(t, "--requirepass", configSecret)
	path := writeConfig(t, "memory://")
	rs, err := config.Load(path, config.Options{Environ: []string{"CORRAL_REGIONS_USERS_URL=redis://:" + configSecret + "@" + srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ctx := mcCtx(t, 10*time.Second)
	if err := rs.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	users, _ := rs.Region("users")
	if err := users.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	info, err := users.Inspect(ctx, "k")
	if err != nil || !info.Present || info.Size == 0 {
		t.Fatalf("Inspect = %+v, %v; want the value in Redis", info, err)
	}
	if c, _ := rs.Connection("users"); strings.Contains(c.String(), configSecret) {
		t.Fatalf("%q holds the password", c)
	}
}

// TestConfigBlocks loads a file with the near, keyring and early_refresh
// blocks on a real Redis twice (two processes): the second process serves
// a value from its near cache, sees the first's write through Redis's
// invalidations within the bound near.tracking_timeout sets, and the value
// is sealed with the keyring's current key.
func TestConfigBlocks(t *testing.T) {
	srv := servers.Redis(t, "--requirepass", configSecret)
	path := filepath.Join(t.TempDir(), "corral.yaml")
	body := fmt.Sprintf(`
defaults:
  url: redis://:${PW}@%s
  expiration: 1m
regions:
  users:
    near:
      max_entries: 100
      tracking_timeout: 2s
    keyring:
      current: 2
      keys:
        1: ${KEY_1}
        2: ${KEY_2}
    early_refresh:
      enabled: true
      beta: 1.5
`, srv.Addr)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PW=" + configSecret, "KEY_1=" + strings.Repeat("ab", 32), "KEY_2=" + strings.Repeat("cd", 32)}
	a, err := config.Load(path, config.Options{Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := config.Load(path, config.Options{Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ra, _ := a.Region("users")
	rb, _ := b.Region("users")
	waitNearLive(t, ra, rb)
	ctx := mcCtx(t, 30*time.Second)
	if err := ra.Set(ctx, "n", 1); err != nil {
		t.Fatal(err)
	}
	if v := warmNear(t, rb, "n"); v != 1 {
		t.Fatalf("b read %d, want 1", v)
	}
	if info, err := rb.Inspect(ctx, "n"); err != nil || !info.Sealed {
		t.Fatalf("Inspect = %+v, %v; want a sealed entry", info, err)
	}
	if err := ra.Set(ctx, "n", 2); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for getInt(t, rb, "n") != 2 {
		if time.Since(start) > 2*time.Second+time.Second {
			t.Fatalf("b still reads the old value %v after a's write", time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	if c, _ := a.Config("users"); !c.EarlyRefresh.Enabled || c.EarlyRefresh.Beta != 1.5 || c.Keyring.Current() != 2 {
		t.Fatalf("Config: %+v", c)
	}
}
