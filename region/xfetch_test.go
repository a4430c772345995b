package region_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// xfetchRegion builds, inside a synctest bubble, a region on a fake clock
// with early refresh configured by er, whose creator for "k" takes delta
// on that clock and returns the number of its call.
type xfetchFixture struct {
	r     *region.Region
	clk   *fakeclock.Clock
	calls int
	delta time.Duration
}

func newXFetch(t *testing.T, serialize bool, er region.EarlyRefresh, delta time.Duration, locker lock.Locker) *xfetchFixture {
	t.Helper()
	mem := newMemory(t, serialize)
	x := &xfetchFixture{clk: newClock(), delta: delta}
	r, err := region.New("xf", region.Config{Backend: mem, Clock: x.clk, Expiration: 10 * time.Second, EarlyRefresh: er, Locker: locker, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	x.r = r
	return x
}

func (x *xfetchFixture) create(context.Context) (int, error) {
	x.calls++
	x.clk.Advance(x.delta)
	return x.calls, nil
}

// TestEarlyRefreshFrequency reads a fresh value whose creation took δ = 1 s
// at several distances d from its expiry, 400 times each, with a seeded
// random source, and counts the reads that started a regeneration: XFetch
// says exp(−d/(δβ)) of them. Each read must return the current value at
// once; a regeneration, once started, runs to its end (synctest.Wait)
// before the next read, and the clock is then set back to d before the new
// value's expiry.
func TestEarlyRefreshFrequency(t *testing.T) {
	const trials = 400
	for _, mode := range modes {
		for _, beta := range []float64{1, 2} {
			t.Run(fmt.Sprintf("%s/beta=%v", mode.name, beta), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					src := rand.New(rand.NewPCG(1, uint64(beta)))
					x := newXFetch(t, mode.serialize, region.EarlyRefresh{Enabled: true, Beta: beta, Rand: src.Float64}, time.Second, nil)
					ctx := context.Background()
					if _, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil {
						t.Fatal(err)
					}
					storedAt := x.clk.Now() // the creator moved the clock; the store came after
					var started uint64
					for _, left := range []time.Duration{20 * time.Second, 5 * time.Second, 2 * time.Second, 693 * time.Millisecond, 100 * time.Millisecond} {
						early := 0
						for range trials {
							x.clk.Advance(storedAt.Add(10 * time.Second).Add(-left).Sub(x.clk.Now()))
							before := x.calls
							var o region.Outcome
							v, err := region.GetOrCreate(ctx, x.r, "k", x.create, region.ReportOutcome(&o))
							if err != nil || v != before || o != region.OutcomeHit {
								t.Fatalf("read at %v before expiry = %d (%v), %v; want the current value %d, a hit", left, v, o, err, before)
							}
							synctest.Wait() // a regeneration started by the read has ended
							if x.calls != before {
								early++
								storedAt = x.clk.Now()
								if got, ok, _ := region.Get[int](ctx, x.r, "k"); !ok || got != x.calls {
									t.Fatalf("after an early refresh Get = %d, %t; want %d", got, ok, x.calls)
								}
							}
						}
						started += uint64(early)
						p := math.Exp(-left.Seconds() / beta)
						sd := math.Sqrt(trials * p * (1 - p))
						t.Logf("%v before expiry: %d of %d reads refreshed early, expected %.1f", left, early, trials, trials*p)
						if math.Abs(float64(early)-trials*p) > 4*sd+1 {
							t.Errorf("%v before expiry: %d of %d reads refreshed early, expected %.1f ± %.1f", left, early, trials, trials*p, 4*sd+1)
						}
					}
					if s := x.r.Stats(); s.EarlyRefreshes != started || s.Regenerations != started+1 || s.Hits < started {
						t.Errorf("stats %+v, want %d early refreshes and %d regenerations", s, started, started+1)
					}
				})
			})
		}
	}
}

// alwaysDraw makes every draw the largest one possible (u = 2⁻⁵³): a value
// is refreshed early whenever it is within about 37·δ·β of its expiry.
func alwaysDraw() float64 { return math.Nextafter(1, 0) }

