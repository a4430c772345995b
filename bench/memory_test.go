package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	gocachelib "github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/store"
	gocachestore "github.com/eko/gocache/store/go_cache/v4"
	rediscache "github.com/go-redis/cache/v9"
	"github.com/maypok86/otter/v2"
	gocache "github.com/patrickmn/go-cache"
	"github.com/viccon/sturdyc"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/region"
)

// hitTTL is the expiration of the hit scenarios: long enough that nothing
// expires while they run.
const hitTTL = time.Hour

// memoryLibs builds, for scenario 1, each library's get-or-create over an
// in-process cache with the creator c.load. Each builder registers its own
// clean-up.
var memoryLibs = []struct {
	name  string
	build func(b *testing.B, c *counter, ttl time.Duration) getFunc
}{
	{"corral", corralMemory},
	{"corral-static", corralStatic},
	{"otter", otterLoader},
	{"otter-bare", otterBare},
	{"sturdyc", sturdycMemory},
	{"eko-gocache", ekoMemory},
	{"go-redis-cache", goRedisCacheLocal},
}

// BenchmarkMemoryHit is scenario 1: GetOrCreate of a fresh value held in
// process memory, by 1 and 64 goroutines.
func BenchmarkMemoryHit(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			for _, lib := range memoryLibs {
				b.Run(lib.name, func(b *testing.B) {
					c := &counter{}
					runHits(b, v.parallel, c, nil, lib.build(b, c, hitTTL))
				})
			}
		})
	}
}

// corralMemory is a region on corral's memory backend, which keeps decoded
// values.
func corralMemory(b *testing.B, c *counter, ttl time.Duration) getFunc {
	mem, err := memory.New(memory.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mem.Close() })
	r, err := region.New("bench", region.Config{Backend: mem, Expiration: ttl})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return func(ctx context.Context, key string) (fixture.User, error) {
		return region.GetOrCreate(ctx, r, key, func(context.Context) (fixture.User, error) {
			return c.load(key), nil
		})
	}
}

// errCold is what the static creator of corralStatic returns.
var errCold = errors.New("bench: cold key")

// corralStatic is corral with a creator that captures nothing (a static
// func), falling back to a capturing one only when the key is cold. It shows
// what a hit costs when the caller's creator closure is not allocated: a
// creator that captures the key escapes to the heap at every call, because
// the region may run it in a goroutine of its own.
func corralStatic(b *testing.B, c *counter, ttl time.Duration) getFunc {
	r, err := region.New("static", region.Config{Expiration: ttl})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	static := func(context.Context) (fixture.User, error) { return fixture.User{}, errCold }
	return func(ctx context.Context, key string) (fixture.User, error) {
		u, err := region.GetOrCreate(ctx, r, key, static)
		if errors.Is(err, errCold) {
			u = c.load(key)
			err = r.Set(ctx, key, u)
		}
		return u, err
	}
}

// newOtter is an otter cache of fixture.User with corral's default bound.
func newOtter(b *testing.B, ttl time.Duration) *otter.Cache[string, fixture.User] {
	o, err := otter.New(&otter.Options[string, fixture.User]{
		MaximumSize:      memory.DefaultMaxEntries,
		ExpiryCalculator: otter.ExpiryWriting[string, fixture.User](ttl),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.StopAllGoroutines() })
	return o
}

// otterLoader is otter v2's Get with a loader.
func otterLoader(b *testing.B, c *counter, ttl time.Duration) getFunc {
	o := newOtter(b, ttl)
	loader := otter.LoaderFunc[string, fixture.User](func(_ context.Context, key string) (fixture.User, error) {
		return c.load(key), nil
	})
	return func(ctx context.Context, key string) (fixture.User, error) {
		return o.Get(ctx, key, loader)
	}
}

// otterBare is otter v2's GetIfPresent, with a Set on a miss: the floor, a
// bare concurrent map lookup with no loader, lock or metadata.
func otterBare(b *testing.B, c *counter, ttl time.Duration) getFunc {
	o := newOtter(b, ttl)
	return func(_ context.Context, key string) (fixture.User, error) {
		if u, ok := o.GetIfPresent(key); ok {
			return u, nil
		}
		u := c.load(key)
		o.Set(key, u)
		return u, nil
	}
}

// sturdycMemory is sturdyc's GetOrFetch (no early refreshes in the hit
// scenario: every value is fresh).
func sturdycMemory(b *testing.B, c *counter, ttl time.Duration) getFunc {
	s := sturdyc.New[fixture.User](memory.DefaultMaxEntries, 16, ttl, 10)
	return func(ctx context.Context, key string) (fixture.User, error) {
		return s.GetOrFetch(ctx, key, func(context.Context) (fixture.User, error) {
			return c.load(key), nil
		})
	}
}

// ekoMemory is eko/gocache's loadable cache over its go-cache store.
func ekoMemory(b *testing.B, c *counter, ttl time.Duration) getFunc {
	gc := gocache.New(ttl, 10*time.Minute)
	l := gocachelib.NewLoadable[fixture.User](func(_ context.Context, key any) (fixture.User, []store.Option, error) {
		return c.load(key.(string)), []store.Option{store.WithExpiration(ttl)}, nil
	}, gocachelib.New[fixture.User](gocachestore.NewGoCache(gc)))
	b.Cleanup(func() { l.Close() })
	return func(ctx context.Context, key string) (fixture.User, error) {
		return l.Get(ctx, key)
	}
}

// goRedisCacheLocal is go-redis/cache's Once with only its local TinyLFU
// cache, no Redis. It keeps encoded bytes and decodes them on every hit.
func goRedisCacheLocal(b *testing.B, c *counter, ttl time.Duration) getFunc {
	rc := rediscache.New(&rediscache.Options{LocalCache: rediscache.NewTinyLFU(memory.DefaultMaxEntries, ttl)})
	return func(ctx context.Context, key string) (fixture.User, error) {
		var u fixture.User
		err := rc.Once(&rediscache.Item{
			Ctx: ctx, Key: key, Value: &u, TTL: ttl,
			Do: func(*rediscache.Item) (any, error) { return c.load(key), nil },
		})
		return u, err
	}
}
