package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/region"
)

// The consistency contract (README, "Consistency: what a caller may
// observe") across processes, on real servers: each test builds regions of
// one name with clients, lockers and registries of their own — processes A,
// B and C sharing the servers — pauses a creator of one process between
// reading a versioned fake database and storing (a gate), lands a write or
// an invalidation of another process in that pause, and checks what every
// process reads afterwards. They are the multi-process versions of
// region/coherence_test.go, ordered by channels only; every region has a
// fake clock, so "once InvalidationRefresh has passed" is a step of the
// test, not a sleep.

// coherenceRefresh is the regions' InvalidationRefresh: the bound within
// which another process sees a region-wide invalidation, on its own clock.
const coherenceRefresh = 50 * time.Millisecond

// hangGuard bounds every wait of these tests: a wait that fails by hanging
// fails the test instead.
const hangGuard = 10 * time.Second

// coherenceStart is where the fake clocks start.
var coherenceStart = time.Unix(1_700_000_000, 0)

// process is what a test keeps of one process: its region and its clock.
type process struct {
	r     *region.Region
	clock *fakeclock.Clock
}

// startProcess builds a region named name on d's servers, as a process whose
// clock reads at, with cfg's Clock, InvalidationRefresh and Logger set.
func startProcess(t *testing.T, d deployment, name string, at time.Time, cfg region.Config) process {
	t.Helper()
	return startProcessWith(t, d, name, at, cfg, nil)
}

// startProcessWith is startProcess with the process's registry passed
// through wrap.
func startProcessWith(t *testing.T, d deployment, name string, at time.Time, cfg region.Config, wrap func(keyreg.Registry) keyreg.Registry) process {
	t.Helper()
	clock := fakeclock.New(at)
	cfg.Clock, cfg.InvalidationRefresh = clock, coherenceRefresh
	cfg.Logger = slog.New(slog.DiscardHandler)
	return process{r: d.newRegionWith(t, name, cfg, wrap), clock: clock}
}

// fakeDB is a versioned fake database the processes of a test share: each
// write bumps the version of a key.
type fakeDB struct {
	mu sync.Mutex
	v  map[string]int
}

func newFakeDB() *fakeDB { return &fakeDB{v: map[string]int{}} }

func (d *fakeDB) write(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.v[key]++
	return d.v[key]
}

func (d *fakeDB) read(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.v[key]
}

// gate holds a creator between reading the database and returning what it
// read: the window in which a store can undo a newer write. The test ends
// by opening it, so that a failed test leaves no creator blocked (a
// region's Close waits for its creators): make it after the regions whose
// creators pass it.
type gate struct {
	reached chan struct{} // receives once a creator is held
	open    chan struct{}
	once    sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{reached: make(chan struct{}, 1), open: make(chan struct{})}
	t.Cleanup(g.release)
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// creator returns a creator that reads key's version from db, then, the
// first time only, is held at the gate.
func (g *gate) creator(db *fakeDB, key string) func(context.Context) (int, error) {
	var held atomic.Bool
	return func(context.Context) (int, error) {
		v := db.read(key)
		if held.CompareAndSwap(false, true) {
			g.reached <- struct{}{}
			<-g.open
		}
		return v, nil
	}
}

// result is what a call in a goroutine returned.
type result struct {
	v   int
	err error
}

// async runs call in a goroutine and returns where its result will be.
func async(call func() (int, error)) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, err := call()
		ch <- result{v, err}
	}()
	return ch
}

// await receives from ch, or fails the test after hangGuard.
func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("still waiting for %s after %v", what, hangGuard)
	}
	var zero T
	return zero
}

// wantInt checks a read that must find want.
func wantInt(t *testing.T, what string, v int, found bool, err error, want int) {
	t.Helper()
	if err != nil || !found || v != want {
		t.Fatalf("%s = %d (found %t), %v; want %d", what, v, found, err, want)
	}
}

// checkSuperseded checks how many created values r refused to store.
func checkSuperseded(t *testing.T, who string, r *region.Region, want uint64) {
	t.Helper()
	if got := r.Stats().Superseded; got != want {
		t.Fatalf("%s: Stats.Superseded = %d, want %d", who, got, want)
	}
}

