package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/integration/internal/faultproxy"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// The fault tests put a TCP fault proxy between corral and a real
// redis-server and load a fail-open region through it with 64 callers. The
// client is configured as the README shows (ReadTimeout 200 ms, MaxRetries
// 1). Every scenario asserts 0 failed calls and no value older than an
// invalidation completed before the call began; the timings are logged
// (t.Logf) and asserted only structurally or with generous bounds, since
// the machine may be loaded.

// faultCallers is how many goroutines load a region: 64, or
// CORRAL_FAULT_CALLERS to measure with fewer or more (the figures in the
// README compare several).
var faultCallers = envInt("CORRAL_FAULT_CALLERS", 64)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

const (
	faultKeys     = 32
	faultCreator  = 2 * time.Millisecond // the creator's time: a fast database
	faultReadTime = 200 * time.Millisecond
)

// faultOptions is the README's fail-fast client, through addr.
func faultOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr: addr, DialTimeout: faultReadTime, ReadTimeout: faultReadTime, WriteTimeout: faultReadTime,
		MaxRetries: 1, DialerRetries: 1, PoolSize: 2 * faultCallers,
	}
}

// faultDB is a versioned fake database behind the region: the creator
// returns "key:version"; a write raises a key's version, then invalidates
// the key, and once the invalidation completed no read that begins later
// may return an older version.
type faultDB struct {
	versions  [faultKeys]atomic.Int64
	completed [faultKeys]atomic.Int64 // version of the last write whose invalidation completed
	creations atomic.Int64
}

func (db *faultDB) create(i int) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		db.creations.Add(1)
		v := db.versions[i].Load()
		time.Sleep(faultCreator)
		return fmt.Sprintf("k%d:%d", i, v), nil
	}
}

// faultRun is the outcome of one load phase.
type faultRun struct {
	calls, failed, older int
	latencies            []time.Duration
	elapsed              time.Duration
	// by holds the latencies by the call's outcome: a caller that created
	// (OutcomeCreated), joined a creation (OutcomeShared), hit, ….
	by map[region.Outcome][]time.Duration
}

// quantileOf is quantile for the calls with outcome o.
func (f faultRun) quantileOf(o region.Outcome, q float64) time.Duration {
	return faultRun{latencies: f.by[o]}.quantile(q)
}

// outcomes describes the latencies by outcome.
func (f faultRun) outcomes() string {
	var b strings.Builder
	for _, o := range []region.Outcome{region.OutcomeHit, region.OutcomeCreated, region.OutcomeShared, region.OutcomeStale} {
		if n := len(f.by[o]); n > 0 {
			fmt.Fprintf(&b, "%v: %d calls, p50 %v, p99 %v; ", o, n, f.quantileOf(o, 0.5), f.quantileOf(o, 0.99))
		}
	}
	return b.String()
}

