package bench

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"github.com/viccon/sturdyc"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// expiryTTL is the expiration of the hot key in scenario 5.
const expiryTTL = 200 * time.Millisecond

// expiryLibs are the libraries of scenario 5, each configured as its users
// would to ride out an expiry:
//
//   - corral: BackgroundRegeneration, so no reader waits for the creator;
//   - corral-sync: the default, where the lock winner regenerates and waits
//     while everyone else is served the stale value;
//   - corral-redis: as corral, on Redis with the Redis lock;
//   - otter: ExpiryWriting and Get with a loader (readers wait for the load);
//   - otter-refresh: RefreshWriting(ttl) with expiry a minute later, so a read
//     past ttl reloads in the background and gets the old value;
//   - sturdyc: WithEarlyRefreshes between 75% and 90% of the ttl;
//   - eko-gocache and go-redis-cache: plain expiry; both coalesce the reload
//     with singleflight, so readers wait for it.
var expiryLibs = []struct {
	name  string
	build func(b *testing.B, c *counter, ttl time.Duration) getFunc
}{
	{"corral", corralBackground},
	{"corral-sync", corralMemory},
	{"corral-redis", corralRedisBackground},
	{"otter", otterLoader},
	{"otter-refresh", otterRefresh},
	{"sturdyc", sturdycEarly},
	{"eko-gocache", ekoMemory},
	{"go-redis-cache", goRedisCacheLocal},
}

// BenchmarkExpiry is scenario 5: a hot key expires while 64 goroutines read
// it in a loop (yielding the processor between reads), and the creator takes
// 50 ms. It reports read latencies on
// plain hits (before the regeneration) and during the regeneration window
// (reads that overlap a creator call), and the creator calls. Run it with
// -benchtime 1x: every iteration is one expiry.
func BenchmarkExpiry(b *testing.B) {
	for _, lib := range expiryLibs {
		b.Run(lib.name, func(b *testing.B) {
			var hit, regen []time.Duration
			calls := 0
			i := 0
			for b.Loop() {
				h, r, n := expireOnce(b, fixture.Key(i), lib.build)
				hit, regen, calls = append(hit, h...), append(regen, r...), calls+n
				i++
			}
			report(b, hit, regen, calls)
		})
	}
}

// window is the span of the creator calls that regenerate the key.
type window struct {
	mu         sync.Mutex
	start, end time.Time
	calls      int
}

func (w *window) add(start, end time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.calls == 0 || start.Before(w.start) {
		w.start = start
	}
	if end.After(w.end) {
		w.end = end
	}
	w.calls++
}

// sample is one read: when it started, after the key was stored, and how
// long it took.
type sample struct{ start, dur time.Duration }

// samplesPerReader bounds what a reader records.
const samplesPerReader = 1 << 17

// expireOnce stores key, has 64 goroutines read it until well after it
// expired and was regenerated, and returns the latencies of plain hits and
// of reads during the regeneration, and the regenerating creator calls.
func expireOnce(b *testing.B, key string, build func(*testing.B, *counter, time.Duration) getFunc) (hit, regen []time.Duration, calls int) {
	b.StopTimer()
	w := &window{}
	c := &counter{delay: creatorDelay}
	get := build(b, c, expiryTTL)
	ctx := context.Background()
	if _, err := get(ctx, key); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	c.onCall = w.add // set before the readers start: no race
	// Read until 75 ms after the regeneration should have ended: long enough
	// to see it end, short enough that the regenerated value does not expire
	// again (corral dates a value from the start of its creator, so its
	// second expiry comes expiryTTL after the first).
	end := t0.Add(expiryTTL + creatorDelay + 75*time.Millisecond)
	want := fixture.IDOf(key)
	samples := make([][]sample, goroutines)
	b.StartTimer()
	var wg sync.WaitGroup
	for g := range samples {
		samples[g] = make([]sample, 0, samplesPerReader)
		wg.Go(func() {
			s := samples[g]
			for {
				start := time.Now()
				if start.After(end) {
					break
				}
				u, err := get(ctx, key)
				d := time.Since(start)
				if err != nil || u.ID != want {
					b.Errorf("get %s: %v, id %d", key, err, u.ID)
					return
				}
				if len(s) < cap(s) {
					s = append(s, sample{start.Sub(t0), d})
				}
				// Yield, so that the scheduler still runs the creator: 64
				// goroutines reading without pause on 2 cores hold a woken
				// creator in the run queue for up to 10 ms per reader.
				runtime.Gosched()
			}
			samples[g] = s
		})
	}
	wg.Wait()
	b.StopTimer()
	c.onCall = nil
	if w.calls == 0 {
		b.Fatalf("the key was not regenerated within %v of its expiry", end.Sub(t0)-expiryTTL)
	}
	ws, we := w.start.Sub(t0), w.end.Sub(t0)
	for _, s := range samples {
		for _, x := range s {
			switch {
			case x.start < 10*time.Millisecond: // warm-up
			case x.start+x.dur < ws:
				hit = append(hit, x.dur)
			case x.start <= we:
				regen = append(regen, x.dur)
			}
		}
	}
	b.StartTimer()
	return hit, regen, w.calls
}