// TestCoherenceWriteDuringCreation: a creator in A reads version 1 and is
// held; B writes version 2 to the database and then writes or invalidates
// the cache; A's creator stores. No process reads version 1 afterwards.
func TestCoherenceWriteDuringCreation(t *testing.T) {
	type fn = region.Func1[string, int]
	writes := []struct {
		name string
		do   func(ctx context.Context, b *region.Region, fb *fn, db *fakeDB) error
		// stored tells whether the write leaves version 2 in the cache.
		stored bool
		// superseded counts A's stores the write refuses: a write of the
		// key refuses it, an invalidation by generation lets it be stored
		// and retires it.
		superseded uint64
		// skew is how far B's clock is from A's (and C's).
		skew time.Duration
	}{
		{"Invalidate", func(ctx context.Context, _ *region.Region, fb *fn, db *fakeDB) error {
			db.write("k")
			return fb.Invalidate(ctx, "k")
		}, false, 1, 0},
		{"InvalidateAll", func(ctx context.Context, _ *region.Region, fb *fn, db *fakeDB) error {
			db.write("k")
			return fb.InvalidateAll(ctx)
		}, false, 0, 0},
		{"write-through Set", func(ctx context.Context, _ *region.Region, fb *fn, db *fakeDB) error {
			return fb.Set(ctx, "k", db.write("k"))
		}, true, 1, 0},
		{"region Delete", func(ctx context.Context, b *region.Region, fb *fn, db *fakeDB) error {
			db.write("k")
			key, _, err := fb.Key(ctx, "k")
			if err != nil {
				return err
			}
			return b.Delete(ctx, key)
		}, false, 1, 0},
		{"region-wide Hard", func(ctx context.Context, b *region.Region, _ *fn, db *fakeDB) error {
			db.write("k")
			return b.Invalidate(ctx, region.Hard)
		}, false, 0, 0},
		{"region-wide Hard by a clock a second behind", func(ctx context.Context, b *region.Region, _ *fn, db *fakeDB) error {
			db.write("k")
			return b.Invalidate(ctx, region.Hard)
		}, false, 0, -time.Second},
	}
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			for i, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
					defer cancel()
					name := fmt.Sprintf("wdc%d", i)
					db := newFakeDB()
					db.write("k") // version 1
					load := func(_ context.Context, key string) (int, error) { return db.read(key), nil }
					cache := func(p process, load func(context.Context, string) (int, error)) *fn {
						f, err := region.Cache1(p.r, load, region.Named("load"))
						if err != nil {
							t.Fatal(err)
						}
						return f
					}
					a := startProcess(t, d, name, coherenceStart, region.Config{})
					b := startProcess(t, d, name, coherenceStart.Add(w.skew), region.Config{})
					g := newGate(t)
					held := g.creator(db, "k")
					fa := cache(a, func(ctx context.Context, _ string) (int, error) { return held(ctx) })
					fb := cache(b, load)

					first := async(func() (int, error) { return fa.Call(ctx, "k") })
					await(t, "A's creator to read", g.reached) // A read version 1
					if err := w.do(ctx, b.r, fb, db); err != nil {
						t.Fatal(err)
					}
					g.release()
					if r := await(t, "A's call", first); r.err != nil || r.v != 1 {
						t.Fatalf("A's call = %d, %v; want the 1 its creator read", r.v, r.err)
					}

					// The write completed before these reads began: they
					// find version 2 or nothing, then create version 2.
					c := startProcess(t, d, name, coherenceStart, region.Config{})
					fc := cache(c, load)
					for _, p := range []struct {
						who string
						f   *fn
					}{{"B", fb}, {"C, started after the write", fc}} {
						v, found, err := p.f.Get(ctx, "k")
						if err != nil || found != w.stored || (found && v != 2) {
							t.Fatalf("Get in %s = %d (found %t), %v; want found %t: A's creation undid the write", p.who, v, found, err, w.stored)
						}
					}
					if v, err := fc.Call(ctx, "k"); err != nil || v != 2 {
						t.Fatalf("Call in C = %d, %v; want 2", v, err)
					}
					if v, err := fb.Call(ctx, "k"); err != nil || v != 2 {
						t.Fatalf("Call in B = %d, %v; want 2", v, err)
					}
					a.clock.Advance(coherenceRefresh) // A's bound passes
					if v, err := fa.Call(ctx, "k"); err != nil || v != 2 {
						t.Fatalf("Call in A after InvalidationRefresh = %d, %v; want 2", v, err)
					}
					checkSuperseded(t, "A", a.r, w.superseded)
				})
			}
		})
	}
}

