package integration_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

func TestMemcachedTooLargeValueIsReturnedNotStored(t *testing.T) {
	srv := mcServer(t)
	s := newMCStack(t, memcachereg.Options{}, srv.Addr)
	r := s.region(t, "big", region.Config{Expiration: time.Minute})
	big := make([]byte, 2<<20) // random bytes do not compress
	_, _ = rand.Read(big)
	ctx := mcCtx(t, 10*time.Second)

	var calls atomic.Int32
	create := func(context.Context) ([]byte, error) { calls.Add(1); return big, nil }
	got, err := region.GetOrCreate(ctx, r, "k", create)
	if err != nil || len(got) != len(big) {
		t.Fatalf("GetOrCreate of a value over the item limit = %d bytes, %v; want the created value", len(got), err)
	}
	if st := r.Stats(); st.BackendErrors != 0 || st.NotCached != 1 || st.BreakerTrips != 0 {
		t.Errorf("stats %+v: want the refused set counted as not cached (1), not as a backend error, and no breaker trip", st)
	}
	if _, found, err := region.Get[[]byte](ctx, r, "k"); found || err != nil {
		t.Errorf("Get after a refused set = found %t, %v; want a miss", found, err)
	}
	err = s.store.Set(ctx, "direct", big, 0)
	if !errors.Is(err, memcachestore.ErrTooLarge) || !strings.Contains(err.Error(), "memcachestore: value of 2097152 bytes exceeds the item limit") {
		t.Errorf("Store.Set of 2 MiB = %v, want ErrTooLarge with the size", err)
	}
	// The connection is still usable: the value never reached the server.
	if _, err := region.GetOrCreate(ctx, r, "small", func(context.Context) (string, error) { return "ok", nil }); err != nil {
		t.Fatal(err)
	}
	if v, found, err := region.Get[string](ctx, r, "small"); !found || v != "ok" || err != nil {
		t.Errorf("Get(small) = %q, %t, %v", v, found, err)
	}
}

func TestMemcachedIllegalKeysRoundTrip(t *testing.T) {
	srv := mcServer(t)
	a := newMCStack(t, memcachereg.Options{}, srv.Addr)
	b := newMCStack(t, memcachereg.Options{}, srv.Addr) // built independently, as another process
	ra := a.region(t, "keys", region.Config{})
	rb := b.region(t, "keys", region.Config{})
	ctx := mcCtx(t, 10*time.Second)
	keys := map[string]string{
		"Long400":  strings.Repeat("0123456789", 40),
		"Spaces":   "a key with spaces",
		"Controls": "tab\tnewline\r\nnul\x00",
	}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			if err := ra.Set(ctx, key, "value of "+name); err != nil {
				t.Fatalf("Set: %v", err)
			}
			v, found, err := region.Get[string](ctx, rb, key)
			if err != nil || !found || v != "value of "+name {
				t.Fatalf("Get from another stack = %q, %t, %v", v, found, err)
			}
			// The item is where MangleKey says, for any client.
			it, err := b.client.Get(memcachestore.MangleKey(rb.BackendKey(key)))
			if err != nil || len(it.Value) == 0 {
				t.Fatalf("raw get of the mangled key: %v", err)
			}
			// And the lock of such a key works too.
			got, err := region.GetOrCreate(ctx, rb, key+" created", func(context.Context) (string, error) { return "c", nil })
			if err != nil || got != "c" {
				t.Fatalf("GetOrCreate = %q, %v", got, err)
			}
		})
	}
	if st := ra.Stats(); st.BackendErrors != 0 {
		t.Errorf("BackendErrors = %d, want 0: no key reached the server illegal", st.BackendErrors)
	}
}