// report adds the latency percentiles and their ratio to b's results.
func report(b *testing.B, hit, regen []time.Duration, calls int) {
	pct := func(d []time.Duration, p float64) float64 {
		if len(d) == 0 {
			return math.NaN()
		}
		slices.Sort(d)
		return float64(d[int(p*float64(len(d)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(calls)/float64(b.N), "creator-calls")
	b.ReportMetric(pct(hit, 0.5), "hit-p50-µs")
	b.ReportMetric(pct(hit, 0.99), "hit-p99-µs")
	b.ReportMetric(pct(regen, 0.5), "regen-p50-µs")
	b.ReportMetric(pct(regen, 0.99), "regen-p99-µs")
	b.ReportMetric(pct(regen, 1), "regen-max-µs")
	b.ReportMetric(pct(regen, 0.99)/pct(hit, 0.99), "regen/hit-p99")
	b.ReportMetric(float64(len(regen))/float64(b.N), "regen-reads")
}

// corralBackground is corral on its memory backend with background
// regeneration.
func corralBackground(b *testing.B, c *counter, ttl time.Duration) getFunc {
	mem, err := memory.New(memory.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mem.Close() })
	return corralOn(b, c, region.Config{Backend: mem, Expiration: ttl, BackgroundRegeneration: true})
}

// corralRedisBackground is corral on Redis, with the Redis lock and
// background regeneration.
func corralRedisBackground(b *testing.B, c *counter, ttl time.Duration) getFunc {
	client := newRedis(b)
	st, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	lk, err := redislocker.New(redis.Scripter(client), redislocker.Options{})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := redisreg.New(client, redisreg.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return corralOn(b, c, region.Config{Backend: st, Locker: lk, Registry: reg, Expiration: ttl, BackgroundRegeneration: true})
}

// corralOn is a region configured by cfg, closed when b ends.
func corralOn(b *testing.B, c *counter, cfg region.Config) getFunc {
	r, err := region.New("bench", cfg)
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

// otterRefresh is otter v2 with refresh after ttl and expiry a minute later:
// a read of an entry past ttl starts a background reload and gets the old
// value.
func otterRefresh(b *testing.B, c *counter, ttl time.Duration) getFunc {
	o, err := otter.New(&otter.Options[string, fixture.User]{
		MaximumSize:       memory.DefaultMaxEntries,
		ExpiryCalculator:  otter.ExpiryWriting[string, fixture.User](ttl + time.Minute),
		RefreshCalculator: otter.RefreshWriting[string, fixture.User](ttl),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.StopAllGoroutines() })
	loader := otter.LoaderFunc[string, fixture.User](func(_ context.Context, key string) (fixture.User, error) {
		return c.load(key), nil
	})
	return func(ctx context.Context, key string) (fixture.User, error) {
		return o.Get(ctx, key, loader)
	}
}

// sturdycEarly is sturdyc with early refreshes: a read between 75% and 90%
// of the ttl refreshes in the background (the instant is drawn at random in
// that range), and reads are never refreshed synchronously before expiry.
func sturdycEarly(b *testing.B, c *counter, ttl time.Duration) getFunc {
	s := sturdyc.New[fixture.User](memory.DefaultMaxEntries, 16, ttl, 10,
		sturdyc.WithEarlyRefreshes(ttl*3/4, ttl*9/10, ttl, 10*time.Millisecond))
	return func(ctx context.Context, key string) (fixture.User, error) {
		return s.GetOrFetch(ctx, key, func(context.Context) (fixture.User, error) {
			return c.load(key), nil
		})
	}
}
