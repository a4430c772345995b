package integration_test

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/integration/internal/servers"
)

// The multi-process tests run worker processes (integration/internal/worker)
// against real servers, to check what a single process cannot: that the
// dogpile lock, the key registry and region-wide invalidation hold across
// processes. Each runs once per backend, on servers of its own.

func TestMultiProcessStampede(t *testing.T)      { forEachBackend(t, testStampede) }
func TestMultiProcessStaleStampede(t *testing.T) { forEachBackend(t, testStaleStampede) }
func TestMultiProcessSlowCreator(t *testing.T)   { forEachBackend(t, testSlowCreator) }
func TestMultiProcessKeys(t *testing.T)          { forEachBackend(t, testKeys) }
func TestMultiProcessInvalidation(t *testing.T)  { forEachBackend(t, testInvalidation) }

// forEachBackend runs test as a subtest per backend, each starting its
// servers.
func forEachBackend(t *testing.T, test func(t *testing.T, tg target)) {
	backends := []struct {
		name  string
		start func(t *testing.T) target
	}{
		{"redis", redisTarget},
		{"cluster", clusterTarget},
		{"memcached", memcachedTarget},
		{"memcached-meta", memcachedMetaTarget},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.start(t)) })
	}
}

// redisTarget starts a Redis.
func redisTarget(t *testing.T) target {
	srv := servers.Redis(t)
	return redisTargetOn("redis", []string{srv.Addr}, redisClient(t, srv.Addr))
}

// clusterTarget starts a three-master Redis Cluster, where a region's keys,
// its locks and its registry sets live on different nodes.
func clusterTarget(t *testing.T) target {
	cl := servers.RedisCluster(t, 3)
	return redisTargetOn("cluster", cl.Addrs(), clusterClient(t, cl.Addrs()))
}

// redisTargetOn is the target of the worker's backend on the servers at
// addrs, whose counters c reads.
func redisTargetOn(backend string, addrs []string, c redis.UniversalClient) target {
	return target{backend: backend, addrs: addrs, counter: func(t testing.TB, key string) int {
		return redisCounter(t, c, key)
	}}
}

// memcachedTarget starts a memcached.
func memcachedTarget(t *testing.T) target {
	srv := servers.Memcached(t)
	c := mcClient(t, srv.Addr)
	return target{backend: "memcached", addrs: []string{srv.Addr},
		counter: func(t testing.TB, key string) int { return mcCounter(t, c, key) }}
}

// memcachedMetaTarget is memcachedTarget with workers whose store, locker
// and registry are on a memcachestore.Pool: they use the meta protocol.
func memcachedMetaTarget(t *testing.T) target {
	tg := memcachedTarget(t)
	tg.backend = "memcached-meta"
	return tg
}

// stampedeOnce runs 4 worker processes × 100 goroutines calling
// GetOrCreate together with args (which name the region, the key, and the
// counter the creator increments), checks that no caller failed and that the
// creator ran exactly once in total (counted on the server and by the
// workers), and returns the values the callers got and the workers' results.
func stampedeOnce(t *testing.T, tg target, counterKey string, args ...string) (map[string]int, []stampedeResult) {
	t.Helper()
	results := stampedes(t, 4, tg.args(append([]string{"-counter", counterKey, "-goroutines", "100"}, args...)...)...)
	values, errs, created := tally(results)
	if len(errs) > 0 {
		t.Fatalf("callers failed: %q", errs)
	}
	if n := tg.counter(t, counterKey); n != 1 || created != 1 {
		t.Fatalf("creator ran %d times (counted on the server), %d by the workers' count; want 1", n, created)
	}
	return values, results
}

// testStampede: 400 callers in 4 processes on one cold key run the creator
// once, and every caller gets its value.
func testStampede(t *testing.T, tg target) {
	values, _ := stampedeOnce(t, tg, "stampede:n", "-region", "stampede", "-key", "cold", "-sleep", "300ms")
	if !maps.Equal(values, map[string]int{"v1": 400}) {
		t.Fatalf("values %v, want v1 for all 400 callers", values)
	}
}

// testStaleStampede: the same on an expired entry: one regeneration, and
// every other caller is served the stale value without waiting.
func testStaleStampede(t *testing.T, tg target) {
	w := serveWorker(t, "writer", tg.args("-region", "stale")...)
	w.do("set hot old 50ms")
	eventually(t, 5*time.Second, "the entry to go stale", func() bool { return !w.do("get hot").Found })
	values, results := stampedeOnce(t, tg, "stale:n", "-region", "stale", "-key", "hot", "-sleep", "1s")
	if !maps.Equal(values, map[string]int{"old": 399, "v1": 1}) {
		t.Fatalf("values %v, want the stale value for 399 callers and v1 for the regenerating one", values)
	}
	var stale, waits uint64
	for _, res := range results {
		stale += res.Stats.StaleServed
		waits += res.Stats.LockWaits
	}
	if stale != 399 || waits != 0 {
		t.Fatalf("StaleServed sums to %d, LockWaits to %d; want 399 and 0 (a stale value is served at once)", stale, waits)
	}
}

