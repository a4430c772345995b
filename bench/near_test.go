package bench

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rediscache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// nearRegion is a region on Redis with a near cache of every hot key.
func nearRegion(tb testing.TB, client *redis.Client, name string) *region.Region {
	tb.Helper()
	st, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	lk, err := redislocker.New(client, redislocker.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := redisreg.New(client, redisreg.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	r, err := region.New(name, region.Config{Backend: st, Locker: lk, Registry: reg, Expiration: hitTTL,
		Near: region.NearConfig{MaxEntries: 4 * fixture.KeyCount}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	for deadline := time.Now().Add(10 * time.Second); !r.Stats().NearLive; {
		if time.Now().After(deadline) {
			tb.Fatal("the near cache never went live")
		}
		time.Sleep(time.Millisecond)
	}
	return r
}

// nearLibs are the hit scenario's contenders: in-process tiers in front of
// Redis, and corral's memory region as the floor.
var nearLibs = []struct {
	name  string
	build func(b *testing.B, c *counter) getFunc
}{
	{"corral-near", func(b *testing.B, c *counter) getFunc {
		r := nearRegion(b, newRedis(b), "bench")
		return func(ctx context.Context, key string) (fixture.User, error) {
			return region.GetOrCreate(ctx, r, key, func(context.Context) (fixture.User, error) { return c.load(key), nil })
		}
	}},
	{"corral-memory", func(b *testing.B, c *counter) getFunc {
		r, err := region.New("bench", region.Config{Expiration: hitTTL})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return func(ctx context.Context, key string) (fixture.User, error) {
			return region.GetOrCreate(ctx, r, key, func(context.Context) (fixture.User, error) { return c.load(key), nil })
		}
	}},
	{"go-redis-cache-local", func(b *testing.B, c *counter) getFunc {
		// go-redis/cache with its TinyLFU local tier: no invalidation
		// between processes, staleness bounded by the local TTL.
		rc := rediscache.New(&rediscache.Options{Redis: newRedis(b), LocalCache: rediscache.NewTinyLFU(4*fixture.KeyCount, time.Minute)})
		return func(ctx context.Context, key string) (fixture.User, error) {
			var u fixture.User
			err := rc.Once(&rediscache.Item{Ctx: ctx, Key: key, Value: &u, TTL: hitTTL,
				Do: func(*rediscache.Item) (any, error) { return c.load(key), nil }})
			return u, err
		}
	}},
	{"rueidis-csc", func(b *testing.B, c *counter) getFunc {
		// rueidis's server-assisted client-side caching (DoCache, default
		// tracking mode): replies cached as bytes, decoded per hit.
		_ = newRedis(b) // an empty database
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redisAddr}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(client.Close)
		return func(ctx context.Context, key string) (fixture.User, error) {
			var u fixture.User
			data, err := client.DoCache(ctx, client.B().Get().Key(key).Cache(), time.Minute).AsBytes()
			if err == nil {
				return u, msgpack.Unmarshal(data, &u)
			}
			if !rueidis.IsRedisNil(err) {
				return u, err
			}
			u = c.load(key)
			if data, err = msgpack.Marshal(u); err != nil {
				return u, err
			}
			return u, client.Do(ctx, client.B().Set().Key(key).Value(rueidis.BinaryString(data)).Px(hitTTL).Build()).Error()
		}
	}},
	{"go-redis-csc", func(b *testing.B, c *counter) getFunc {
		// go-redis v9.23's experimental client-side cache (RESP3
		// tracking): GET replies are cached as bytes and decoded per hit.
		_ = newRedis(b) // an empty database
		client := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 3,
			ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxEntries: 4 * fixture.KeyCount}})
		b.Cleanup(func() { client.Close() })
		return func(ctx context.Context, key string) (fixture.User, error) {
			var u fixture.User
			data, err := client.Get(ctx, key).Bytes()
			if err == nil {
				return u, msgpack.Unmarshal(data, &u)
			}
			if !errors.Is(err, redis.Nil) {
				return u, err
			}
			u = c.load(key)
			if data, err = msgpack.Marshal(u); err != nil {
				return u, err
			}
			return u, client.Set(ctx, key, data, hitTTL).Err()
		}
	}},
}

