package integration_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// deployment is a set of servers several processes share; newRegion builds a
// region on it with clients of its own, as another process would.
type deployment struct {
	name      string
	newRegion func(t *testing.T, name string, cfg region.Config) *region.Region
	// newRegionWith is newRegion with the process's registry passed
	// through wrap, to fault it.
	newRegionWith func(t *testing.T, name string, cfg region.Config, wrap func(keyreg.Registry) keyreg.Registry) *region.Region
	// expireLock deletes the item of a lock (a region's LockKey) from the
	// servers behind its holder's back, as an expiry would, and reports
	// whether there was one.
	expireLock func(t *testing.T, lockKey string) bool
}

// sharedDeployments starts a Redis, a three-master Redis Cluster and a
// memcached for the test.
func sharedDeployments(t *testing.T) []deployment {
	t.Helper()
	srv := servers.Redis(t)
	cl := servers.RedisCluster(t, 3)
	mc := mcServer(t)
	onRedis := func(name string, client func(t *testing.T) redis.UniversalClient) deployment {
		with := func(t *testing.T, name string, cfg region.Config, wrap func(keyreg.Registry) keyreg.Registry) *region.Region {
			s := newRedisStack(t, client(t))
			if wrap != nil {
				cfg.Registry = wrap(s.reg)
			}
			return s.region(t, name, cfg)
		}
		return deployment{
			name: name,
			newRegion: func(t *testing.T, name string, cfg region.Config) *region.Region {
				return with(t, name, cfg, nil)
			},
			newRegionWith: with,
			expireLock: func(t *testing.T, lockKey string) bool {
				n, err := client(t).Del(t.Context(), lockKey).Result()
				if err != nil {
					t.Fatal(err)
				}
				return n == 1
			},
		}
	}
	with := func(t *testing.T, name string, cfg region.Config, wrap func(keyreg.Registry) keyreg.Registry) *region.Region {
		s := newMCStack(t, memcachereg.Options{CacheFor: -1}, mc.Addr)
		if wrap != nil {
			cfg.Registry = wrap(s.reg)
		}
		return s.region(t, name, cfg)
	}
	return []deployment{
		onRedis("redis", func(t *testing.T) redis.UniversalClient { return redisClient(t, srv.Addr) }),
		onRedis("cluster", func(t *testing.T) redis.UniversalClient { return clusterClient(t, cl.Addrs()) }),
		{
			name: "memcached",
			newRegion: func(t *testing.T, name string, cfg region.Config) *region.Region {
				return with(t, name, cfg, nil)
			},
			newRegionWith: with,
			expireLock: func(t *testing.T, lockKey string) bool {
				// memcachelocker keeps a lock in the item its key mangles to.
				err := mcClient(t, mc.Addr).Delete(memcachestore.MangleKey(lockKey))
				if err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
					t.Fatal(err)
				}
				return err == nil
			},
		},
	}
}

type account struct{ Name string }
type order struct {
	Name  string
	Total int
}

// TestKeysAndIdentitiesOnServers checks, on every shared backend, that keys
// a caller chooses reach neither another region's keys nor the region's own
// locks and marks, and that cached functions and value types of regions
// sharing the servers keep apart.
func TestKeysAndIdentitiesOnServers(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()

			t.Run("a value named like a lock", func(t *testing.T) {
				r := d.newRegion(t, "door", region.Config{LockWait: 300 * time.Millisecond})
				if err := r.Set(ctx, "door:lock", "a value"); err != nil {
					t.Fatal(err)
				}
				v, err := region.GetOrCreate(ctx, r, "door", func(context.Context) (string, error) { return "created", nil })
				if errors.Is(err, region.ErrLockTimeout) || v != "created" {
					t.Fatalf("creating door after caching door:lock: %q, %v", v, err)
				}
			})

			t.Run("namespaces that extend each other", func(t *testing.T) {
				users := d.newRegion(t, "users", region.Config{})
				usersV2 := d.newRegion(t, "users:v2", region.Config{})
				if err := users.Set(ctx, "v2:1", "from users"); err != nil {
					t.Fatal(err)
				}
				if err := usersV2.Set(ctx, "1", "from users:v2"); err != nil {
					t.Fatal(err)
				}
				if v, _, err := region.Get[string](ctx, users, "v2:1"); v != "from users" {
					t.Fatalf("users v2:1 = %q, %v", v, err)
				}
				if v, _, err := region.Get[string](ctx, usersV2, "1"); v != "from users:v2" {
					t.Fatalf("users:v2 1 = %q, %v", v, err)
				}
			})

			t.Run("invalidation marks out of reach", func(t *testing.T) {
				a := d.newRegion(t, "marks", region.Config{})
				if err := a.Set(ctx, "k", "before"); err != nil {
					t.Fatal(err)
				}
				if err := a.Invalidate(ctx, region.Hard); err != nil {
					t.Fatal(err)
				}
				b := d.newRegion(t, "marks", region.Config{})
				for _, key := range []string{"\x00invalidated:hard", "}:g:hard"} {
					if err := b.Delete(ctx, key); err != nil {
						t.Fatal(err)
					}
				}
				later := d.newRegion(t, "marks", region.Config{})
				if v, found, _ := region.Get[string](ctx, later, "k"); found {
					t.Fatalf("a process started later reads %q: the invalidation was undone through user keys", v)
				}
			})

			t.Run("regions sharing the registry", func(t *testing.T) {
				var funcs [2]*region.Func1[int, string]
				for i, name := range []string{"tenantA", "tenantB"} {
					r := d.newRegion(t, name, region.Config{})
					calls := 0
					f, err := region.Cache1(r, func(_ context.Context, id int) (string, error) {
						calls++
						return fmt.Sprintf("%s/%d/%d", name, id, calls), nil
					}, region.Named("load"))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := f.Call(ctx, 1); err != nil {
						t.Fatal(err)
					}
					funcs[i] = f
				}
				if err := funcs[0].InvalidateAll(ctx); err != nil {
					t.Fatal(err)
				}
				if v, _ := funcs[1].Call(ctx, 1); v != "tenantB/1/1" {
					t.Fatalf("tenantB after tenantA's InvalidateAll: %q, want its cached value", v)
				}
				if err := funcs[1].InvalidateAll(ctx); err != nil {
					t.Fatal(err)
				}
				if v, _ := funcs[1].Call(ctx, 1); v != "tenantB/1/2" {
					t.Fatalf("tenantB after its own InvalidateAll: %q, want a new value", v)
				}
			})

			t.Run("one region name, two value types", func(t *testing.T) {
				a := d.newRegion(t, "clash", region.Config{})
				b := d.newRegion(t, "clash", region.Config{})
				if err := a.Set(ctx, "42", account{Name: "alice"}); err != nil {
					t.Fatal(err)
				}
				got, err := region.GetOrCreate(ctx, b, "42", func(context.Context) (order, error) { return order{Name: "created"}, nil })
				if err != nil || got.Name != "created" {
					t.Fatalf("got %+v, %v: an account was decoded as an order", got, err)
				}
				if s := b.Stats(); s.DecodeErrors != 1 {
					t.Fatalf("decode errors = %d, want 1", s.DecodeErrors)
				}
			})
		})
	}
}
