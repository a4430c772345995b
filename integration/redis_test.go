package integration_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/locktest"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

func TestRedisBackendConformance(t *testing.T) {
	srv := servers.Redis(t)
	backendtest.RunWith(t, backendtest.RunOptions{TTL: 300 * time.Millisecond}, func(t *testing.T) backend.Backend {
		s, err := redisstore.New(redisClient(t, srv.Addr), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestRedisBackendConformanceSmallBatches runs the suite with multi-key
// commands split into batches of 3 keys, so the batching is exercised.
func TestRedisBackendConformanceSmallBatches(t *testing.T) {
	srv := servers.Redis(t)
	backendtest.RunWith(t, backendtest.RunOptions{SkipTTL: true}, func(t *testing.T) backend.Backend {
		s, err := redisstore.New(redisClient(t, srv.Addr), redisstore.Options{BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestRedisBackendOpen(t *testing.T) {
	srv := servers.Redis(t)
	s, err := redisstore.Open("redis://"+srv.Addr+"/2?dial_timeout=200ms", redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The value went to database 2, as the URL says.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 2})
	defer c.Close()
	db2, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db2.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get k in db 2 = %q, %v; want v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Get after Close = %v, want redis.ErrClosed (Open's client is owned)", err)
	}
	if _, err := redisstore.Open("redis://%zz", redisstore.Options{}); !errors.Is(err, redisstore.ErrInvalidOptions) {
		t.Fatalf("Open of a bad URL = %v, want ErrInvalidOptions", err)
	}
}

func TestRedisLockerConformance(t *testing.T) {
	srv := servers.Redis(t)
	locktest.Run(t, func(t *testing.T) lock.Locker {
		l, err := redislocker.New(redisClient(t, srv.Addr), redislocker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// TestRedisOneLockAttemptPerProcess checks that 100 goroutines of one
// process on a cold key cost one lock attempt, counted on the wire.
func TestRedisOneLockAttemptPerProcess(t *testing.T) {
	srv := servers.Redis(t)
	c := redisClient(t, srv.Addr)
	hook := &cmdCounter{match: isLockAttempt("c1:{3:one:cold}:l")}
	c.AddHook(hook)
	r := newRedisStack(t, c).region(t, "one", region.Config{})
	var calls atomic.Int64
	create := func(context.Context) (string, error) {
		calls.Add(1)
		time.Sleep(100 * time.Millisecond)
		return "v", nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			v, err := region.GetOrCreate(t.Context(), r, "cold", create)
			if err == nil && v != "v" {
				err = fmt.Errorf("got %q", v)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := hook.matched.Load(); n != 1 {
		t.Errorf("%d lock attempts on the wire, want 1", n)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("creator ran %d times, want 1", n)
	}
}

// redisCounter reads a counter the workers increment (0 when missing).
func redisCounter(t testing.TB, c redis.UniversalClient, key string) int {
	t.Helper()
	n, err := c.Get(context.Background(), key).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return n
}

// TestRedisKilledLockHolder: a process killed while it holds the lock leaves
// it to expire; another process then creates the value, without hanging.
func TestRedisKilledLockHolder(t *testing.T) {
	srv := servers.Redis(t)
	c := redisClient(t, srv.Addr)
	tg := redisTargetOn("redis", []string{srv.Addr}, c)
	holder := workerCmd(t, append([]string{"-mode", "stampede"}, tg.args("-region", "kill", "-key", "k",
		"-counter", "kill:n", "-goroutines", "1", "-sleep", "50s", "-lockttl", "1s")...)...)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the holder to enter the creator", func() bool {
		return tg.counter(t, "kill:n") == 1
	})
	// Hold on past several lock TTLs: the holder's keepalive extends it.
	time.Sleep(1500 * time.Millisecond)
	if n, _ := c.Exists(t.Context(), "c1:{4:kill:k}:l").Result(); n != 1 {
		t.Fatalf("lock key missing while its holder runs (keepalive failed)")
	}
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := holder.Wait(); !errors.As(err, &exit) {
		t.Fatalf("holder exited with %v, want killed", err)
	}
	started := time.Now()
	results := stampedes(t, 1, tg.args("-region", "kill", "-key", "k", "-counter", "kill:n",
		"-goroutines", "10", "-sleep", "10ms", "-lockttl", "1s")...)
	values, errs, _ := tally(results)
	if len(errs) > 0 {
		t.Fatalf("callers failed: %q", errs)
	}
	if !maps.Equal(values, map[string]int{"v2": 10}) {
		t.Fatalf("values %v, want v2 (the second creation) for all 10 callers", values)
	}
	t.Logf("second process created the value %v after the kill (lock TTL 1s)", time.Since(started))
}

// TestRedisOutage stops Redis under load: callers keep getting values from
// the creator, failures are counted, and caching resumes with the same
// client once Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := servers.Redis(t)
	c := redisClient(t, srv.Addr)
	r := newRedisStack(t, c).region(t, "outage", region.Config{Expiration: time.Minute})
	var created atomic.Int64
	create := func(key string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			created.Add(1)
			return "value of " + key, nil
		}
	}
	load := func(rounds int) {
		t.Helper()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range rounds {
					key := fmt.Sprint("k", (g+i)%10)
					v, err := region.GetOrCreate(t.Context(), r, key, create(key))
					if err != nil || v != "value of "+key {
						t.Errorf("GetOrCreate(%s) = %q, %v", key, v, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	load(50)
	before := r.Stats()
	if before.Hits == 0 || before.BackendErrors != 0 {
		t.Fatalf("warm-up stats %+v: want hits and no backend errors", before)
	}

	srv.Stop()
	createdBefore := created.Load()
	load(20)
	down := r.Stats()
	if down.BackendErrors == before.BackendErrors {
		t.Fatalf("no backend errors counted while Redis was down: %+v", down)
	}
	// Every call got its value (load checks it), from the creator: nothing
	// could be read. Calls on one key at the same moment share a creation.
	if created.Load() == createdBefore {
		t.Fatal("creator never ran while Redis was down")
	}
	if down.Hits != before.Hits {
		t.Fatalf("hits counted while Redis was down: %+v", down)
	}

	srv.Start()
	eventually(t, 10*time.Second, "hits to come back after the restart", func() bool {
		hits := r.Stats().Hits
		load(5)
		return r.Stats().Hits-hits >= 30 // most of 40 calls
	})
}

// TestRedisUndecodable: bytes another client wrote under a region key are a
// miss, regenerated; behind a value header of the store's they reach the
// decoder and are counted as decode errors too.
func TestRedisUndecodable(t *testing.T) {
	srv := servers.Redis(t)
	c := redisClient(t, srv.Addr)
	r := newRedisStack(t, c).region(t, "dec", region.Config{})
	// valueHeader is the store's header of a value (see package redisstore):
	// kind 0xF5 and an 8-byte version.
	const valueHeader = "\xf5\x00\x00\x00\x00\x00\x00\x00\x01"
	var decodeErrors uint64
	for i, junk := range []string{
		"", "garbage", "\x00\x01\x02\x03\xff\xfe", strings.Repeat("\x93", 100), "\xf5short",
		valueHeader, valueHeader + "garbage", valueHeader + strings.Repeat("\x93", 100),
	} {
		key := fmt.Sprint("k", i)
		if err := c.Set(t.Context(), r.BackendKey(key), junk, 0).Err(); err != nil {
			t.Fatal(err)
		}
		v, err := region.GetOrCreate(t.Context(), r, key, func(context.Context) (int, error) { return 7, nil })
		if err != nil || v != 7 {
			t.Fatalf("GetOrCreate over junk %q = %v, %v; want 7", junk, v, err)
		}
		if strings.HasPrefix(junk, valueHeader) {
			decodeErrors++
		}
		if st := r.Stats(); st.DecodeErrors != decodeErrors || st.Regenerations != uint64(i+1) {
			t.Fatalf("after junk %q: %+v, want %d decode errors and %d regenerations", junk, st, decodeErrors, i+1)
		}
		// The regenerated value replaced the junk.
		if v, found, err := region.Get[int](t.Context(), r, key); err != nil || !found || v != 7 {
			t.Fatalf("Get after regeneration = %v, %t, %v", v, found, err)
		}
	}
}

// TestRedisRoundTrips counts, on the wire, what a hit and a creation cost
// once the scripts are loaded, on a single node and a Cluster (a pipeline
// whose batches go to their nodes in parallel counts once), and logs one
// line per path. With the store's lease, which is the lock: the first
// read; the lease (the lock, the fence and the generations, in one
// pipeline); the store under the fence, which ends the lock (recording a
// cached function's key in the same round trip): 3. With a Locker beside
// the store (redislocker), as before: the first read, the lock, the
// generations, the leased re-read, the conditional store, the release: 6.
// A hit is one GET; a Set reads the generations, so its value is stamped
// with every invalidation made before it: 2.
func TestRedisRoundTrips(t *testing.T) {
	srv := servers.Redis(t)
	cl := servers.RedisCluster(t, 3)
	for _, dep := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"redis", func(t *testing.T) redis.UniversalClient { return redisClient(t, srv.Addr) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return clusterClient(t, cl.Addrs()) }},
	} {
		for _, mode := range []struct {
			name     string
			locker   bool
			proxied  bool
			creation int64
		}{{"lease", false, false, 3}, {"redislocker", true, false, 6}, {"proxied-lease", false, true, 3}} {
			t.Run(dep.name+"/"+mode.name, func(t *testing.T) {
				c := dep.client(t)
				hook := &cmdCounter{}
				c.AddHook(hook)
				stack := newRedisStack(t, c)
				if mode.locker {
					l, err := redislocker.New(c, redislocker.Options{})
					if err != nil {
						t.Fatal(err)
					}
					stack.locker = l
				}
				if mode.proxied { // a proxy keeps the store's lease: still 3
					stack.proxied = passProxy(t, stack.store)
				}
				r := stack.region(t, "trips-"+mode.name, region.Config{InvalidationRefresh: time.Hour})
				ctx := t.Context()
				f, err := region.Cache1(r, func(_ context.Context, id int) (int, error) { return id, nil }, region.Named("f"))
				if err != nil {
					t.Fatal(err)
				}
				create := func(context.Context) (string, error) { return "v", nil }
				count := func(call func() error) int64 {
					t.Helper()
					before := hook.trips.Load()
					if err := call(); err != nil {
						t.Fatal(err)
					}
					return hook.trips.Load() - before
				}
				// Warm up: load the scripts (on every node of a Cluster: keys
				// enough to reach them all), read the generations once.
				for i := range 16 {
					_ = count(func() error { _, err := region.GetOrCreate(ctx, r, "warm"+strconv.Itoa(i), create); return err })
				}
				_ = count(func() error { _, err := f.Call(ctx, 0); return err })
				tagged := region.WithTags("user:1")
				_ = count(func() error { _, err := region.GetOrCreate(ctx, r, "warm-tagged", create, tagged); return err })

				for _, tt := range []struct {
					name string
					call func() error
					want int64
				}{
					{"creation", func() error { _, err := region.GetOrCreate(ctx, r, "k", create); return err }, mode.creation},
					{"hit", func() error { _, err := region.GetOrCreate(ctx, r, "k", create); return err }, 1},
					{"cached function creation", func() error { _, err := f.Call(ctx, 1); return err }, mode.creation},
					{"cached function hit", func() error { _, err := f.Call(ctx, 1); return err }, 1},
					{"tagged creation", func() error { _, err := region.GetOrCreate(ctx, r, "t", create, tagged); return err }, mode.creation},
					{"tagged hit", func() error { _, err := region.GetOrCreate(ctx, r, "t", create, tagged); return err }, 1},
					{"invalidate tag", func() error { return r.InvalidateTags(ctx, "user:1") }, 2},
					{"set", func() error { return r.Set(ctx, "k", "w") }, 2},
					{"delete", func() error { return r.Delete(ctx, "k") }, 1},
				} {
					got := count(tt.call)
					t.Logf("%s (%s) %s: %d round trips", dep.name, mode.name, tt.name, got)
					if got != tt.want {
						t.Errorf("%s: %d round trips, want %d", tt.name, got, tt.want)
					}
				}
			})
		}
	}
}