// BenchmarkNearHit is the near cache's hit scenario: GetOrCreate of a fresh
// value among 1024 hot keys of about 1 KiB, with 1 and 64 goroutines.
func BenchmarkNearHit(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			for _, lib := range nearLibs {
				b.Run(lib.name, func(b *testing.B) {
					c := &counter{}
					runHits(b, v.parallel, c, nil, lib.build(b, c))
				})
			}
		})
	}
}

// BenchmarkNearPropagation measures, over b.N writes (1,000 with
// -benchtime 1000x), the time from a Set's return in process A to the
// first read in process B that no longer returns the old value, B having
// had the old value in its near cache. It reports p50 and p99.
func BenchmarkNearPropagation(b *testing.B) {
	ctx := context.Background()
	client := newRedis(b)
	a := nearRegion(b, client, "prop")
	bb := nearRegion(b, redis.NewClient(&redis.Options{Addr: redisAddr}), "prop")
	for k := range 16 {
		if err := a.Set(ctx, fixture.Key(k), -1); err != nil {
			b.Fatal(err)
		}
	}
	lags := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		key := fixture.Key(i % 16)
		// B holds the old value in its near cache.
		for hits := bb.Stats().NearHits; bb.Stats().NearHits == hits; {
			if _, _, err := region.Get[int](ctx, bb, key); err != nil {
				b.Fatal(err)
			}
		}
		if err := a.Set(ctx, key, i); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for {
			// B polls every 20µs rather than spin: a spinning reader on
			// a loaded machine is descheduled by the OS, which would be
			// measured instead of the push.
			time.Sleep(20 * time.Microsecond)
			v, ok, err := region.Get[int](ctx, bb, key)
			if err != nil {
				b.Fatal(err)
			}
			if ok && v == i {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("B never saw write %d", i)
			}
		}
		lags = append(lags, time.Since(start))
		i++
	}
	b.StopTimer()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lags[len(lags)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(lags[len(lags)-1].Nanoseconds())/1e3, "max-µs")
}

// BenchmarkNearMixed runs 90% reads and 10% writes (Set or Delete) over
// 1024 keys from 64 goroutines spread over two processes' regions. A read
// that returns a version older than a write or delete of its key that
// completed before the read began is stale: stale-reads counts them, and
// stale-beyond-bound those that began more than nearStaleBound after that
// completion (the contract says 0).
func BenchmarkNearMixed(b *testing.B) {
	const nearStaleBound = 5 * time.Millisecond
	ctx := context.Background()
	rs := []*region.Region{
		nearRegion(b, newRedis(b), "mixed"),
		nearRegion(b, redis.NewClient(&redis.Options{Addr: redisAddr}), "mixed"),
	}
	type keyState struct {
		mu        sync.Mutex // serialises the writes of the key
		version   atomic.Int64
		db        atomic.Int64 // the "database": written before the cache
		completed atomic.Int64 // the version of the last completed cache write
		at        atomic.Int64 // when it completed, Unix nanoseconds (stored before completed)
	}
	keys := fixture.Keys(fixture.KeyCount)
	states := make([]keyState, len(keys))
	var stale, beyond, worst atomic.Int64
	var start atomic.Int64
	b.SetParallelism((goroutines + 1) / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := start.Add(1)
		r := rs[n%2]
		i := int(n * 7919)
		for pb.Next() {
			i++
			j := (i * 31) & (fixture.KeyCount - 1)
			st := &states[j]
			if i%10 == 0 { // a write
				st.mu.Lock()
				v := st.version.Add(1)
				st.db.Store(v) // the database first, then the cache
				var err error
				if v%4 == 0 {
					err = r.Delete(ctx, keys[j])
				} else {
					err = r.Set(ctx, keys[j], v)
				}
				if err == nil {
					// The time first: a reader that sees this version
					// completed then sees its time (or a later one), never
					// the previous write's, which would count a read that
					// is within the bound of this write as beyond it.
					st.at.Store(time.Now().UnixNano())
					st.completed.Store(v)
				}
				st.mu.Unlock()
				continue
			}
			want, at := st.completed.Load(), st.at.Load()
			began := time.Now()
			v, err := region.GetOrCreate(ctx, r, keys[j], func(context.Context) (int64, error) {
				return st.db.Load(), nil
			})
			if err != nil {
				b.Error(err)
				return
			}
			if v < want {
				stale.Add(1)
				lag := began.UnixNano() - at
				if lag > int64(nearStaleBound) {
					beyond.Add(1)
				}
				for w := worst.Load(); lag > w && !worst.CompareAndSwap(w, lag); w = worst.Load() {
				}
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(stale.Load()), "stale-reads")
	b.ReportMetric(float64(beyond.Load()), "stale-beyond-bound")
	b.ReportMetric(float64(worst.Load())/1e6, "stale-max-ms")
	var near, hits uint64
	for _, r := range rs {
		s := r.Stats()
		near, hits = near+s.NearHits, hits+s.Hits
	}
	if hits > 0 {
		b.ReportMetric(float64(near)/float64(hits), "near-hit-ratio")
	}
}

// chanSink hands the invalidated keys to a channel.
type chanSink chan string

func (c chanSink) Invalidate(keys []string) {
	for _, k := range keys {
		c <- k
	}
}

func (c chanSink) Live(bool, error) {}

// BenchmarkInvalidationStream compares the two ways a write can reach
// other processes: Redis tracking in broadcasting mode (what the near cache
// uses: the write is a plain SET) and a PUBLISH sent with the write in one
// MULTI/EXEC (the write path changes). It reports the write's cost (ns/op)
// and the time from the write's return to the other side's receipt.
func BenchmarkInvalidationStream(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"tracking-bcast", "publish"} {
		b.Run(mode, func(b *testing.B) {
			client := newRedis(b)
			got := make(chanSink, 1024)
			switch mode {
			case "tracking-bcast":
				st, err := redisstore.New(redis.NewClient(&redis.Options{Addr: redisAddr}), redisstore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				live := make(chan struct{})
				stop, err := st.WatchInvalidations("inv:", liveSink{got, live})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(stop)
				<-live
			case "publish":
				ps := redis.NewClient(&redis.Options{Addr: redisAddr}).Subscribe(ctx, "inv")
				if _, err := ps.Receive(ctx); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { ps.Close() })
				go func() {
					for m := range ps.Channel() {
						got <- m.Payload
					}
				}()
			}
			value := make([]byte, 1024)
			lags := make([]time.Duration, 0, b.N)
			var writes time.Duration
			for b.Loop() {
				start := time.Now()
				var err error
				if mode == "publish" {
					_, err = client.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Set(ctx, "inv:k", value, 0)
						p.Publish(ctx, "inv", "inv:k")
						return nil
					})
				} else {
					err = client.Set(ctx, "inv:k", value, 0).Err()
				}
				if err != nil {
					b.Fatal(err)
				}
				done := time.Now()
				writes += done.Sub(start)
				select {
				case <-got:
				case <-time.After(10 * time.Second):
					b.Fatal("no invalidation")
				}
				lags = append(lags, time.Since(done))
			}
			slices.Sort(lags)
			b.ReportMetric(float64(writes.Nanoseconds())/float64(b.N)/1e3, "write-µs")
			b.ReportMetric(float64(lags[len(lags)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lags[len(lags)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}

// liveSink is a chanSink that closes live when the watch goes live.
type liveSink struct {
	chanSink
	live chan struct{}
}

func (s liveSink) Live(on bool, _ error) {
	if on {
		select {
		case <-s.live:
		default:
			close(s.live)
		}
	}
}