func TestMemcachedFailOpenAndRecovery(t *testing.T) {
	srv := mcServer(t)
	s := newMCStack(t, memcachereg.Options{}, srv.Addr)
	r := s.region(t, "failopen", region.Config{Expiration: time.Minute})
	ctx := mcCtx(t, 20*time.Second)
	var calls atomic.Int32
	create := func(context.Context) (int, error) { return int(calls.Add(1)), nil }

	if v, err := region.GetOrCreate(ctx, r, "k", create); err != nil || v != 1 {
		t.Fatalf("first GetOrCreate = %d, %v", v, err)
	}
	srv.Stop()
	for i := range 5 {
		v, err := region.GetOrCreate(ctx, r, "k", create)
		if err != nil || v != i+2 {
			t.Fatalf("GetOrCreate with the server down = %d, %v; want the creator's %d", v, err, i+2)
		}
	}
	if st := r.Stats(); st.BackendErrors == 0 {
		t.Errorf("BackendErrors = 0 with the server down")
	}
	if st := r.Stats(); st.BreakerState != region.BreakerOpen {
		t.Errorf("breaker %v after 5 failed calls, want open", st.BreakerState)
	}
	srv.Start() // empty again
	// The breaker lets a probe through within BreakerCooldown; once it
	// succeeds, the value created next is cached.
	eventually(t, 5*time.Second, "caching to resume after the restart", func() bool {
		a, err := region.GetOrCreate(ctx, r, "k", create)
		if err != nil {
			t.Fatalf("GetOrCreate after the restart: %v", err)
		}
		b, err := region.GetOrCreate(ctx, r, "k", create)
		if err != nil {
			t.Fatalf("GetOrCreate after the restart: %v", err)
		}
		return a == b
	})
	before, n := r.Stats().BackendErrors, calls.Load()
	if v, err := region.GetOrCreate(ctx, r, "k", create); err != nil || v != int(n) {
		t.Fatalf("GetOrCreate after recovery = %d, %v; want the cached %d", v, err, n)
	}
	if st := r.Stats(); st.BackendErrors != before || calls.Load() != n || st.BreakerState != region.BreakerClosed {
		t.Errorf("caching did not resume: %d creator calls, %d backend errors after recovery, breaker %v", calls.Load()-n, st.BackendErrors-before, st.BreakerState)
	}
}

func TestMemcachedPoolServerKilledMidLoad(t *testing.T) {
	a, b, c := mcServer(t), mcServer(t), mcServer(t)
	s := newMCStack(t, memcachereg.Options{}, a.Addr, b.Addr, c.Addr)
	r := s.region(t, "pool", region.Config{Expiration: time.Minute, LockWait: 2 * time.Second})
	ctx := mcCtx(t, 60*time.Second)

	const (
		workers = 16
		keys    = 64
	)
	var (
		served, failed atomic.Int64
		stop           = make(chan struct{})
		wg             sync.WaitGroup
		errMu          sync.Mutex
		firstErr       error
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k%d", (w*7+i)%keys)
				v, err := region.GetOrCreate(ctx, r, key, func(context.Context) (string, error) { return "v" + key, nil })
				if err != nil || v != "v"+key {
					failed.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("GetOrCreate(%s) = %q, %v", key, v, err)
					}
					errMu.Unlock()
					continue
				}
				served.Add(1)
			}
		})
	}
	eventually(t, 10*time.Second, "load warmed up", func() bool { return served.Load() > 2000 })
	b.Stop()
	atKill := served.Load()
	eventually(t, 20*time.Second, "callers served after the kill", func() bool { return served.Load() > atKill+2000 })
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d calls failed; first: %v", failed.Load(), firstErr)
	}
	st := r.Stats()
	if st.BackendErrors == 0 {
		t.Errorf("BackendErrors = 0 after a pool server was killed")
	}
	t.Logf("served %d calls (%d after the kill); stats %+v", served.Load(), served.Load()-atKill, st)
}