// TestCoherenceLostLock: A's creator holds the lock and is held; the lock
// vanishes from the server (as when it expires); version 2 is written; B
// takes the lock, reads version 2 and is held. Whichever stores first,
// version 2 stands: A's lease was voided by B's.
func TestCoherenceLostLock(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			for i, order := range []string{"B stores first", "A stores first"} {
				t.Run(order, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
					defer cancel()
					name := fmt.Sprintf("lost%d", i)
					db := newFakeDB()
					db.write("k") // version 1
					cfg := region.Config{LockWait: hangGuard / 2}
					a := startProcess(t, d, name, coherenceStart, cfg)
					b := startProcess(t, d, name, coherenceStart, cfg)
					ga, gb := newGate(t), newGate(t)

					doneA := async(func() (int, error) { return region.GetOrCreate(ctx, a.r, "k", ga.creator(db, "k")) })
					await(t, "A's creator to read", ga.reached) // A holds the lock and read version 1
					if !d.expireLock(t, a.r.LockKey("k")) {
						t.Fatalf("no lock item for %q on the servers", a.r.LockKey("k"))
					}
					db.write("k") // version 2, written while A's lock is gone
					doneB := async(func() (int, error) { return region.GetOrCreate(ctx, b.r, "k", gb.creator(db, "k")) })
					await(t, "B's creator to read", gb.reached) // B took the lock, leased the key, read version 2

					first, second := gb, ga
					firstDone, secondDone := doneB, doneA
					if order == "A stores first" {
						first, second, firstDone, secondDone = ga, gb, doneA, doneB
					}
					first.release()
					r1 := await(t, "the first store", firstDone)
					second.release()
					r2 := await(t, "the second store", secondDone)
					ra, rb := r1, r2
					if order == "B stores first" {
						ra, rb = r2, r1
					}
					if ra.err != nil || ra.v != 1 || rb.err != nil || rb.v != 2 {
						t.Fatalf("A's call = %d, %v; B's = %d, %v; want what each creator read, 1 and 2", ra.v, ra.err, rb.v, rb.err)
					}

					c := startProcess(t, d, name, coherenceStart, cfg)
					for _, p := range []struct {
						who string
						r   *region.Region
					}{{"A", a.r}, {"B", b.r}, {"C", c.r}} {
						v, found, err := region.Get[int](ctx, p.r, "k")
						wantInt(t, "Get in "+p.who+" after both stores (1: the creator that lost its lock stored)", v, found, err, 2)
					}
					checkSuperseded(t, "A", a.r, 1)
					checkSuperseded(t, "B", b.r, 0)
					if lost := a.r.Stats().LocksLost; lost != 1 {
						t.Fatalf("A: Stats.LocksLost = %d, want 1", lost)
					}
				})
			}
		})
	}
}

