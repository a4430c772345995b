package region_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/region"
)

// counter is a creator that counts its calls and answers what answer says.
type counter struct {
	mu     sync.Mutex
	calls  int
	answer func(n int) (string, error)
}

func (c *counter) create(context.Context) (string, error) {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.mu.Unlock()
	return c.answer(n)
}

func (c *counter) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func notFoundThen(v string) *counter {
	return &counter{answer: func(n int) (string, error) {
		if n == 1 {
			return "", fmt.Errorf("user 7: %w", region.ErrNotFound)
		}
		return v, nil
	}}
}

func TestNegativeCaching(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clock := newClock()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: clock,
				Expiration: time.Minute, NegativeExpiration: 10 * time.Second})
			ctx := context.Background()
			c := notFoundThen("found")
			for i := range 3 {
				if _, err := region.GetOrCreate(ctx, r, "k", c.create); !errors.Is(err, region.ErrNotFound) {
					t.Fatalf("call %d: got %v, want ErrNotFound", i, err)
				}
			}
			if c.Calls() != 1 {
				t.Fatalf("creator ran %d times; the cached not-found must answer the later calls", c.Calls())
			}
			if _, found, err := region.Get[string](ctx, r, "k"); found || !errors.Is(err, region.ErrNotFound) {
				t.Fatalf("Get = %v, %v; want not found with ErrNotFound", found, err)
			}
			if got, err := region.GetMulti[string](ctx, r, []string{"k"}); err != nil || len(got) != 0 {
				t.Fatalf("GetMulti = %v, %v; want no value", got, err)
			}
			// Another type asks for the same key: "not found" fits every type.
			if _, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, region.ErrNotFound) {
				t.Fatalf("as int: got %v, want ErrNotFound", err)
			}
			if _, err := region.GetOrCreateMulti(ctx, r, []string{"k"}, func(context.Context, []string) ([]string, error) {
				return []string{"x"}, nil
			}); !errors.Is(err, region.ErrNotFound) {
				t.Fatalf("GetOrCreateMulti: got %v, want ErrNotFound", err)
			}
			// Its own, shorter expiration: stale after 10s, and regenerated.
			clock.Advance(10 * time.Second)
			if v, err := region.GetOrCreate(ctx, r, "k", c.create); err != nil || v != "found" {
				t.Fatalf("after the negative expiration: %q, %v; want the regenerated value", v, err)
			}
			clock.Advance(30 * time.Second)
			if v, found, err := region.Get[string](ctx, r, "k"); err != nil || !found || v != "found" {
				t.Fatalf("value after 30s: %q, %v, %v; want it fresh (Expiration applies to values)", v, found, err)
			}
		})
	}
}

func TestNegativeCachingOffByDefault(t *testing.T) {
	r := newRegion(t, region.Config{})
	notFound := fmt.Errorf("user 7: %w", region.ErrNotFound)
	calls := 0
	for range 2 {
		_, err := region.GetOrCreate(context.Background(), r, "k", func(context.Context) (string, error) {
			calls++
			return "", notFound
		})
		if err != notFound {
			t.Fatalf("got %v, want the creator's own error", err)
		}
	}
	if calls != 2 {
		t.Fatalf("creator ran %d times, want 2: nothing is cached without NegativeExpiration", calls)
	}
}

// A cached not-found is an entry like any other: writes and invalidations
// replace or retire it.
func TestNegativeEntryIsWrittenAndInvalidatedLikeAValue(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: newClock(), NegativeExpiration: time.Minute})
			ctx := context.Background()
			miss := func() {
				t.Helper()
				c := &counter{answer: func(int) (string, error) { return "", region.ErrNotFound }}
				if _, err := region.GetOrCreate(ctx, r, "k", c.create); !errors.Is(err, region.ErrNotFound) || c.Calls() != 1 {
					t.Fatalf("got %v after %d calls; want a created not-found", err, c.Calls())
				}
			}
			miss()
			if err := r.Set(ctx, "k", "set"); err != nil {
				t.Fatal(err)
			}
			if v, found, err := region.Get[string](ctx, r, "k"); v != "set" || !found || err != nil {
				t.Fatalf("after Set: %q, %v, %v", v, found, err)
			}
			if err := r.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			miss()
			if err := r.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			miss() // the Delete retired the cached not-found: created again
			if err := r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			miss() // so did the region-wide invalidation
		})
	}
}

// A not-found created while a Delete of its key completes is not stored
// over it: leases apply to negative entries as to values.
func TestNegativeEntryHonoursLeases(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkGoroutines(t)
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: newClock(), NegativeExpiration: time.Minute})
			ctx := context.Background()
			entered, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				_, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) {
					close(entered)
					<-release
					return "", region.ErrNotFound // read before the write below
				})
				done <- err
			}()
			<-entered
			if err := r.Set(ctx, "k", "written"); err != nil {
				t.Fatal(err)
			}
			close(release)
			if err := <-done; !errors.Is(err, region.ErrNotFound) {
				t.Fatalf("creator's caller: %v", err)
			}
			if v, found, err := region.Get[string](ctx, r, "k"); v != "written" || !found || err != nil {
				t.Fatalf("after the stale not-found: %q, %v, %v; want the write to stand", v, found, err)
			}
		})
	}
}

func TestWithNegativeExpirationPerCall(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clock := newClock()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: clock})
			ctx := context.Background()
			c := notFoundThen("found")
			opt := region.WithNegativeExpiration(5 * time.Second)
			for range 2 {
				if _, err := region.GetOrCreate(ctx, r, "k", c.create, opt); !errors.Is(err, region.ErrNotFound) {
					t.Fatalf("got %v, want ErrNotFound", err)
				}
			}
			if c.Calls() != 1 {
				t.Fatalf("creator ran %d times, want 1", c.Calls())
			}
			clock.Advance(5 * time.Second)
			if v, err := region.GetOrCreate(ctx, r, "k", c.create, opt); v != "found" || err != nil {
				t.Fatalf("after 5s: %q, %v", v, err)
			}
		})
	}
}

func TestWithShouldCachePerCall(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize),
				ShouldCache: func(_ string, v any) bool { return v.(int) != 13 }})
			ctx := context.Background()
			positive := region.WithShouldCache(func(_ string, v int) bool { return v > 0 })
			for _, tc := range []struct {
				key    string
				v      int
				stored bool
			}{{"zero", 0, false}, {"thirteen", 13, false}, {"one", 1, true}} {
				if _, err := region.GetOrCreate(ctx, r, tc.key, func(context.Context) (int, error) { return tc.v, nil }, positive); err != nil {
					t.Fatal(err)
				}
				if _, found, _ := region.Get[int](ctx, r, tc.key); found != tc.stored {
					t.Errorf("%s: stored = %v, want %v", tc.key, found, tc.stored)
				}
			}
			if s := r.Stats(); s.NotCached != 2 {
				t.Errorf("NotCached = %d, want 2", s.NotCached)
			}
			panicky := region.WithShouldCache(func(string, int) bool { panic("predicate") })
			if v, err := region.GetOrCreate(ctx, r, "p", func(context.Context) (int, error) { return 5, nil }, panicky); v != 5 || err != nil {
				t.Fatalf("a panicking predicate: %v, %v; want the value, unstored", v, err)
			}
			if _, found, _ := region.Get[int](ctx, r, "p"); found {
				t.Error("a value whose predicate panicked was stored")
			}
		})
	}
}

func TestWithExpirationFunc(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clock := newClock()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: clock, Expiration: time.Hour})
			ctx := context.Background()
			// The value says how long it lives, in seconds; -1: do not store.
			ttl := region.WithExpirationFunc(func(v int) time.Duration { return time.Duration(v) * time.Second })
			for _, v := range []int{5, 20, -1} {
				if _, err := region.GetOrCreate(ctx, r, fmt.Sprint(v), func(context.Context) (int, error) { return v, nil }, ttl); err != nil {
					t.Fatal(err)
				}
			}
			fresh := func(key string) bool {
				_, found, err := region.Get[int](ctx, r, key)
				if err != nil {
					t.Fatal(err)
				}
				return found
			}
			if !fresh("5") || !fresh("20") || fresh("-1") {
				t.Fatal("want 5 and 20 stored and fresh, -1 not stored")
			}
			clock.Advance(5 * time.Second)
			if fresh("5") || !fresh("20") {
				t.Fatal("after 5s: want 5 stale and 20 fresh")
			}
			// Values created together with different expirations.
			vals, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, func(_ context.Context, keys []string) ([]int, error) {
				return []int{1, 100}, nil
			}, ttl)
			if err != nil || len(vals) != 2 {
				t.Fatal(vals, err)
			}
			clock.Advance(time.Second)
			if fresh("a") || !fresh("b") {
				t.Fatal("after 1s: want a stale and b fresh")
			}
			if s := r.Stats(); s.NotCached != 1 {
				t.Errorf("NotCached = %d, want 1", s.NotCached)
			}
		})
	}
}

// Cached functions take CallOptions as FuncOptions: one name for one idea.
func TestFuncTakesCallOptions(t *testing.T) {
	clock := newClock()
	r := newRegion(t, region.Config{Clock: clock, Expiration: time.Hour})
	ctx := context.Background()
	calls := 0
	lookup := func(_ context.Context, id int) (string, error) {
		calls++
		if id == 0 {
			return "", region.ErrNotFound
		}
		return fmt.Sprint("user", id), nil
	}
	f, err := region.Cache1(r, lookup, region.Named("lookup"),
		region.WithExpiration(time.Minute), region.WithNegativeExpiration(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	old, err := region.Cache1(r, lookup, region.Named("old"), region.Expires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.Call(ctx, 0); !errors.Is(err, region.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		if _, err := f.Call(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Call(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 3 {
		t.Fatalf("function ran %d times, want 3", calls)
	}
	clock.Advance(time.Minute)
	for _, fn := range []*region.Func1[int, string]{f, old} {
		if _, found, _ := fn.Get(ctx, 1); found {
			t.Errorf("%s: the result outlived its function's expiration", fn.Name())
		}
	}
	var o region.Outcome
	if _, err := region.Cache1(r, lookup, region.Named("bad"), region.ReportOutcome(&o)); !errors.Is(err, region.ErrInvalidConfig) {
		t.Fatalf("ReportOutcome as a function option: %v, want ErrInvalidConfig", err)
	}
}

// A creator that panics with ErrNotFound has no answer to cache.
func TestNegativeCachingIgnoresPanics(t *testing.T) {
	r := newRegion(t, region.Config{NegativeExpiration: time.Minute})
	ctx := context.Background()
	_, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { panic(region.ErrNotFound) })
	var pe *region.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *PanicError", err)
	}
	if v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "v", nil }); v != "v" || err != nil {
		t.Fatalf("after the panic: %q, %v; want the creator called again", v, err)
	}
}

// A cached function takes WithExpirationFunc for every call, and its
// Refresh caches a not-found like its Call.
func TestFuncExpirationFuncAndRefreshNotFound(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clock := newClock()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: clock, Expiration: time.Hour})
			ctx := context.Background()
			missing := false
			calls := 0
			load := func(_ context.Context, id int) (int, error) {
				calls++
				if missing {
					return 0, region.ErrNotFound
				}
				return id, nil
			}
			f, err := region.Cache1(r, load, region.Named("load"),
				region.WithExpirationFunc(func(v int) time.Duration { return time.Duration(v) * time.Second }),
				region.WithNegativeExpiration(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Call(ctx, 3); err != nil {
				t.Fatal(err)
			}
			clock.Advance(3 * time.Second)
			if _, found, _ := f.Get(ctx, 3); found {
				t.Fatal("the result outlived the expiration its value chose")
			}
			missing = true
			if _, err := f.Refresh(ctx, 3); !errors.Is(err, region.ErrNotFound) {
				t.Fatalf("Refresh: %v, want ErrNotFound", err)
			}
			if _, err := f.Call(ctx, 3); !errors.Is(err, region.ErrNotFound) || calls != 2 {
				t.Fatalf("Call after Refresh: %v after %d calls; want the cached not-found", err, calls)
			}
		})
	}
}
