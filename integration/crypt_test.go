package integration_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

type cardHolder struct {
	Name, Card string
	Notes      string
}

// TestEncryptedRegions runs encrypted regions with hashed keys on a real
// Redis, a Redis Cluster and memcached: values round-trip through Set,
// GetOrCreate and a cached function; the server holds neither the values
// nor the keys in the clear; bytes copied to another key are a miss; and
// keys rotate (write with key 1, rotate to key 2, read both, retire key 1).
func TestEncryptedRegions(t *testing.T) {
	type target struct {
		store  backend.Backend
		region func(t *testing.T, cfg region.Config) *region.Region
	}
	targets := map[string]func(t *testing.T) target{
		"Redis": func(t *testing.T) target {
			st := newRedisStack(t, redisClient(t, servers.Redis(t).Addr))
			return target{st.store, func(t *testing.T, cfg region.Config) *region.Region { return st.region(t, "vault", cfg) }}
		},
		"Cluster": func(t *testing.T) target {
			st := newRedisStack(t, clusterClient(t, servers.RedisCluster(t, 3).Addrs()))
			return target{st.store, func(t *testing.T, cfg region.Config) *region.Region { return st.region(t, "vault", cfg) }}
		},
		"memcached": func(t *testing.T) target {
			st := newMCStack(t, memcachereg.Options{}, mcServer(t).Addr)
			return target{st.store, func(t *testing.T, cfg region.Config) *region.Region { return st.region(t, "vault", cfg) }}
		},
	}
	mangle, err := region.HashKeys(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	secret := cardHolder{Name: "Ada Lovelace", Card: "4111-1111-1111-1111", Notes: strings.Repeat("analytical engine ", 20)}
	for name, build := range targets {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tg := build(t)
			cfg := func(k *serializer.Keyring) region.Config {
				return region.Config{Keyring: k, KeyMangler: mangle, CompressAbove: 64, Expiration: time.Minute, Logger: slog.New(slog.DiscardHandler)}
			}
			r1 := tg.region(t, cfg(testKeyring(t, 1, 1)))
			if err := r1.Set(ctx, "user:1", secret); err != nil {
				t.Fatal(err)
			}
			if _, err := region.GetOrCreate(ctx, r1, "user:2", func(context.Context) (cardHolder, error) { return secret, nil }); err != nil {
				t.Fatal(err)
			}
			load, err := region.Cache1(r1, func(_ context.Context, id int) (cardHolder, error) { return secret, nil }, region.Named("loadCard"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := load.Call(ctx, 7); err != nil {
				t.Fatal(err)
			}
			fnKey, _, err := load.Key(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"user:1", "user:2", fnKey} {
				bk := r1.BackendKey(k)
				if strings.Contains(bk, "user") || strings.Contains(bk, "vault") || strings.Contains(bk, "loadCard") {
					t.Errorf("backend key %q shows the key", bk)
				}
				raw, err := tg.store.Get(ctx, bk)
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				if bytes.Contains(raw, []byte("4111")) || bytes.Contains(raw, []byte("Lovelace")) || bytes.Contains(raw, []byte("engine")) {
					t.Errorf("the server holds %s in the clear", k)
				}
			}
			for _, k := range []string{"user:1", "user:2"} {
				if v, ok, err := region.Get[cardHolder](ctx, r1, k); err != nil || !ok || v != secret {
					t.Fatalf("Get(%s) = %+v, %t, %v", k, v, ok, err)
				}
			}
			if v, found, err := load.Get(ctx, 7); err != nil || !found || v != secret {
				t.Fatalf("cached function Get = %+v, %t, %v", v, found, err)
			}

			// Copied to another key on the server: a miss, counted.
			raw, err := tg.store.Get(ctx, r1.BackendKey("user:1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tg.store.Set(ctx, r1.BackendKey("user:3"), raw, time.Minute); err != nil {
				t.Fatal(err)
			}
			if v, ok, _ := region.Get[cardHolder](ctx, r1, "user:3"); ok {
				t.Fatalf("an entry copied to another key decoded: %+v", v)
			}
			if s := r1.Stats(); s.DecodeErrors != 1 {
				t.Fatalf("stats %+v, want 1 decode error", s)
			}
			_ = r1.Close()

			// Rotate: key 2 encrypts, key 1 still decrypts.
			r2 := tg.region(t, cfg(testKeyring(t, 2, 1, 2)))
			if v, ok, _ := region.Get[cardHolder](ctx, r2, "user:1"); !ok || v != secret {
				t.Fatalf("after rotation, the key-1 entry = %+v, %t", v, ok)
			}
			if err := r2.Set(ctx, "user:4", secret); err != nil {
				t.Fatal(err)
			}
			_ = r2.Close()

			// Retire key 1: its entries are misses, key 2's still read.
			r3 := tg.region(t, cfg(testKeyring(t, 2, 2)))
			if v, ok, _ := region.Get[cardHolder](ctx, r3, "user:4"); !ok || v != secret {
				t.Fatalf("after retiring key 1, the key-2 entry = %+v, %t", v, ok)
			}
			if _, ok, _ := region.Get[cardHolder](ctx, r3, "user:1"); ok {
				t.Fatal("after retiring key 1, its entry still decoded")
			}
			if s := r3.Stats(); s.DecodeErrors != 1 {
				t.Fatalf("stats %+v, want 1 decode error", s)
			}
		})
	}
}

// testKeyring returns a keyring of ids (each key filled with its ID) whose
// current key is current.
func testKeyring(t testing.TB, current uint32, ids ...uint32) *serializer.Keyring {
	t.Helper()
	keys := make(map[uint32][]byte, len(ids))
	for _, id := range ids {
		keys[id] = bytes.Repeat([]byte{byte(id)}, serializer.KeySize)
	}
	k, err := serializer.NewKeyring(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