// TestCoherenceClockSkew: invalidation counts generations, not clocks. A
// process an hour slow and one an hour fast (A's clock is right) retire
// each other's values, a process started later agrees, and values written
// after the invalidation stand, and expire on their writer's clock.
func TestCoherenceClockSkew(t *testing.T) {
	skews := []struct {
		name                string
		invalidator, writer time.Duration // the clocks' offsets
	}{
		{"slow invalidates fast", -time.Hour, time.Hour},
		{"fast invalidates slow", time.Hour, -time.Hour},
	}
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			kinds := []struct {
				name string
				how  region.Invalidation
			}{{"Hard", region.Hard}, {"Soft", region.Soft}}
			for _, kind := range kinds {
				for i, s := range skews {
					t.Run(kind.name+"/"+s.name, func(t *testing.T) {
						how := kind.how
						name := fmt.Sprintf("skew%s%d", kind.name, i)
						writer := startProcess(t, d, name, coherenceStart.Add(s.writer), region.Config{})
						inval := startProcess(t, d, name, coherenceStart.Add(s.invalidator), region.Config{})
						a := startProcess(t, d, name, coherenceStart, region.Config{})
						if err := writer.r.Set(ctx, "k", "before"); err != nil {
							t.Fatal(err)
						}
						if err := inval.r.Invalidate(ctx, how); err != nil {
							t.Fatal(err)
						}
						later := startProcess(t, d, name, coherenceStart, region.Config{})
						procs := []struct {
							who string
							p   process
						}{{"the writer", writer}, {"the invalidator", inval}, {"A", a}, {"a process started later", later}}
						for _, p := range procs {
							p.p.clock.Advance(coherenceRefresh) // the bound passes on every clock
							v, found, err := region.Get[string](ctx, p.p.r, "k")
							if err != nil || found {
								t.Fatalf("Get in %s = %q (found %t), %v: a value from before the invalidation is fresh", p.who, v, found, err)
							}
							v, found, err = region.Get[string](ctx, p.p.r, "k", region.IgnoreExpiration())
							if want := how == region.Soft; err != nil || found != want || (found && v != "before") {
								t.Fatalf("Get in %s ignoring expiration = %q (found %t), %v; want found %t (stale after Soft, gone after Hard)", p.who, v, found, err, want)
							}
						}
						// The writer learned of the invalidation by reading:
						// what it writes now is not retired by it.
						if err := writer.r.Set(ctx, "k", "after"); err != nil {
							t.Fatal(err)
						}
						for _, p := range procs {
							v, found, err := region.Get[string](ctx, p.p.r, "k")
							if err != nil || !found || v != "after" {
								t.Fatalf("Get in %s = %q (found %t), %v; want the value written after the invalidation", p.who, v, found, err)
							}
						}
						// And it expires on the writer's clock, however far
						// the invalidator's is ahead.
						if err := writer.r.Set(ctx, "k", "expiring", region.WithExpiration(time.Minute)); err != nil {
							t.Fatal(err)
						}
						writer.clock.Advance(time.Minute)
						if v, found, err := region.Get[string](ctx, writer.r, "k"); err != nil || found {
							t.Fatalf("Get in the writer a minute after a one-minute Set = %q (found %t), %v; want it stale", v, found, err)
						}
						if v, found, err := region.Get[string](ctx, writer.r, "k", region.IgnoreExpiration()); err != nil || !found || v != "expiring" {
							t.Fatalf("Get in the writer ignoring expiration = %q (found %t), %v; want the stale value", v, found, err)
						}
					})
				}
			}
			t.Run("expiry on the writer's clock after a fast invalidation", func(t *testing.T) {
				fast := startProcess(t, d, "skewexp", coherenceStart.Add(2*time.Second), region.Config{})
				b := startProcess(t, d, "skewexp", coherenceStart, region.Config{Expiration: 500 * time.Millisecond})
				if err := fast.r.Invalidate(ctx, region.Hard); err != nil {
					t.Fatal(err)
				}
				_, _, _ = region.Get[string](ctx, b.r, "other") // B learns of the invalidation
				if err := b.r.Set(ctx, "k", "v"); err != nil {
					t.Fatal(err)
				}
				if v, found, err := region.Get[string](ctx, b.r, "k"); err != nil || !found || v != "v" {
					t.Fatalf("Get in B at once = %q (found %t), %v; want the value set", v, found, err)
				}
				b.clock.Advance(600 * time.Millisecond)
				c := startProcess(t, d, "skewexp", b.clock.Now(), region.Config{Expiration: 500 * time.Millisecond})
				for _, p := range []struct {
					who string
					p   process
				}{{"B", b}, {"C, on B's clock", c}} {
					if v, found, err := region.Get[string](ctx, p.p.r, "k"); err != nil || found {
						t.Fatalf("Get in %s 600ms later = %q (found %t), %v: a 500ms value is fresh, the fast clock's invalidation pushed it into the future", p.who, v, found, err)
					}
					if v, found, err := region.Get[string](ctx, p.p.r, "k", region.IgnoreExpiration()); err != nil || !found || v != "v" {
						t.Fatalf("Get in %s ignoring expiration = %q (found %t), %v; want the stale value: it was set after the invalidation", p.who, v, found, err)
					}
				}
			})
		})
	}
}

// droppingRegistry loses every record, as a registry that evicted them (or
// failed to write them) does.
type droppingRegistry struct{ keyreg.Registry }

