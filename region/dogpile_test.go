package region_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

func TestColdKeyCreatesOnce(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkGoroutines(t)
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize)})
			g := newGate()
			const n = 1000
			var wg sync.WaitGroup
			results := make(chan string, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := region.GetOrCreate(context.Background(), r, "cold", create(g, "value"))
					if err != nil {
						t.Error(err)
					}
					results <- v
				}()
			}
			<-g.entered
			waitFor(t, "every caller to wait", func() bool { return r.Stats().LockWaits == n-1 })
			close(g.open)
			wg.Wait()
			close(results)
			for v := range results {
				if v != "value" {
					t.Fatalf("got %q, want %q", v, "value")
				}
			}
			if got := g.Calls(); got != 1 {
				t.Fatalf("creator ran %d times, want 1", got)
			}
			// One caller created the value (a miss); the others were
			// answered by its creation (shared), not by the cache's misses.
			if s := r.Stats(); s.Regenerations != 1 || s.Misses != 1 || s.Shared != n-1 {
				t.Fatalf("stats %+v: want 1 regeneration, 1 miss and %d shared", s, n-1)
			}
		})
	}
}

// twoProcesses returns two regions that share a backend and a locker but
// nothing else, as two processes sharing Redis would.
func twoProcesses(t *testing.T, serialize bool, cfg region.Config) (a, b *region.Region) {
	t.Helper()
	cfg.Backend = newMemory(t, serialize)
	cfg.Locker = lock.NewLocal()
	return newRegion(t, cfg), newRegion(t, cfg)
}

func TestStaleServedWhileOneRegenerates(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkGoroutines(t)
			clock := newClock()
			a, b := twoProcesses(t, m.serialize, region.Config{Clock: clock, Expiration: time.Minute})
			ctx := context.Background()
			if err := a.Set(ctx, "k", "old"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute)

			g := newGate()
			leader := make(chan string)
			go func() {
				v, err := region.GetOrCreate(ctx, a, "k", create(g, "new"))
				if err != nil {
					t.Error(err)
				}
				leader <- v
			}()
			<-g.entered // a holds the lock and is regenerating

			// Every other caller, in a's process and in b's, gets the stale
			// value without waiting for the creator, which is still blocked.
			for _, r := range []*region.Region{a, b} {
				for range 50 {
					within(t, 5*time.Second, "a stale read", func() {
						v, err := region.GetOrCreate(ctx, r, "k", create(g, "other"))
						if err != nil || v != "old" {
							t.Errorf("got %q, %v; want the stale value", v, err)
						}
					})
				}
			}
			close(g.open)
			if v := <-leader; v != "new" {
				t.Fatalf("regenerator got %q, want %q", v, "new")
			}
			if got := g.Calls(); got != 1 {
				t.Fatalf("creator ran %d times, want 1", got)
			}
			if got := a.Stats().StaleServed + b.Stats().StaleServed; got != 100 {
				t.Fatalf("stale served %d times, want 100", got)
			}
			v, found, err := region.Get[string](ctx, b, "k")
			if err != nil || !found || v != "new" {
				t.Fatalf("after regeneration b reads %q, %v, %v", v, found, err)
			}
		})
	}
}

func TestBackgroundRegeneration(t *testing.T) {
	checkGoroutines(t)
	clock := newClock()
	r := newRegion(t, region.Config{Clock: clock, Expiration: time.Minute, BackgroundRegeneration: true})
	ctx := context.Background()
	if err := r.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	g := newGate()
	for range 10 {
		within(t, 5*time.Second, "a stale read", func() {
			if v, err := region.GetOrCreate(ctx, r, "k", create(g, 2)); err != nil || v != 1 {
				t.Errorf("got %d, %v; want the stale 1", v, err)
			}
		})
	}
	<-g.entered
	close(g.open)
	waitFor(t, "the background regeneration", func() bool {
		v, found, _ := region.Get[int](ctx, r, "k")
		return found && v == 2
	})
	if got := g.Calls(); got != 1 {
		t.Fatalf("creator ran %d times, want 1", got)
	}
}

