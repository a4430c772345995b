package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/bench/internal/libs"
	"github.com/corralcache/corral/region"
)

// roundTrips is a go-redis hook that counts round trips to the server: one
// per command, one per pipeline.
type roundTrips struct{ n atomic.Int64 }

var _ redis.Hook = (*roundTrips)(nil)

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// reset zeroes the count; a nil hook does nothing.
func (h *roundTrips) reset() {
	if h != nil {
		h.n.Store(0)
	}
}

// report adds the round trips per operation to b's results.
func (h *roundTrips) report(b *testing.B) {
	if h != nil {
		b.ReportMetric(float64(h.n.Load())/float64(b.N), "round-trips/op")
	}
}

// BenchmarkRedisHit is scenario 2: GetOrCreate of a fresh value held in
// Redis (no in-process cache), by 64 goroutines; corral-encrypted is corral
// with its values sealed (Config.Keyring), for the cost of encryption.
func BenchmarkRedisHit(b *testing.B) {
	b.Run("g64", func(b *testing.B) {
		for _, name := range append(slices.Clone(libs.Names), "corral-encrypted", "corral-tagged") {
			b.Run(name, func(b *testing.B) {
				c := &counter{}
				client, rt := newCountedRedis(b)
				runHits(b, true, c, rt, redisGet(b, name, client, c))
			})
		}
	})
}

// BenchmarkRedisMiss is a cold miss on Redis: a get-or-create of a key
// nobody has read, one goroutine, the creator instant — what every call of a
// low-hit-ratio workload pays. corral's creation (the first read, the lease
// that is the lock, the store under it) beside raw GET + SET, go-redis/cache's
// Once and eko/gocache's loadable cache. The round-trips/op metric counts
// commands and pipelines.
func BenchmarkRedisMiss(b *testing.B) {
	for _, name := range libs.Names {
		b.Run(name, func(b *testing.B) {
			c := &counter{}
			client, rt := newCountedRedis(b)
			get := redisGet(b, name, client, c)
			ctx := context.Background()
			// Warm up: connections, scripts, the region's generations.
			for i := range 10 {
				if _, err := get(ctx, fmt.Sprintf("warm:%d", i)); err != nil {
					b.Fatal(err)
				}
			}
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = fmt.Sprintf("miss:%d:%d", b.N, i)
			}
			created := c.n.Load()
			rt.reset()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				u, err := get(ctx, keys[i])
				if err != nil || u.ID != fixture.IDOf(keys[i]) {
					b.Fatalf("get %s: %v, id %d", keys[i], err, u.ID)
				}
			}
			b.StopTimer()
			if n := c.n.Load() - created; n != int64(b.N) {
				b.Fatalf("the creator ran %d times for %d cold keys", n, b.N)
			}
			rt.report(b)
		})
	}
}

// redisGet is the named library's get-or-create over client with creator
// c.load, released when b ends.
func redisGet(b *testing.B, name string, client *redis.Client, c *counter) getFunc {
	get, release, err := libs.Redis(name, client, hitTTL, func(_ context.Context, key string) (fixture.User, error) {
		return c.load(key), nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(release)
	return getFunc(get)
}

// newCountedRedis returns a client of an empty database that counts its
// round trips.
func newCountedRedis(b *testing.B) (*redis.Client, *roundTrips) {
	client := newRedis(b)
	rt := &roundTrips{}
	client.AddHook(rt)
	return client, rt
}

// multiKeys is the number of keys of a multi-get.
const multiKeys = 100

// multiFunc reads the Users under keys, in order, through one library.
type multiFunc func(ctx context.Context, keys []string) ([]fixture.User, error)

// BenchmarkRedisMulti is scenario 3: a get-or-create of 100 keys, all hits,
// on Redis: corral's GetOrCreateMulti against a bare MGET and a decode of
// each value. The round-trips/op metric should be 1.
func BenchmarkRedisMulti(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			b.Run("corral", func(b *testing.B) {
				c := &counter{}
				client, rt := newCountedRedis(b)
				r, err := libs.CorralRegion(client, hitTTL)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { r.Close() })
				get := func(ctx context.Context, key string) (fixture.User, error) {
					return region.GetOrCreate(ctx, r, key, func(context.Context) (fixture.User, error) {
						return c.load(key), nil
					})
				}
				multi := func(ctx context.Context, keys []string) ([]fixture.User, error) {
					return region.GetOrCreateMulti(ctx, r, keys, func(_ context.Context, keys []string) ([]fixture.User, error) {
						out := make([]fixture.User, len(keys))
						for i, k := range keys {
							out[i] = c.load(k)
						}
						return out, nil
					})
				}
				runMulti(b, v.parallel, c, rt, get, multi)
			})
			b.Run("raw-go-redis", func(b *testing.B) {
				c := &counter{}
				client, rt := newCountedRedis(b)
				multi := func(ctx context.Context, keys []string) ([]fixture.User, error) {
					return libs.MultiRaw(ctx, client, keys)
				}
				runMulti(b, v.parallel, c, rt, redisGet(b, "raw-go-redis", client, c), multi)
			})
		})
	}
}

// BenchmarkInvalidateTags is the cost of InvalidateTags on Redis with 1,
// 1,000 and 10,000 values carrying the tag: one counter raised, whatever
// their number — it must stay flat.
func BenchmarkInvalidateTags(b *testing.B) {
	for _, n := range []int{1, 1_000, 10_000} {
		b.Run(fmt.Sprintf("values=%d", n), func(b *testing.B) {
			client, rt := newCountedRedis(b)
			c := &counter{}
			get, release, err := libs.Redis("corral-tagged", client, hitTTL, func(_ context.Context, key string) (fixture.User, error) {
				return c.load(key), nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(release)
			ctx := context.Background()
			for i := range n {
				if _, err := get(ctx, "k"+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
			}
			r, err := libs.CorralRegion(client, hitTTL)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			rt.reset()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := r.InvalidateTags(ctx, "tenant:bench"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			rt.report(b)
		})
	}
}