func (droppingRegistry) Record(context.Context, string, string, time.Duration) error { return nil }

// TestCoherenceInvalidateAllWithoutRecords: B creates results of a cached
// function whose records its registry drops; InvalidateAll in A retires
// them all the same, in A, in B and in a process started later.
func TestCoherenceInvalidateAllWithoutRecords(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			var calls atomic.Int64 // the function's calls in every process
			load := func(_ context.Context, id int) (string, error) {
				return fmt.Sprintf("%d#%d", id, calls.Add(1)), nil
			}
			cache := func(p process) *region.Func1[int, string] {
				f, err := region.Cache1(p.r, load, region.Named("load"))
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			a := startProcess(t, d, "norec", coherenceStart, region.Config{})
			b := startProcessWith(t, d, "norec", coherenceStart, region.Config{}, func(r keyreg.Registry) keyreg.Registry {
				return droppingRegistry{r}
			})
			fa, fb := cache(a), cache(b)
			for id := 1; id <= 2; id++ {
				if v, err := fb.Call(ctx, id); err != nil || v != fmt.Sprintf("%d#%d", id, id) {
					t.Fatalf("B's Call(%d) = %q, %v", id, v, err)
				}
				if _, recorded, err := fb.Key(ctx, id); err != nil || recorded {
					t.Fatalf("B's result for %d recorded %t, %v: the registry was to drop it", id, recorded, err)
				}
			}
			if v, err := fa.Call(ctx, 1); err != nil || v != "1#1" {
				t.Fatalf("A's Call(1) = %q, %v; want B's result", v, err)
			}
			if err := fa.InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			if v, found, err := fa.Get(ctx, 1); err != nil || found {
				t.Fatalf("Get(1) in A after its InvalidateAll = %q (found %t), %v", v, found, err)
			}
			b.clock.Advance(coherenceRefresh) // B's bound passes
			c := startProcess(t, d, "norec", coherenceStart, region.Config{})
			fc := cache(c)
			for _, p := range []struct {
				who string
				f   *region.Func1[int, string]
			}{{"B", fb}, {"C, started after", fc}} {
				for id := 1; id <= 2; id++ {
					if v, found, err := p.f.Get(ctx, id); err != nil || found {
						t.Fatalf("Get(%d) in %s after InvalidateAll = %q (found %t), %v: a result not in the registry survived", id, p.who, v, found, err)
					}
				}
			}
			if v, err := fc.Call(ctx, 2); err != nil || v != "2#3" {
				t.Fatalf("C's Call(2) = %q, %v; want a new result, 2#3", v, err)
			}
			if v, err := fb.Call(ctx, 1); err != nil || v != "1#4" {
				t.Fatalf("B's Call(1) = %q, %v; want a new result, 1#4", v, err)
			}
			if v, err := fa.Call(ctx, 2); err != nil || v != "2#3" {
				t.Fatalf("A's Call(2) = %q, %v; want C's new result, 2#3", v, err)
			}
		})
	}
}

// TestCoherenceSlowCreator: expiry counts from the store, not from the
// start of the creation: a creator in A slower than the expiration (its
// clock moves 3s while it runs, against an expiration of 1s) yields a hit
// in B and C, whose clocks agree with A's.
func TestCoherenceSlowCreator(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			cfg := region.Config{Expiration: time.Second}
			a := startProcess(t, d, "slow", coherenceStart, cfg)
			var calls atomic.Int64
			slow := func(context.Context) (int, error) {
				n := calls.Add(1)
				a.clock.Advance(3 * time.Second) // slower than the expiration
				return int(n), nil
			}
			if v, err := region.GetOrCreate(ctx, a.r, "k", slow); err != nil || v != 1 {
				t.Fatalf("A's creation = %d, %v", v, err)
			}
			b := startProcess(t, d, "slow", a.clock.Now(), cfg)
			c := startProcess(t, d, "slow", a.clock.Now().Add(900*time.Millisecond), cfg)
			for _, p := range []struct {
				who string
				p   process
			}{{"A", a}, {"B", b}, {"C, 900ms after the store", c}} {
				var o region.Outcome
				v, err := region.GetOrCreate(ctx, p.p.r, "k", slow, region.ReportOutcome(&o))
				if err != nil || v != 1 || o != region.OutcomeHit {
					t.Fatalf("GetOrCreate in %s = %d, %v, %v; want the first value as a hit", p.who, v, err, o)
				}
			}
			c.clock.Advance(100 * time.Millisecond) // a second after the store
			if v, found, err := region.Get[int](ctx, c.r, "k"); err != nil || found {
				t.Fatalf("Get in C a second after the store = %d (found %t), %v; want it stale", v, found, err)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("the creator ran %d times, want 1", n)
			}
		})
	}
}