func TestCloseStopsBackgroundRegeneration(t *testing.T) {
	checkGoroutines(t)
	clock := newClock()
	r := newRegion(t, region.Config{Clock: clock, Expiration: time.Minute, BackgroundRegeneration: true})
	ctx := context.Background()
	_ = r.Set(ctx, "k", 1)
	clock.Advance(2 * time.Minute)
	started := make(chan struct{})
	if _, err := region.GetOrCreate(ctx, r, "k", func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done() // the region cancels it on Close
		return 0, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	within(t, 5*time.Second, "Close", func() { _ = r.Close() })
	if _, err := region.GetOrCreate(ctx, r, "other", func(context.Context) (int, error) { return 1, nil }); !errors.Is(err, region.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

func TestBlockOnStale(t *testing.T) {
	checkGoroutines(t)
	clock := newClock()
	a, b := twoProcesses(t, false, region.Config{Clock: clock, Expiration: time.Minute, Stale: region.BlockOnStale})
	ctx := context.Background()
	_ = a.Set(ctx, "k", "old")
	clock.Advance(2 * time.Minute)
	g := newGate()
	var wg sync.WaitGroup
	got := make(chan string, 20)
	for i := range 20 {
		r := a
		if i%2 == 1 {
			r = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := region.GetOrCreate(ctx, r, "k", create(g, "new"))
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
	}
	<-g.entered
	waitFor(t, "callers to wait", func() bool { return a.Stats().LockWaits+b.Stats().LockWaits >= 19 })
	close(g.open)
	wg.Wait()
	close(got)
	for v := range got {
		if v != "new" {
			t.Fatalf("a caller got %q: BlockOnStale must never serve a stale value", v)
		}
	}
	if c := g.Calls(); c != 1 {
		t.Fatalf("creator ran %d times, want 1", c)
	}
}

func TestInvalidation(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clock := newClock()
			r := newRegion(t, region.Config{Clock: clock, Backend: newMemory(t, m.serialize)})
			ctx := context.Background()
			_ = r.Set(ctx, "k", "v1")
			clock.Advance(time.Second)

			if err := r.Invalidate(ctx, region.Soft); err != nil {
				t.Fatal(err)
			}
			if _, found, _ := region.Get[string](ctx, r, "k"); found {
				t.Fatal("soft-invalidated entry read as fresh")
			}
			if v, found, _ := region.Get[string](ctx, r, "k", region.IgnoreExpiration()); !found || v != "v1" {
				t.Fatalf("soft-invalidated entry must stay readable as stale, got %q %v", v, found)
			}
			g := newGate()
			done := make(chan string)
			go func() {
				v, _ := region.GetOrCreate(ctx, r, "k", create(g, "v2"))
				done <- v
			}()
			<-g.entered
			if v, err := region.GetOrCreate(ctx, r, "k", create(g, "never")); err != nil || v != "v1" {
				t.Fatalf("during soft regeneration got %q, %v; want stale v1", v, err)
			}
			close(g.open)
			if v := <-done; v != "v2" {
				t.Fatalf("regenerated %q", v)
			}

			clock.Advance(time.Second)
			if err := r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			if _, found, _ := region.Get[string](ctx, r, "k", region.IgnoreExpiration()); found {
				t.Fatal("hard-invalidated entry is still readable")
			}
			v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "v3", nil })
			if err != nil || v != "v3" {
				t.Fatalf("after hard invalidation got %q, %v; want a new value", v, err)
			}
			clock.Advance(time.Second)
			if v, found, _ := region.Get[string](ctx, r, "k"); !found || v != "v3" {
				t.Fatalf("entry written after the invalidation reads %q %v", v, found)
			}
		})
	}
}

