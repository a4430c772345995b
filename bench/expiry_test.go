package bench

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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

// BenchmarkExpiryOutcomes is scenario 5 counted by what the readers got: a
// hot key (TTL 200 ms, creator 50 ms) read by 64 goroutines until well
// after its expiry; every read reports its Outcome. waited-reads counts
// reads answered by a creation (the caller ran the creator or waited for
// it), stale-reads reads served a stale value; both are per expiry. With
// early refresh (XFetch, β = 1) one reader regenerates the key before it
// expires, in the background, and both drop to ~0; early-refreshes and
// creator-calls show what that costs: with δ = 50 ms against a 200 ms TTL
// and thousands of reads a second, the draw fires soon after each store,
// so the creator runs nearly back to back. Run it with -benchtime 1x.
func BenchmarkExpiryOutcomes(b *testing.B) {
	xfetch := region.EarlyRefresh{Enabled: true}
	for _, v := range []struct {
		name  string
		redis bool
		cfg   region.Config
	}{
		{"corral-sync", false, region.Config{}},
		{"corral-background", false, region.Config{BackgroundRegeneration: true}},
		{"corral-xfetch", false, region.Config{EarlyRefresh: xfetch}},
		{"corral-redis-sync", true, region.Config{}},
		{"corral-redis-xfetch", true, region.Config{EarlyRefresh: xfetch}},
	} {
		b.Run(v.name, func(b *testing.B) {
			var waited, stale, reads, calls, early uint64
			i := 0
			for b.Loop() {
				w, s, n, c, e := expireCounted(b, fixture.Key(i), v.redis, v.cfg)
				waited, stale, reads, calls, early = waited+w, stale+s, reads+n, calls+c, early+e
				i++
			}
			per := func(n uint64) float64 { return float64(n) / float64(b.N) }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(per(waited), "waited-reads")
			b.ReportMetric(per(stale), "stale-reads")
			b.ReportMetric(per(reads), "reads")
			b.ReportMetric(per(calls), "creator-calls")
			b.ReportMetric(per(early), "early-refreshes")
		})
	}
}

// expireCounted fills key in a new region configured by cfg (on memory, or
// on Redis with the Redis lock), has 64 goroutines read it until 75 ms
// after its expiry's regeneration should have ended, and counts the reads
// that waited for a creation or got a stale value, all reads, the creator
// calls after the fill and the early refreshes.
func expireCounted(b *testing.B, key string, onRedis bool, cfg region.Config) (waited, stale, reads, calls, early uint64) {
	b.StopTimer()
	cfg.Expiration = expiryTTL
	cfg.Logger = slog.New(slog.DiscardHandler) // Close cancels a regeneration in flight; it would log that
	if onRedis {
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
		cfg.Backend, cfg.Locker, cfg.Registry = st, lk, reg
	} else {
		mem, err := memory.New(memory.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer mem.Close()
		cfg.Backend = mem
	}
	r, err := region.New("outcomes", cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	c := &counter{delay: creatorDelay}
	create := func(context.Context) (fixture.User, error) { return c.load(key), nil }
	ctx := context.Background()
	if _, err := region.GetOrCreate(ctx, r, key, create); err != nil {
		b.Fatal(err)
	}
	filled := c.n.Load()
	end := time.Now().Add(expiryTTL + creatorDelay + 75*time.Millisecond)
	want := fixture.IDOf(key)
	var nWaited, nStale, nReads atomic.Uint64
	b.StartTimer()
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for time.Now().Before(end) {
				var o region.Outcome
				u, err := region.GetOrCreate(ctx, r, key, create, region.ReportOutcome(&o))
				if err != nil || u.ID != want {
					b.Errorf("get %s: %v, id %d", key, err, u.ID)
					return
				}
				nReads.Add(1)
				switch o {
				case region.OutcomeStale:
					nStale.Add(1)
				case region.OutcomeCreated, region.OutcomeShared:
					nWaited.Add(1)
				}
				runtime.Gosched() // as in BenchmarkExpiry: let the creator run
			}
		})
	}
	wg.Wait()
	// A regeneration still under way when the region closes is cancelled:
	// Close waits for it.
	return nWaited.Load(), nStale.Load(), nReads.Load(), uint64(c.n.Load() - filled), r.Stats().EarlyRefreshes
}