// testSlowCreator: a creator slower than the lock TTL still runs once: the
// region extends the lock while it runs.
func testSlowCreator(t *testing.T, tg target) {
	values, results := stampedeOnce(t, tg, "slow:n", "-region", "slow", "-key", "k", "-sleep", "1200ms", "-lockttl", "300ms")
	if !maps.Equal(values, map[string]int{"v1": 400}) {
		t.Fatalf("values %v, want v1 for all 400 callers", values)
	}
	for _, res := range results {
		if res.Stats.LocksLost != 0 {
			t.Fatalf("a worker lost its lock (TTL 300ms, creator 1.2s): %+v", res.Stats)
		}
	}
}

// testKeys: keys that memcached's protocol does not allow as they are (too
// long, with spaces) written by one process are read by another.
func testKeys(t *testing.T, tg target) {
	a, b := serveWorker(t, "A", tg.args("-region", "keys")...), serveWorker(t, "B", tg.args("-region", "keys")...)
	for _, key := range []string{strings.Repeat("x", 400), "a key with spaces"} {
		k := strconv.Quote(key)
		for _, p := range [][2]*server{{a, b}, {b, a}} {
			writer, reader := p[0], p[1]
			want := "from " + writer.name
			writer.do(fmt.Sprintf("set %s %q", k, want))
			if r := reader.do("get " + k); !r.Found || r.Value != want {
				t.Fatalf("key of %d bytes written by %s: %s read %q, found %t; want %q",
					len(key), writer.name, reader.name, r.Value, r.Found, want)
			}
		}
	}
}

// testInvalidation: processes A and B share GetUser's cache; each sees the
// other's invalidations by arguments, by function and region-wide. GetUser's
// values are "user<id>#<n>", n counting its runs in every process.
func testInvalidation(t *testing.T, tg target) {
	args := tg.args("-region", "inval", "-refresh", "100ms", "-sleep", "0s")
	a, b := serveWorker(t, "A", args...), serveWorker(t, "B", args...)
	// call checks that s's GetUser(id) is the value of the nth run, computed
	// by s or not.
	call := func(s *server, id, n int, computed bool) {
		t.Helper()
		want := fmt.Sprintf("user%d#%d", id, n)
		if r := s.do(fmt.Sprint("call ", id)); r.Value != want || r.Computed != computed {
			t.Fatalf("%s: call %d = %q (computed %t), want %q (computed %t)", s.name, id, r.Value, r.Computed, want, computed)
		}
	}
	call(a, 42, 1, true)
	call(a, 43, 2, true)
	call(a, 42, 1, false)
	call(b, 42, 1, false) // B shares A's cache
	call(b, 43, 2, false)

	b.do("invalidate 42")
	call(a, 42, 3, true)
	call(a, 43, 2, false)

	// Invalidate by function. Redis's registry lists the function's keys,
	// which InvalidateAll deletes: A sees it at once. memcached's cannot
	// list them; A sees the function's new generation within its
	// InvalidationRefresh (-refresh).
	// afterInvalidateAll checks that s's next GetUser(42) after another
	// process's invalidate-all is the nth run, computed by s: at once where
	// the registry lists the keys, else once s's run n-1 value is retired.
	afterInvalidateAll := func(s *server, n int) {
		t.Helper()
		if tg.listable() {
			call(s, 42, n, true)
			return
		}
		var r serveReply
		eventually(t, 5*time.Second, s.name+" to see the invalidate-all", func() bool {
			r = s.do("call 42")
			return r.Computed
		})
		if want := fmt.Sprintf("user42#%d", n); r.Value != want {
			t.Fatalf("%s: call 42 after the invalidate-all = %q, want %q computed", s.name, r.Value, want)
		}
	}
	b.do("invalidate-all")
	afterInvalidateAll(a, 4)
	call(a, 43, 5, true)
	call(a, 42, 4, false)

	// And the other way round.
	a.do("invalidate-all")
	afterInvalidateAll(b, 6)
	call(a, 42, 6, false)

	// Region-wide soft invalidation: A's entries turn stale. Invalidation
	// counts generations, not clock readings, so an entry written just
	// before it, by another process, is on the right side of it.
	b.do("region-invalidate soft")
	eventually(t, 5*time.Second, "A to see the soft invalidation", func() bool {
		return !a.do("fresh 42").Found
	})
	if r := a.do("peek 42"); !r.Found || r.Value != "user42#6" {
		t.Fatalf("after a soft invalidation A's stale value for 42 is %q, found %t; want user42#6", r.Value, r.Found)
	}
	call(a, 43, 7, true) // regenerated, and fresh again
	call(a, 43, 7, false)

	// Hard: A's entries turn missing.
	b.do("region-invalidate hard")
	eventually(t, 5*time.Second, "A to see the hard invalidation", func() bool {
		return !a.do("peek 42").Found
	})
	if r := a.do("peek 43"); r.Found {
		t.Fatalf("after a hard invalidation A still has a value for 43: %+v", r)
	}
	call(a, 42, 8, true)
	call(a, 42, 8, false)
	call(b, 42, 8, false)
}
