package integration_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// nearBound is the worst case the near cache states on Redis for a write
// to reach another process: redisstore's TrackingTimeout plus its
// TrackingPing (a stream that stalls silently). A push on a live stream
// takes about a loopback round trip; the tests log what they measure.
const nearBound = 1100 * time.Millisecond

// nearRegions returns n regions named name, each on a client of its own
// (as n processes), with a near cache.
func nearRegions(t *testing.T, n int, client func(t *testing.T) redis.UniversalClient) []*region.Region {
	t.Helper()
	out := make([]*region.Region, n)
	for i := range out {
		out[i] = newRedisStack(t, client(t)).region(t, "near", region.Config{Near: region.NearConfig{MaxEntries: 1000}})
	}
	waitNearLive(t, out...)
	return out
}

// waitNearLive waits until every region's near cache serves.
func waitNearLive(t *testing.T, rs ...*region.Region) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range rs {
		for !r.Stats().NearLive {
			if time.Now().After(deadline) {
				t.Fatalf("the near cache of a region never went live: %+v", r.Stats())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func getInt(t *testing.T, r *region.Region, key string) int {
	t.Helper()
	v, ok, err := region.Get[int](context.Background(), r, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !ok {
		return -1
	}
	return v
}

// warmNear reads key in r until r serves it from its near cache, and
// returns the value.
func warmNear(t *testing.T, r *region.Region, key string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := r.Stats().NearHits
		v := getInt(t, r, key)
		if r.Stats().NearHits > before {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never served from the near cache: %+v", key, r.Stats())
		}
	}
}

// awaitValue reads key in r until it returns want, and returns how long
// after the call the read that did began; it fails the test when a read that
// began more than bound after the call returns something else.
func awaitValue(t *testing.T, r *region.Region, key string, want int, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		began := time.Since(start)
		got := getInt(t, r, key)
		if got == want {
			return began
		}
		if began > bound {
			t.Fatalf("%q read %d by a read that began %v after the write of %d returned (bound %v): %+v", key, got, began, want, bound, r.Stats())
		}
	}
}

// testNearPropagation checks that a write in any of the regions reaches
// the near caches of the others within the bound, and that they had the
// old value in their near cache when it was written.
func testNearPropagation(t *testing.T, rs []*region.Region, writes int) {
	ctx := context.Background()
	var lags []time.Duration
	for i := range writes {
		key := "k" + strconv.Itoa(i%4)
		w := rs[i%len(rs)]
		if err := w.Set(ctx, key, i); err != nil {
			t.Fatal(err)
		}
		if got := getInt(t, w, key); got != i {
			t.Fatalf("the writer read %d right after writing %d", got, i)
		}
		for _, r := range rs {
			if r != w {
				lags = append(lags, awaitValue(t, r, key, i, nearBound))
				if i+len(rs) < writes {
					warmNear(t, r, key) // the next write of key must invalidate a near copy
				}
			}
		}
	}
	slices.Sort(lags)
	t.Logf("%d writes seen by %d other processes: p50 %v, p99 %v, max %v", writes, len(rs)-1,
		lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1])
}

// killTracking kills every tracking connection on the server at addr.
func killTracking(t *testing.T, c *redis.Client) int {
	t.Helper()
	ctx := context.Background()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name=corral-near ") {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
		if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// testNearKill kills the tracking connections, writes at once (the
// invalidation is lost with them), and checks that no region serves the
// old value beyond the bound, then that the near caches serve again.
func testNearKill(t *testing.T, rs []*region.Region, admins []*redis.Client) {
	ctx := context.Background()
	if err := rs[0].Set(ctx, "killed", 1); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[1:] {
		warmNear(t, r, "killed")
	}
	flushes := rs[1].Stats().NearFlushes
	killed := 0
	for _, a := range admins {
		killed += killTracking(t, a)
	}
	if killed < len(rs) {
		t.Fatalf("killed %d tracking connections, want at least %d", killed, len(rs))
	}
	if err := rs[0].Set(ctx, "killed", 2); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[1:] {
		lag := awaitValue(t, r, "killed", 2, nearBound)
		for range 100 {
			if got := getInt(t, r, "killed"); got != 2 {
				t.Fatalf("read %d after reading 2", got)
			}
		}
		t.Logf("after the kill, the write was seen in %v", lag)
	}
	if rs[1].Stats().NearFlushes < flushes+1 {
		t.Errorf("no flush counted after the kill: %+v", rs[1].Stats())
	}
	waitNearLive(t, rs...)
	for _, r := range rs[1:] {
		if got := getInt(t, r, "killed"); got != 2 {
			t.Fatalf("read %d after the stream came back, want 2", got)
		}
	}
	testNearPropagation(t, rs, 6)
}

func TestNearRedis(t *testing.T) {
	srv := servers.Redis(t)
	client := func(t *testing.T) redis.UniversalClient { return redisClient(t, srv.Addr) }
	admin := redisClient(t, srv.Addr)
	t.Run("Propagation", func(t *testing.T) {
		testNearPropagation(t, nearRegions(t, 3, client), 300)
	})
	t.Run("KillConnection", func(t *testing.T) {
		testNearKill(t, nearRegions(t, 3, client), []*redis.Client{admin})
	})
	t.Run("Restart", func(t *testing.T) {
		rs := nearRegions(t, 2, client)
		ctx := context.Background()
		if err := rs[0].Set(ctx, "r", 1); err != nil {
			t.Fatal(err)
		}
		warmNear(t, rs[1], "r")
		srv.Stop()
		srv.Start() // empty: no persistence
		deadline := time.Now().Add(10 * time.Second)
		for rs[0].Set(ctx, "r", 2) != nil {
			if time.Now().After(deadline) {
				t.Fatal("no write succeeded after the restart")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// B's copy of 1 predates the restart: never served after the write.
		awaitValue(t, rs[1], "r", 2, nearBound)
		waitNearLive(t, rs...)
		for range 100 {
			if got := getInt(t, rs[1], "r"); got != 2 {
				t.Fatalf("read %d after the stream came back, want 2", got)
			}
		}
		testNearPropagation(t, rs, 6)
	})
	t.Run("Generations", func(t *testing.T) {
		rs := nearRegions(t, 2, client)
		ctx := context.Background()
		n := 0
		create := func(context.Context) (int, error) { n++; return n, nil }
		for _, r := range rs {
			for range 3 {
				if _, err := region.GetOrCreate(ctx, r, "g", create); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := rs[0].Invalidate(ctx, region.Hard); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			v, err := region.GetOrCreate(ctx, rs[1], "g", create)
			if err != nil {
				t.Fatal(err)
			}
			if v > 1 {
				break
			}
			if time.Since(start) > region.DefaultInvalidationRefresh+nearBound {
				t.Fatalf("a near copy survived Invalidate(Hard) in another process for %v", time.Since(start))
			}
		}
		t.Logf("Invalidate(Hard) reached the other process's near cache in %v", time.Since(start))
	})
}

func TestNearRedisCluster(t *testing.T) {
	cl := servers.RedisCluster(t, 3)
	client := func(t *testing.T) redis.UniversalClient { return clusterClient(t, cl.Addrs()) }
	var admins []*redis.Client
	for _, a := range cl.Addrs() {
		admins = append(admins, redisClient(t, a))
	}
	t.Run("Propagation", func(t *testing.T) {
		testNearPropagation(t, nearRegions(t, 3, client), 150)
	})
	t.Run("KillConnection", func(t *testing.T) {
		testNearKill(t, nearRegions(t, 3, client), admins)
	})
}

// TestNearMemcached checks the bound of a backend without push: a write in
// one process is seen by the others within MaxStaleness.
func TestNearMemcached(t *testing.T) {
	srv := mcServer(t)
	const bound = 50 * time.Millisecond
	var rs []*region.Region
	for range 3 {
		s := newMCStack(t, memcachereg.Options{}, srv.Addr)
		rs = append(rs, s.region(t, "near", region.Config{Near: region.NearConfig{MaxEntries: 100, MaxStaleness: bound}}))
	}
	ctx := context.Background()
	var lags []time.Duration
	for i := range 30 {
		w := rs[i%3]
		for _, r := range rs {
			if r != w && i > 0 {
				warmNear(t, r, "m")
			}
		}
		if err := w.Set(ctx, "m", i); err != nil {
			t.Fatal(err)
		}
		if got := getInt(t, w, "m"); got != i {
			t.Fatalf("the writer read %d right after writing %d", got, i)
		}
		for _, r := range rs {
			if r != w {
				lags = append(lags, awaitValue(t, r, "m", i, bound))
			}
		}
	}
	slices.Sort(lags)
	t.Logf("memcached, MaxStaleness %v: p50 %v, max %v", bound, lags[len(lags)/2], lags[len(lags)-1])
}