// TestEarlyRefreshOneCreatorServesCurrent: while an early regeneration
// runs, every reader gets the current value at once, and no second
// regeneration starts; a value written with Set (no creation time) and a
// region without early refresh are never refreshed early.
func TestEarlyRefreshOneCreatorServesCurrent(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				x := newXFetch(t, mode.serialize, region.EarlyRefresh{Enabled: true, Rand: alwaysDraw}, time.Second, nil)
				ctx := context.Background()
				if _, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil {
					t.Fatal(err)
				}
				x.clk.Advance(5 * time.Second) // 5 s before expiry: within 37·δ
				g := newGate()
				for i := range 50 {
					v, err := region.GetOrCreate(ctx, x.r, "k", create(g, 99))
					if err != nil || v != 1 {
						t.Fatalf("read %d during the early refresh = %d, %v; want 1", i, v, err)
					}
				}
				synctest.Wait()
				if g.Calls() != 1 {
					t.Fatalf("%d early regenerations started, want 1", g.Calls())
				}
				close(g.open)
				synctest.Wait()
				if v, ok, _ := region.Get[int](ctx, x.r, "k"); !ok || v != 99 {
					t.Fatalf("after the early refresh Get = %d, %t; want 99", v, ok)
				}

				// A written value carries no creation time: never early.
				if err := x.r.Set(ctx, "w", 7); err != nil {
					t.Fatal(err)
				}
				x.clk.Advance(10*time.Second - time.Millisecond)
				if v, err := region.GetOrCreate(ctx, x.r, "w", x.create); err != nil || v != 7 {
					t.Fatalf("GetOrCreate of a written value = %d, %v", v, err)
				}
				synctest.Wait()
				if x.r.Stats().EarlyRefreshes != 1 {
					t.Fatalf("a value written with Set was refreshed early: %+v", x.r.Stats())
				}
			})
		})
	}
}

// TestEarlyRefreshDisabled: the same reads with early refresh off start
// nothing.
func TestEarlyRefreshDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newXFetch(t, true, region.EarlyRefresh{}, time.Second, nil)
		ctx := context.Background()
		if _, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil {
			t.Fatal(err)
		}
		x.clk.Advance(10*time.Second - time.Millisecond)
		for range 100 {
			if _, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if x.calls != 1 || x.r.Stats().EarlyRefreshes != 0 {
			t.Fatalf("creator calls %d, stats %+v; want 1 and no early refresh", x.calls, x.r.Stats())
		}
	})
}

// TestEarlyRefreshLockHeldElsewhere: when another process holds the key's
// lock (it is regenerating), a read that draws an early refresh starts
// nothing and returns the current value.
func TestEarlyRefreshLockHeldElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := lock.NewLocal()
		x := newXFetch(t, true, region.EarlyRefresh{Enabled: true, Rand: alwaysDraw}, time.Second, shared)
		ctx := context.Background()
		if _, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil {
			t.Fatal(err)
		}
		held, err := shared.TryObtain(ctx, x.r.LockKey("k"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		x.clk.Advance(9 * time.Second)
		if v, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil || v != 1 {
			t.Fatalf("read = %d, %v; want 1", v, err)
		}
		synctest.Wait()
		if x.calls != 1 || x.r.Stats().EarlyRefreshes != 0 {
			t.Fatalf("creator calls %d, stats %+v; want no early refresh while the lock is held elsewhere", x.calls, x.r.Stats())
		}
		_ = held.Release(ctx)
	})
}

// TestEarlyRefreshDoesNotUndoDelete: an early regeneration that began
// before a Delete completed does not store its value: the next read misses
// and creates anew.
func TestEarlyRefreshDoesNotUndoDelete(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				x := newXFetch(t, mode.serialize, region.EarlyRefresh{Enabled: true, Rand: alwaysDraw}, time.Second, nil)
				ctx := context.Background()
				if _, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil {
					t.Fatal(err)
				}
				x.clk.Advance(5 * time.Second)
				g := newGate()
				if v, err := region.GetOrCreate(ctx, x.r, "k", create(g, 99)); err != nil || v != 1 {
					t.Fatalf("read = %d, %v", v, err)
				}
				<-g.entered // the early regeneration's creator is running
				if err := x.r.Delete(ctx, "k"); err != nil {
					t.Fatal(err)
				}
				close(g.open)
				synctest.Wait()
				if v, ok, _ := region.Get[int](ctx, x.r, "k"); ok {
					t.Fatalf("after Delete, Get = %d: the early regeneration undid the delete", v)
				}
				if s := x.r.Stats(); s.Superseded != 1 {
					t.Fatalf("stats %+v, want 1 superseded", s)
				}
			})
		})
	}
}