func TestInvalidationSharedThroughBackend(t *testing.T) {
	clock := newClock()
	a, b := twoProcesses(t, true, region.Config{Clock: clock, InvalidationRefresh: 5 * time.Second})
	ctx := context.Background()
	_ = a.Set(ctx, "k", "v")
	if _, found, _ := region.Get[string](ctx, a, "k"); !found {
		t.Fatal("a does not read its own value")
	}
	clock.Advance(time.Second)
	if err := b.Invalidate(ctx, region.Hard); err != nil {
		t.Fatal(err)
	}
	clock.Advance(6 * time.Second) // past a's refresh interval
	if _, found, _ := region.Get[string](ctx, a, "k"); found {
		t.Fatal("a still reads the entry b invalidated")
	}
}

func TestCreatorPanic(t *testing.T) {
	checkGoroutines(t)
	r := newRegion(t, region.Config{LockWait: 2 * time.Second})
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) {
				close(entered)
				<-release
				panic(fmt.Sprintf("boom %d", i))
			})
			errs <- err
		}()
	}
	<-entered
	waitFor(t, "callers to wait", func() bool { return r.Stats().LockWaits == 9 })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		var pe *region.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("got %v, want a *PanicError", err)
		}
	}
	// The lock was released: the next caller creates at once.
	within(t, time.Second, "a call after the panic", func() {
		v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 7, nil })
		if err != nil || v != 7 {
			t.Errorf("after panic got %d, %v", v, err)
		}
	})
}

func TestPanicErrorUnwraps(t *testing.T) {
	r := newRegion(t, region.Config{})
	sentinel := errors.New("sentinel")
	_, err := region.GetOrCreate(context.Background(), r, "k", func(context.Context) (int, error) { panic(sentinel) })
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want it to unwrap to the panic value", err)
	}
}

func TestCancelledWaiterReturnsPromptly(t *testing.T) {
	checkGoroutines(t)
	r := newRegion(t, region.Config{})
	g := newGate()
	leader := make(chan error)
	go func() {
		_, err := region.GetOrCreate(context.Background(), r, "k", create(g, 1))
		leader <- err
	}()
	<-g.entered
	for _, name := range []string{"waiter", "second waiter"} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := region.GetOrCreate(ctx, r, "k", create(g, 2))
			done <- err
		}()
		waitFor(t, "the waiter to wait", func() bool { return r.Stats().LockWaits >= 1 })
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: got %v, want context.Canceled", name, err)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s did not return within 1s of its ctx being cancelled", name)
		}
	}
	close(g.open)
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
	if g.Calls() != 1 {
		t.Fatalf("creator ran %d times", g.Calls())
	}
}

func TestCancelledLeaderDoesNotFailOthers(t *testing.T) {
	checkGoroutines(t)
	r := newRegion(t, region.Config{})
	g := newGate()
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error)
	go func() {
		_, err := region.GetOrCreate(ctx, r, "k", create(g, 1))
		leader <- err
	}()
	<-g.entered
	other := make(chan int)
	go func() {
		v, _ := region.GetOrCreate(context.Background(), r, "k", create(g, 2))
		other <- v
	}()
	waitFor(t, "the second caller to wait", func() bool { return r.Stats().LockWaits == 1 })
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v", err)
	}
	close(g.open)
	if v := <-other; v != 1 {
		t.Fatalf("the other caller got %d, want the value the creation produced", v)
	}
}

func TestLockWaitTimeout(t *testing.T) {
	a, b := twoProcesses(t, false, region.Config{LockWait: 50 * time.Millisecond})
	g := newGate()
	defer close(g.open)
	go func() { _, _ = region.GetOrCreate(context.Background(), a, "k", create(g, 1)) }()
	<-g.entered
	_, err := region.GetOrCreate(context.Background(), b, "k", create(g, 2))
	if !errors.Is(err, region.ErrLockTimeout) {
		t.Fatalf("got %v, want ErrLockTimeout", err)
	}
	if s := b.Stats(); s.LockWaitTimeouts != 1 {
		t.Fatalf("LockWaitTimeouts = %d, want 1", s.LockWaitTimeouts)
	}
	if g.Calls() != 1 {
		t.Fatalf("a timed-out wait must not create: creator ran %d times", g.Calls())
	}
}