// TestCoherenceSetAfterRemoteInvalidation: a Set made right after another
// process's invalidation, before this process's next refresh of the
// generations, is fresh everywhere: it is as new as the write.
func TestCoherenceSetAfterRemoteInvalidation(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			a := startProcess(t, d, "set-after", coherenceStart, region.Config{})
			b := startProcess(t, d, "set-after", coherenceStart, region.Config{})
			_, _, _ = region.Get[string](ctx, b.r, "x") // B has read the generations
			if err := a.r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			if err := b.r.Set(ctx, "k", "written after the invalidation"); err != nil {
				t.Fatal(err)
			}
			c := startProcess(t, d, "set-after", coherenceStart, region.Config{})
			for _, p := range []struct {
				who string
				r   *region.Region
			}{{"A", a.r}, {"B", b.r}, {"C", c.r}} {
				if v, found, err := region.Get[string](ctx, p.r, "k"); err != nil || !found || v != "written after the invalidation" {
					t.Fatalf("%s reads %q (found %t), %v; want the value set after the invalidation", p.who, v, found, err)
				}
			}
		})
	}
}

// TestCoherenceClockSteppedBack: a process whose clock is stepped back still
// reads the generations again within InvalidationRefresh, and so sees
// another process's invalidation.
func TestCoherenceClockSteppedBack(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			a := startProcess(t, d, "stepped", coherenceStart, region.Config{})
			b := startProcess(t, d, "stepped", coherenceStart, region.Config{})
			if err := b.r.Set(ctx, "k", "v"); err != nil {
				t.Fatal(err)
			}
			_, _, _ = region.Get[string](ctx, b.r, "k")
			b.clock.Advance(-time.Hour) // an NTP step
			if err := a.r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			b.clock.Advance(coherenceRefresh)
			if v, found, err := region.Get[string](ctx, b.r, "k"); err != nil || found {
				t.Fatalf("B reads %q (found %t), %v after A's Hard invalidation; want a miss", v, found, err)
			}
		})
	}
}

// TestCoherenceHardInvalidationDuringStaleRegeneration: a caller arriving
// after a Hard invalidation is not handed the retired value by a
// stale-serving regeneration that began before it, on each backend.
func TestCoherenceHardInvalidationDuringStaleRegeneration(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			a := startProcess(t, d, "stale-flight", coherenceStart, region.Config{Expiration: time.Minute})
			if err := a.r.Set(ctx, "k", "v1"); err != nil {
				t.Fatal(err)
			}
			a.clock.Advance(2 * time.Minute) // stale
			entered, open := make(chan struct{}), make(chan struct{})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(open) }) })
			leader := make(chan string, 1)
			go func() {
				v, _ := region.GetOrCreate(ctx, a.r, "k", func(context.Context) (string, error) {
					close(entered)
					<-open
					return "regenerated from before", nil
				})
				leader <- v
			}()
			await(t, "the regeneration to start", entered)
			if err := a.r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			late := make(chan string, 1)
			go func() {
				v, err := region.GetOrCreate(ctx, a.r, "k", func(context.Context) (string, error) { return "after", nil })
				if err != nil {
					v = err.Error()
				}
				late <- v
			}()
			deadline := time.Now().Add(hangGuard)
			for a.r.Stats().LockWaits < 1 { // the late caller waits: for the lock, or (the bug) on the old flight
				if time.Now().After(deadline) {
					t.Fatal("the late caller never waited")
				}
				time.Sleep(time.Millisecond)
			}
			once.Do(func() { close(open) })
			await(t, "the regeneration", leader)
			if v := await(t, "the late caller", late); v != "after" {
				t.Fatalf("a caller arriving after the Hard invalidation got %q, want a value created after it", v)
			}
		})
	}
}