func TestEarlyRefreshConfig(t *testing.T) {
	for name, er := range map[string]region.EarlyRefresh{
		"negative beta":    {Enabled: true, Beta: -1},
		"NaN beta":         {Enabled: true, Beta: math.NaN()},
		"infinite beta":    {Enabled: true, Beta: math.Inf(1)},
		"beta not enabled": {Beta: 2},
		"rand not enabled": {Rand: rand.Float64},
	} {
		if _, err := region.New("cfg", region.Config{EarlyRefresh: er}); !errors.Is(err, region.ErrInvalidConfig) {
			t.Errorf("%s: New error %v, want ErrInvalidConfig", name, err)
		}
	}
	// A panicking or out-of-range Rand refreshes nothing and breaks nothing.
	for name, rnd := range map[string]func() float64{
		"panics":   func() float64 { panic("boom") },
		"negative": func() float64 { return -1 },
		"one":      func() float64 { return 1 },
		"NaN":      math.NaN,
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				x := newXFetch(t, false, region.EarlyRefresh{Enabled: true, Rand: rnd}, time.Second, nil)
				ctx := context.Background()
				if _, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil {
					t.Fatal(err)
				}
				x.clk.Advance(9 * time.Second)
				if v, err := region.GetOrCreate(ctx, x.r, "k", x.create); err != nil || v != 1 {
					t.Fatalf("read = %d, %v", v, err)
				}
				synctest.Wait()
				if x.calls != 1 {
					t.Fatalf("%d creator calls, want 1", x.calls)
				}
			})
		})
	}
}

// lateRead is a memory backend whose next Get of one key returns the bytes
// the key held when arm was called: a read issued before another process's
// store, answered after it.
type lateRead struct {
	*memory.Backend
	key  string
	late []byte
}

func (b *lateRead) arm(ctx context.Context, t *testing.T) {
	data, err := b.Backend.Get(ctx, b.key)
	if err != nil {
		t.Fatal(err)
	}
	b.late = data
}

func (b *lateRead) Get(ctx context.Context, key string) ([]byte, error) {
	if key == b.key && b.late != nil {
		data := b.late
		b.late = nil
		return data, nil
	}
	return b.Backend.Get(ctx, key)
}

// TestEarlyRefreshAlreadyDoneElsewhere: process B reads the old value of a
// key just before process A's early refresh stores a new one, draws an
// early refresh and takes the lock after A released it. Under the lock B
// finds a fresh value other than the one it drew on: it calls no creator.
func TestEarlyRefreshAlreadyDoneElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := newMemory(t, true)
		clk := newClock()
		shared := lock.NewLocal()
		b := &lateRead{Backend: mem}
		mk := func(be backend.Backend) *region.Region {
			r, err := region.New("xf", region.Config{Backend: be, Clock: clk, Expiration: 10 * time.Second, Locker: shared, Logger: quiet,
				EarlyRefresh: region.EarlyRefresh{Enabled: true, Rand: alwaysDraw}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return r
		}
		a, rb := mk(mem), mk(b)
		b.key = a.BackendKey("k")
		aCalls, bCalls := 0, 0
		slow := func(n *int, v int) func(context.Context) (int, error) {
			return func(context.Context) (int, error) { *n++; clk.Advance(time.Second); return v, nil }
		}
		if _, err := region.GetOrCreate(ctx, a, "k", slow(&aCalls, 1)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(5 * time.Second)
		b.arm(ctx, t) // B's read of the value 1 is in flight
		if v, err := region.GetOrCreate(ctx, a, "k", slow(&aCalls, 2)); err != nil || v != 1 {
			t.Fatalf("A's read = %d, %v", v, err)
		}
		synctest.Wait() // A refreshed early: the key holds 2
		if aCalls != 2 {
			t.Fatalf("A's creator ran %d times, want 2", aCalls)
		}
		if v, err := region.GetOrCreate(ctx, rb, "k", slow(&bCalls, 3)); err != nil || v != 1 {
			t.Fatalf("B's late read = %d, %v; want the value it read, 1", v, err)
		}
		synctest.Wait()
		if bCalls != 0 {
			t.Fatalf("B refreshed a value A had already refreshed (%d creator calls)", bCalls)
		}
		if v, ok, _ := region.Get[int](ctx, rb, "k"); !ok || v != 2 {
			t.Fatalf("B's Get = %d, %t; want A's 2", v, ok)
		}
	})
}