func (f faultRun) quantile(q float64) time.Duration {
	if len(f.latencies) == 0 {
		return 0
	}
	l := slices.Clone(f.latencies)
	slices.Sort(l)
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

func (f faultRun) rate() float64 { return float64(f.calls) / f.elapsed.Seconds() }

func (f faultRun) String() string {
	return fmt.Sprintf("%d calls in %v (%.0f/s), p50 %v, p99 %v, max %v, %d failed, %d older than a completed invalidation",
		f.calls, f.elapsed.Round(time.Millisecond), f.rate(), f.quantile(0.5), f.quantile(0.99), f.quantile(1), f.failed, f.older)
}

// load runs faultCallers goroutines of GetOrCreate on r until each made
// perCaller calls, d passed, or stop returned true; a writer raises a key's
// version and invalidates it every few milliseconds.
func (db *faultDB) load(t *testing.T, r *region.Region, perCaller int, d time.Duration, stop func() bool) faultRun {
	t.Helper()
	var (
		mu  sync.Mutex
		run faultRun
		end = time.Now().Add(d)
		wg  sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Go(func() { // the writer
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			k := i % faultKeys
			v := db.versions[k].Add(1)
			if r.Delete(t.Context(), "k"+strconv.Itoa(k)) == nil {
				for c := db.completed[k].Load(); c < v && !db.completed[k].CompareAndSwap(c, v); c = db.completed[k].Load() {
				}
			}
		}
	})
	started := time.Now()
	var callers sync.WaitGroup
	for g := range faultCallers {
		callers.Go(func() {
			var lat []time.Duration
			by := map[region.Outcome][]time.Duration{}
			failed, older := 0, 0
			for i := 0; i < perCaller && time.Now().Before(end) && (stop == nil || !stop()); i++ {
				k := (g + i) % faultKeys
				floor := db.completed[k].Load()
				var o region.Outcome
				t0 := time.Now()
				v, err := region.GetOrCreate(t.Context(), r, "k"+strconv.Itoa(k), db.create(k), region.ReportOutcome(&o))
				d := time.Since(t0)
				lat = append(lat, d)
				by[o] = append(by[o], d)
				if err != nil {
					if failed++; failed == 1 {
						t.Logf("caller %d: GetOrCreate: %v", g, err)
					}
					continue
				}
				got, _ := strconv.ParseInt(v[strings.IndexByte(v, ':')+1:], 10, 64)
				if got < floor {
					older++
				}
			}
			mu.Lock()
			if run.by == nil {
				run.by = map[region.Outcome][]time.Duration{}
			}
			for o, l := range by {
				run.by[o] = append(run.by[o], l...)
			}
			run.latencies = append(run.latencies, lat...)
			run.calls += len(lat)
			run.failed += failed
			run.older += older
			mu.Unlock()
		})
	}
	callers.Wait()
	run.elapsed = time.Since(started)
	close(done)
	wg.Wait()
	return run
}

// check fails the test when a phase had failed calls or old values.
func (f faultRun) check(t *testing.T, phase string) {
	t.Helper()
	t.Logf("%s: %v", phase, f)
	if f.failed != 0 || f.older != 0 {
		t.Errorf("%s: %d failed calls and %d values older than a completed invalidation, want 0 and 0", phase, f.failed, f.older)
	}
}

// faultSetup starts redis-server behind a fault proxy and a fail-open
// region on a client through it; hook counts the client's commands (in
// matched: all but lock releases).
func faultSetup(t *testing.T, name string) (*faultproxy.Proxy, *region.Region, *cmdCounter) {
	t.Helper()
	srv := servers.Redis(t)
	proxy := faultproxy.Start(t, srv.Addr)
	c := redis.NewClient(faultOptions(proxy.Addr))
	t.Cleanup(func() { _ = c.Close() })
	hook := &cmdCounter{}
	hook.match = func(args []any) bool {
		// Lock releases go out in the background; HELLO and CLIENT are the
		// client's handshake on the new connection a probe dials (the
		// one it had timed out): neither is a call reaching Redis.
		if isLockRelease(args) || isHandshake(args) {
			return false
		}
		if hook.record.Load() {
			hook.mu.Lock()
			hook.seen = append(hook.seen, fmt.Sprint(args[:min(len(args), 4)]...))
			hook.mu.Unlock()
		}
		return true
	}
	c.AddHook(hook)
	r := newRedisStack(t, c).region(t, name, region.Config{
		Expiration: time.Minute, LockWait: 2 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	return proxy, r, hook
}

// recovery measures how long after the fault cleared caching resumed: a
// key created after it is then served from Redis as a hit.
func recovery(t *testing.T, r *region.Region, cleared time.Time) time.Duration {
	t.Helper()
	deadline := cleared.Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		key := "recovery" + strconv.Itoa(i)
		create := func(context.Context) (string, error) { return "r", nil }
		if _, err := region.GetOrCreate(t.Context(), r, key, create); err != nil {
			t.Fatalf("GetOrCreate during recovery: %v", err)
		}
		var o region.Outcome
		if _, err := region.GetOrCreate(t.Context(), r, key, create, region.ReportOutcome(&o)); err != nil {
			t.Fatalf("GetOrCreate during recovery: %v", err)
		}
		if o == region.OutcomeHit {
			return time.Since(cleared)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("caching did not resume within 10 s of the fault clearing")
	return 0
}

// TestFaultBlackhole: Redis stops answering (connections accepted, never
// answered). The calls that open the breaker each wait for one command's
// timeout at most; while it is open, calls go to the creator without a
// command on the wire, about as fast as the creator alone; caching resumes
// after the fault clears, with the same client.
func TestFaultBlackhole(t *testing.T) {
	proxy, r, hook := faultSetup(t, "fault-blackhole")
	db := &faultDB{}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "warm-up")

	// Opening: from the blackhole until the breaker opens.
	proxy.Set(faultproxy.Blackhole)
	faulted := time.Now()
	opening := db.load(t, r, 1_000, 3*time.Second, func() bool { return r.Stats().BreakerState == region.BreakerOpen })
	opening.check(t, "blackhole, until the breaker opened")
	st := r.Stats()
	if st.BreakerState != region.BreakerOpen || st.BreakerTrips == 0 {
		t.Fatalf("breaker not open 3 s into the blackhole: %+v", st)
	}
	t.Logf("breaker open %v after the blackhole began (stats %+v)", time.Since(faulted).Round(time.Millisecond), st)
	// Each opening call waits for one failed command: the store bounds
	// each operation by one read timeout, so the client does not send a
	// timed-out command again (which cost two read timeouts and a backoff).
	// Most calls wait exactly that; a call that joined a creation already
	// under way may wait for its end too. Generous bounds: the machine may
	// be loaded.
	t.Logf("opening, by outcome: %s", opening.outcomes())
	if limit := faultCreator + faultReadTime + faultReadTime/2; opening.quantile(0.5) > limit {
		t.Errorf("p50 %v while the breaker opened, want ≤ %v (one read timeout per call)", opening.quantile(0.5), limit)
	}
	if limit := faultCreator + 2*faultReadTime + faultReadTime/2; opening.quantile(0.99) > limit {
		t.Errorf("p99 %v while the breaker opened, want ≤ %v", opening.quantile(0.99), limit)
	}

	// Open: calls skip Redis. The breaker lets one probe through per
	// cooldown, so at most that many commands go out — besides the
	// releases of locks taken before it opened, which go out in the
	// background and are not counted.
	cmds := hook.matched.Load()
	hook.record.Store(true)
	open := db.load(t, r, 100_000, time.Second, nil)
	open.check(t, "blackhole, breaker open")
	sent := hook.matched.Load() - cmds
	hook.record.Store(false)
	hook.mu.Lock()
	t.Logf("commands sent while open: %q", hook.seen)
	hook.mu.Unlock()
	probes := int64(open.elapsed/region.DefaultBreakerCooldown) + 1
	t.Logf("breaker open: %d commands sent in %v (probes allowed: %d); p99 %v against a creator of %v; by outcome: %s",
		sent, open.elapsed.Round(time.Millisecond), probes, open.quantile(0.99), faultCreator, open.outcomes())
	if sent > probes {
		t.Errorf("%d commands sent while the breaker was open, want ≤ %d probes", sent, probes)
	}
	// Structural, not the target (creator + 1 ms, a benchmark figure): no
	// call waits for the backend, i.e. well under one read timeout. The
	// figure is logged above; -race on a loaded 2-core machine puts p50 at
	// 3–8 ms.
	if p50 := open.quantile(0.5); p50 > faultCreator+faultReadTime/4 {
		t.Errorf("p50 %v while open, want well under one read timeout (%v): calls must not wait for the backend", p50, faultReadTime)
	}

	// The creator alone, by the same callers, for the same time.
	only := db.creatorOnly(time.Second)
	alone := only.rate()
	t.Logf("creator alone: %.0f calls/s, p50 %v, p99 %v; breaker open: %.0f calls/s (ratio %.2f), p50 %v, p99 %v",
		alone, only.quantile(0.5), only.quantile(0.99), open.rate(), alone/open.rate(), open.quantile(0.5), open.quantile(0.99))
	// The target is within 2×; a caller that joins a creation already
	// running waits for it and then creates anew (see region's wait), so
	// two callers of a key in lockstep cost up to two creator times.
	// Measured 1.9× without the race detector, 1.9–3.8× with it on 2
	// cores; 5× is asserted so a loaded machine does not flake.
	if open.rate() < alone/5 {
		t.Errorf("throughput with the breaker open %.0f/s, want within 2× (5× allowed on a loaded machine) of the creator alone (%.0f/s)", open.rate(), alone)
	}

	proxy.Set(faultproxy.Pass)
	rec := recovery(t, r, time.Now())
	t.Logf("blackhole cleared: caching resumed after %v", rec.Round(time.Millisecond))
	if rec > 2*time.Second {
		t.Errorf("caching resumed %v after the fault cleared, want ≤ 1 s (2 s allowed on a loaded machine)", rec)
	}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "after the blackhole")
}

// isHandshake matches the commands go-redis sends to set up a connection.
func isHandshake(args []any) bool {
	name, _ := args[0].(string)
	return strings.EqualFold(name, "hello") || strings.EqualFold(name, "client")
}

// isLockRelease matches redislock's release and refresh scripts on a
// lock key: EVALSHA sha 1 key token [ttl] (an attempt has 7 arguments).
func isLockRelease(args []any) bool {
	name, _ := args[0].(string)
	key, _ := args[min(3, len(args)-1)].(string)
	return strings.EqualFold(name, "evalsha") && len(args) < 7 && strings.HasSuffix(key, "}:l")
}

// creatorOnly measures the creator alone, called directly by faultCallers
// goroutines for d: its rate and latencies (a creator that sleeps 2 ms
// takes longer on a loaded machine; that part of a call's time is not
// corral's).
func (db *faultDB) creatorOnly(d time.Duration) faultRun {
	var mu sync.Mutex
	var run faultRun
	end := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for g := range faultCallers {
		wg.Go(func() {
			var lat []time.Duration
			for i := 0; i < 100_000 && time.Now().Before(end); i++ {
				t0 := time.Now()
				_, _ = db.create((g + i) % faultKeys)(context.Background())
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			run.latencies = append(run.latencies, lat...)
			run.calls += len(lat)
			mu.Unlock()
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	return run
}

// TestFaultLatency: Redis answers 100 ms late, under the read timeout:
// slow, but every call succeeds, the breaker stays closed, and no value is
// older than a completed invalidation.
func TestFaultLatency(t *testing.T) {
	proxy, r, _ := faultSetup(t, "fault-latency")
	db := &faultDB{}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "warm-up")
	proxy.SetLatency(100 * time.Millisecond)
	proxy.Set(faultproxy.Latency)
	db.load(t, r, 1_000, 1500*time.Millisecond, nil).check(t, "100 ms latency")
	if st := r.Stats(); st.BreakerTrips != 0 {
		t.Errorf("breaker tripped %d times under a latency below the read timeout: %+v", st.BreakerTrips, st)
	}
	proxy.Set(faultproxy.Pass)
	rec := recovery(t, r, time.Now())
	t.Logf("latency cleared: caching at full speed after %v", rec.Round(time.Millisecond))
}

// TestFaultReset: every connection to Redis is reset for a second under
// load; callers get values throughout, and caching resumes after.
func TestFaultReset(t *testing.T) {
	proxy, r, _ := faultSetup(t, "fault-reset")
	db := &faultDB{}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "warm-up")
	proxy.Set(faultproxy.Reset)
	db.load(t, r, 1_000, time.Second, nil).check(t, "connections reset")
	t.Logf("stats after the resets: %+v", r.Stats())
	proxy.Set(faultproxy.Pass)
	rec := recovery(t, r, time.Now())
	t.Logf("resets cleared: caching resumed after %v", rec.Round(time.Millisecond))
	if rec > 2*time.Second {
		t.Errorf("caching resumed %v after the fault cleared, want ≤ 1 s (2 s allowed on a loaded machine)", rec)
	}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "after the resets")
}

// TestFaultTimedOutCommandNotResent: go-redis retries a command whose reply
// timed out (MaxRetries 1), so against a blackholed Redis one operation
// took two read timeouts and a backoff. The store and the locker bound each
// operation by one read timeout: the timed-out command is not sent again,
// so an operation fails after one read timeout; a connection reset is
// still retried and answered. The same operations without the bound
// (Timeout: -1) are the control: they take two read timeouts, which shows
// the blackhole makes the client retry.
func TestFaultTimedOutCommandNotResent(t *testing.T) {
	srv := servers.Redis(t)
	proxy := faultproxy.Start(t, srv.Addr)
	c := redis.NewClient(faultOptions(proxy.Addr))
	t.Cleanup(func() { _ = c.Close() })
	bounded, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	unbounded, err := redisstore.New(c, redisstore.Options{Timeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	locker, err := redislocker.New(c, redislocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Warm the pool, and check a reset connection is retried: the
	// pooled connections are reset, the next command still succeeds.
	if err := bounded.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	proxy.Set(faultproxy.Reset)
	proxy.Set(faultproxy.Pass)
	if v, err := bounded.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get after the connections were reset = %q, %v; want the value (the client retries a reset)", v, err)
	}

	proxy.Set(faultproxy.Blackhole)
	timed := func(name string, op func() error) time.Duration {
		t0 := time.Now()
		err := op()
		d := time.Since(t0)
		t.Logf("%s against a blackhole: %v after %v", name, err, d.Round(time.Millisecond))
		if err == nil {
			t.Fatalf("%s succeeded against a blackhole", name)
		}
		return d
	}
	// A client whose every connection must be dialled (the proxy accepts,
	// then never answers): one read timeout too.
	fresh := redis.NewClient(faultOptions(proxy.Addr))
	t.Cleanup(func() { _ = fresh.Close() })
	freshStore, err := redisstore.New(fresh, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := timed("store Get on a new connection", func() error { _, err := freshStore.Get(ctx, "k"); return err }); d > faultReadTime+faultReadTime/2 {
		t.Errorf("a Get that dialled took %v against a blackhole, want ≤ %v (one read timeout for handshake and command)", d, faultReadTime+faultReadTime/2)
	}
	if d := timed("unbounded store Get (control)", func() error { _, err := unbounded.Get(ctx, "k"); return err }); d < 2*faultReadTime {
		t.Errorf("the control took %v, want ≥ %v: the client did not resend the timed-out command, so this test shows nothing", d, 2*faultReadTime)
	}
	// A generous bound, the machine may be loaded: well under the two read
	// timeouts (and a backoff) of a resent command.
	limit := faultReadTime + faultReadTime/2
	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"store Get", func() error { _, err := bounded.Get(ctx, "k"); return err }},
		{"store GetForUpdate", func() error { _, _, err := bounded.GetForUpdate(ctx, []string{"k"}, time.Minute); return err }},
		{"store SetMulti", func() error {
			return bounded.SetMulti(ctx, []backend.Item{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}})
		}},
		{"locker TryObtain", func() error { _, err := locker.TryObtain(ctx, "lk", time.Second); return err }},
	} {
		if d := timed(op.name, op.run); d > limit {
			t.Errorf("%s took %v against a blackhole, want ≤ %v (one read timeout of %v: the timed-out command not resent)", op.name, d, limit, faultReadTime)
		}
	}
}

// TestFaultLockerBlackhole: the distributed locker has a Redis of its own,
// behind the proxy, and stops answering while the backend's Redis answers.
// After a few failed lock attempts the locker's breaker opens: creations
// take the in-process lock without asking the locker and are still cached
// (hits go on), 0 failed calls, no value older than a completed
// invalidation; when the locker answers again its breaker closes, with the
// same client.
func TestFaultLockerBlackhole(t *testing.T) {
	data := servers.Redis(t)
	locks := servers.Redis(t)
	proxy := faultproxy.Start(t, locks.Addr)
	dc := redis.NewClient(faultOptions(data.Addr))
	lc := redis.NewClient(faultOptions(proxy.Addr))
	t.Cleanup(func() { _ = dc.Close(); _ = lc.Close() })
	stack := newRedisStack(t, dc)
	locker, err := redislocker.New(lc, redislocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stack.locker = locker
	r := stack.region(t, "fault-locker", region.Config{
		Expiration: 50 * time.Millisecond, LockWait: 2 * time.Second,
	})
	db := &faultDB{}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "warm-up")

	proxy.Set(faultproxy.Blackhole)
	opening := db.load(t, r, 1_000, 3*time.Second, func() bool { return r.Stats().LockerBreakerState == region.BreakerOpen })
	opening.check(t, "locker blackholed, until its breaker opened")
	st := r.Stats()
	if st.LockerBreakerState != region.BreakerOpen || st.BreakerState != region.BreakerClosed {
		t.Fatalf("3 s into the locker's blackhole: %+v, want the locker's breaker open, the backend's closed", st)
	}
	t.Logf("locker's breaker open: stats %+v", st)

	before := r.Stats()
	open := db.load(t, r, 100_000, time.Second, nil)
	open.check(t, "locker blackholed, its breaker open")
	after := r.Stats()
	t.Logf("locker's breaker open, by outcome: %s; stats %+v", open.outcomes(), after)
	if after.Hits == before.Hits {
		t.Errorf("no hit while the locker's breaker was open: creations under the in-process lock must still be cached (stats %+v)", after)
	}
	if after.LockerSkipped == before.LockerSkipped {
		t.Errorf("no lock attempt skipped the locker while its breaker was open (stats %+v)", after)
	}
	// No creation waits for a lock attempt that times out: well under
	// one read timeout.
	if p := open.quantile(0.5); p > faultCreator+faultReadTime/4 {
		t.Errorf("p50 %v while the locker's breaker was open, want about the creator's %v", p, faultCreator)
	}

	proxy.Set(faultproxy.Pass)
	cleared := time.Now()
	for r.Stats().LockerBreakerState != region.BreakerClosed {
		if time.Since(cleared) > 5*time.Second {
			t.Fatalf("the locker's breaker still %v 5 s after the locker answers again", r.Stats().LockerBreakerState)
		}
		_, _ = region.GetOrCreate(t.Context(), r, "probe"+strconv.Itoa(int(time.Since(cleared))), func(context.Context) (string, error) { return "p", nil })
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("locker answers again: its breaker closed after %v", time.Since(cleared).Round(time.Millisecond))
	db.load(t, r, 20, 2*time.Second, nil).check(t, "after the locker's blackhole")
}

// TestFaultRedisRestart: under load, through the proxy, Redis is killed
// (SIGKILL) and restarted empty half a second later on the same port. 0
// failed calls, no value older than a completed invalidation, and caching
// resumes (a hit) within a second of the restart, with the same client.
func TestFaultRedisRestart(t *testing.T) {
	srv := servers.Redis(t)
	proxy := faultproxy.Start(t, srv.Addr)
	c := redis.NewClient(faultOptions(proxy.Addr))
	t.Cleanup(func() { _ = c.Close() })
	r := newRedisStack(t, c).region(t, "fault-restart", region.Config{
		Expiration: time.Minute, LockWait: 2 * time.Second,
	})
	db := &faultDB{}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "warm-up")

	var restarted time.Time
	resumed := make(chan time.Duration, 1)
	run := make(chan faultRun, 1)
	go func() { run <- db.load(t, r, 100_000, 3*time.Second, nil) }()
	time.Sleep(500 * time.Millisecond) // under load
	srv.Stop()                         // SIGKILL
	killed := r.Stats()
	time.Sleep(500 * time.Millisecond)
	srv.Start() // empty: no persistence
	restarted = time.Now()
	go func() {
		hits := r.Stats().Hits
		for time.Since(restarted) < 10*time.Second {
			if r.Stats().Hits > hits {
				resumed <- time.Since(restarted)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		resumed <- -1
	}()
	(<-run).check(t, "Redis killed and restarted empty")
	rec := <-resumed
	st := r.Stats()
	t.Logf("stats when killed %+v; after %+v", killed, st)
	if rec < 0 {
		t.Fatal("no hit within 10 s of the restart")
	}
	t.Logf("restarted: first hit %v after the restart", rec.Round(time.Millisecond))
	if rec > time.Second {
		t.Errorf("caching resumed %v after the restart, want ≤ 1 s", rec)
	}
	if st.BackendErrors == killed.BackendErrors && st.BackendSkipped == killed.BackendSkipped {
		t.Errorf("no backend error or skip while Redis was down: the kill did not reach the region (%+v)", st)
	}
	db.load(t, r, 20, 2*time.Second, nil).check(t, "after the restart")
}