func TestShouldCache(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{
				Backend:     newMemory(t, m.serialize),
				ShouldCache: func(_ string, v any) bool { return v.(int) >= 0 },
			})
			ctx := context.Background()
			var calls atomic.Int32
			get := func(key string, v int) int {
				got, err := region.GetOrCreate(ctx, r, key, func(context.Context) (int, error) {
					calls.Add(1)
					return v, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			if get("neg", -1) != -1 || get("neg", -1) != -1 {
				t.Fatal("a rejected value must still be returned")
			}
			if calls.Load() != 2 {
				t.Fatalf("rejected value was cached: creator ran %d times, want 2", calls.Load())
			}
			get("pos", 1)
			get("pos", 1)
			if calls.Load() != 3 {
				t.Fatalf("accepted value was not cached: creator ran %d times, want 3", calls.Load())
			}
			if s := r.Stats(); s.NotCached != 2 {
				t.Fatalf("NotCached = %d, want 2", s.NotCached)
			}
		})
	}
}

func TestPerCallExpirationIsStored(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clock := newClock()
			b := newMemory(t, m.serialize)
			writer := newRegion(t, region.Config{Backend: b, Clock: clock, Expiration: time.Hour})
			// Another region of the same name with another default: the
			// expiration a value was written with is what counts.
			reader := newRegion(t, region.Config{Backend: b, Clock: clock, Expiration: 24 * time.Hour})
			ctx := context.Background()
			if _, err := region.GetOrCreate(ctx, writer, "short", func(context.Context) (int, error) { return 1, nil },
				region.WithExpiration(10*time.Second)); err != nil {
				t.Fatal(err)
			}
			_ = writer.Set(ctx, "long", 2)
			clock.Advance(11 * time.Second)
			if _, found, _ := region.Get[int](ctx, reader, "short"); found {
				t.Fatal("value written with a 10s expiration is fresh after 11s")
			}
			if _, found, _ := region.Get[int](ctx, reader, "long"); !found {
				t.Fatal("value written with the region's 1h expiration is gone after 11s")
			}
		})
	}
}

func TestUndecodableIsAMiss(t *testing.T) {
	b := newMemory(t, true)
	r := newRegion(t, region.Config{Backend: b})
	ctx := context.Background()
	for _, junk := range [][]byte{nil, {}, []byte("plain text from another client"), {0xff, 0x00, 0x01}} {
		if err := b.Set(ctx, r.BackendKey("k"), junk, 0); err != nil {
			t.Fatal(err)
		}
		v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "fresh", nil })
		if err != nil || v != "fresh" {
			t.Fatalf("over %q: got %q, %v", junk, v, err)
		}
	}
	if s := r.Stats(); s.DecodeErrors != 4 || s.Regenerations != 4 {
		t.Fatalf("stats %+v: want 4 decode errors and 4 regenerations", s)
	}
}

func TestTypeChangeIsAMiss(t *testing.T) {
	r := newRegion(t, region.Config{})
	ctx := context.Background()
	_ = r.Set(ctx, "k", "a string")
	v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 5, nil })
	if err != nil || v != 5 {
		t.Fatalf("got %d, %v", v, err)
	}
	if r.Stats().DecodeErrors != 1 {
		t.Fatalf("DecodeErrors = %d, want 1", r.Stats().DecodeErrors)
	}
}

func TestBackendDown(t *testing.T) {
	ctx := context.Background()
	t.Run("fail open", func(t *testing.T) {
		r := newRegion(t, region.Config{Backend: failing{errDown}, Locker: failingLocker{}})
		v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 3, nil })
		if err != nil || v != 3 {
			t.Fatalf("got %d, %v; want the creator's value", v, err)
		}
		// The failed read is the call's only backend step: no lock (the
		// in-process one instead), no re-read, no store.
		if s := r.Stats(); s.BackendErrors != 1 {
			t.Fatalf("BackendErrors = %d, want 1: the failed get, and no later step", s.BackendErrors)
		}
		if _, found, err := region.Get[int](ctx, r, "k"); found || err != nil {
			t.Fatalf("Get on a fail-open region: %v, %v; want a miss", found, err)
		}
		if err := r.Set(ctx, "k", 1); !errors.Is(err, region.ErrBackend) || !errors.Is(err, errDown) {
			t.Fatalf("Set: %v, want ErrBackend wrapping the cause", err)
		}
	})
	t.Run("fail closed", func(t *testing.T) {
		r := newRegion(t, region.Config{Backend: failing{errDown}, FailClosed: true})
		var called bool
		_, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { called = true; return 3, nil })
		if !errors.Is(err, region.ErrBackend) || called {
			t.Fatalf("got %v (creator called: %v); want ErrBackend and no call", err, called)
		}
		if _, _, err := region.Get[int](ctx, r, "k"); !errors.Is(err, region.ErrBackend) {
			t.Fatalf("Get: %v, want ErrBackend", err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	b := newMemory(t, false)
	for _, tc := range []struct {
		name string
		rn   string
		cfg  region.Config
	}{
		{"empty name", "", region.Config{Backend: b}},

		{"negative expiration", "r", region.Config{Backend: b, Expiration: -1}},
		{"negative grace", "r", region.Config{Backend: b, Grace: -1}},
		{"negative lock ttl", "r", region.Config{Backend: b, LockTTL: -1}},
		{"negative lock wait", "r", region.Config{Backend: b, LockWait: -1}},
		{"unknown stale policy", "r", region.Config{Backend: b, Stale: 7}},
		{"background with block", "r", region.Config{Backend: b, Stale: region.BlockOnStale, BackgroundRegeneration: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := region.New(tc.rn, tc.cfg)
			if !errors.Is(err, region.ErrInvalidConfig) || r != nil {
				t.Fatalf("got %v, %v; want ErrInvalidConfig", r, err)
			}
		})
	}
}

func TestReportOutcome(t *testing.T) {
	clock := newClock()
	a, b := twoProcesses(t, true, region.Config{Clock: clock, Expiration: time.Minute})
	ctx := context.Background()
	get := func(r *region.Region, create func(context.Context) (string, error)) (string, region.Outcome) {
		t.Helper()
		var o region.Outcome
		v, err := region.GetOrCreate(ctx, r, "k", create, region.ReportOutcome(&o))
		if err != nil {
			t.Fatal(err)
		}
		return v, o
	}
	constant := func(v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return v, nil }
	}
	if v, o := get(a, constant("v1")); v != "v1" || o != region.OutcomeCreated {
		t.Fatalf("cold: %q %v, want v1 created", v, o)
	}
	if _, o := get(b, constant("x")); o != region.OutcomeHit {
		t.Fatalf("warm: %v, want hit", o)
	}
	clock.Advance(2 * time.Minute)
	g := newGate()
	leader := make(chan region.Outcome)
	go func() {
		var o region.Outcome
		_, _ = region.GetOrCreate(ctx, a, "k", create(g, "v2"), region.ReportOutcome(&o))
		leader <- o
	}()
	<-g.entered
	if v, o := get(b, constant("x")); v != "v1" || o != region.OutcomeStale {
		t.Fatalf("during regeneration: %q %v, want stale v1", v, o)
	}
	close(g.open)
	if o := <-leader; o != region.OutcomeCreated {
		t.Fatalf("regenerator: %v, want created", o)
	}

	// A waiter of this process gets the value another goroutine created.
	_ = a.Invalidate(ctx, region.Hard)
	clock.Advance(time.Second)
	g2 := newGate()
	go func() { _, _ = region.GetOrCreate(ctx, a, "k", create(g2, "v3")) }()
	<-g2.entered
	waiter := make(chan region.Outcome)
	go func() { _, o := get(a, constant("x")); waiter <- o }()
	waitFor(t, "the waiter", func() bool { return a.Stats().LockWaits >= 1 })
	close(g2.open)
	if o := <-waiter; o != region.OutcomeShared {
		t.Fatalf("waiter: %v, want shared", o)
	}
}