func TestMemcachedRegistryCrossStack(t *testing.T) {
	srv := mcServer(t)
	// A's clock is ours to move, so its cached generation ages without
	// sleeping.
	var nowA atomic.Int64
	nowA.Store(time.Now().UnixNano())
	clockA := clockFunc(func() time.Time { return time.Unix(0, nowA.Load()) })
	a := newMCStack(t, memcachereg.Options{CacheFor: time.Second, Now: clockA.Now}, srv.Addr)
	b := newMCStack(t, memcachereg.Options{}, srv.Addr)
	ra := a.region(t, "reg", region.Config{Clock: clockA, InvalidationRefresh: time.Second})
	rb := b.region(t, "reg", region.Config{})
	ctx := mcCtx(t, 10*time.Second)

	var calls atomic.Int32
	user := func(_ context.Context, id int) (string, error) {
		return fmt.Sprintf("user %d v%d", id, calls.Add(1)), nil
	}
	fa, err := region.Cache1(ra, user, region.Named("getUser"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := region.Cache1(rb, user, region.Named("getUser"))
	if err != nil {
		t.Fatal(err)
	}
	mustCall := func(f *region.Func1[int, string], id int, want string) {
		t.Helper()
		if v, err := f.Call(ctx, id); err != nil || v != want {
			t.Fatalf("Call(%d) = %q, %v; want %q", id, v, err, want)
		}
	}
	mustCall(fa, 1, "user 1 v1")
	mustCall(fa, 2, "user 2 v2")
	mustCall(fb, 1, "user 1 v1") // B reads what A stored
	if _, rec, err := fb.Key(ctx, 1); err != nil || !rec {
		t.Fatalf("B: Key(1) recorded = %t, %v; want recorded by A", rec, err)
	}

	// Invalidate one call from B: A recreates it at once.
	if err := fb.Invalidate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, rec, _ := fa.Key(ctx, 1); rec {
		t.Errorf("A: Key(1) still recorded after B's Invalidate")
	}
	mustCall(fa, 1, "user 1 v3")
	mustCall(fa, 2, "user 2 v2")

	// Invalidate all from B: B sees it at once; A once its view of the
	// function's generation ages past InvalidationRefresh.
	if err := fb.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	mustCall(fb, 2, "user 2 v4")
	mustCall(fa, 1, "user 1 v3") // A's view of the generation is still fresh
	nowA.Add(int64(time.Second))
	mustCall(fa, 1, "user 1 v5")
	mustCall(fa, 2, "user 2 v4") // the new generation's value, from B

	if _, err := fa.Keys(ctx); !errors.Is(err, memcachereg.ErrNotListable) {
		t.Errorf("Keys = %v, want ErrNotListable", err)
	}
}

func TestMemcachedRegistryGenerationNeverGoesBack(t *testing.T) {
	srv := mcServer(t)
	s := newMCStack(t, memcachereg.Options{CacheFor: -1}, srv.Addr)
	ctx := mcCtx(t, 10*time.Second)
	gen := func() uint64 {
		t.Helper()
		ns, err := s.reg.Namespace(ctx, "fn")
		if err != nil {
			t.Fatal(err)
		}
		var g uint64
		if _, err := fmt.Sscanf(ns, "fn#g%d", &g); err != nil {
			t.Fatalf("Namespace = %q: %v", ns, err)
		}
		return g
	}
	g0 := gen()
	if ms := uint64(time.Now().UnixMilli()); g0 > ms || ms-g0 > 10_000 {
		t.Errorf("first generation %d is not the time in ms (%d)", g0, ms)
	}
	if _, err := s.reg.ForgetAll(ctx, "fn"); err != nil {
		t.Fatal(err)
	}
	g1 := gen()
	if g1 != g0+1 {
		t.Fatalf("generation after ForgetAll = %d, want %d", g1, g0+1)
	}
	genKey := memcachestore.MangleKey(memcachereg.DefaultPrefix + "gen:fn")
	// Evicted (deleted): recreated, larger.
	if err := s.client.Delete(genKey); err != nil {
		t.Fatal(err)
	}
	if g2 := gen(); g2 <= g1 {
		t.Fatalf("generation after eviction = %d, want > %d", g2, g1)
	}
	// Recreated lower (another process's clock behind): moved past.
	g3 := gen()
	if err := s.client.Set(&memcache.Item{Key: genKey, Value: []byte("5")}); err != nil {
		t.Fatal(err)
	}
	if g4 := gen(); g4 <= g3 {
		t.Fatalf("generation after a reset to 5 = %d, want > %d", g4, g3)
	}
	if _, err := s.reg.ForgetAll(ctx, "fn"); err != nil {
		t.Fatal(err)
	}
}

func TestMemcachedRegionInvalidationSharedAcrossStacks(t *testing.T) {
	srv := mcServer(t)
	a := newMCStack(t, memcachereg.Options{}, srv.Addr)
	b := newMCStack(t, memcachereg.Options{}, srv.Addr)
	ra := a.region(t, "inv", region.Config{InvalidationRefresh: 20 * time.Millisecond})
	rb := b.region(t, "inv", region.Config{InvalidationRefresh: 20 * time.Millisecond})
	ctx := mcCtx(t, 10*time.Second)
	if err := ra.Set(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := rb.Invalidate(ctx, region.Hard); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "A sees B's hard invalidation", func() bool {
		_, found, _ := region.Get[string](ctx, ra, "k", region.IgnoreExpiration())
		return !found
	})
	if err := ra.Set(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := rb.Invalidate(ctx, region.Soft); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "A sees B's soft invalidation", func() bool {
		_, found, _ := region.Get[string](ctx, ra, "k")
		return !found
	})
	if v, found, _ := region.Get[string](ctx, ra, "k", region.IgnoreExpiration()); !found || v != "v2" {
		t.Errorf("soft-invalidated value = %q, %t; want the stale v2", v, found)
	}
	// The marks live under mangled keys (they hold a NUL byte).
	if st := ra.Stats(); st.BackendErrors != 0 {
		t.Errorf("BackendErrors = %d, want 0", st.BackendErrors)
	}
}

// clockFunc is a region.Clock telling the time it returns.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }
