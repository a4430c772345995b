package region_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// The consistency rule: a completed write or invalidation is never undone.
// Each test below pauses a creator between reading the database and storing
// (a gate), lands a write or an invalidation in that pause, and checks that
// what readers see afterwards is the write's, not the creator's older value.

// db is a versioned fake database: each write bumps the version of a key.
type db struct {
	mu sync.Mutex
	v  map[string]int
}

func newDB() *db { return &db{v: map[string]int{}} }

func (d *db) write(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.v[key]++
	return d.v[key]
}

func (d *db) read(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.v[key]
}

// pausedCreator reads the database, then waits for the gate to open before
// returning what it read: the stale-set window.
func pausedCreator(d *db, key string, read chan<- struct{}, open <-chan struct{}) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		v := d.read(key)
		read <- struct{}{}
		<-open
		return v, nil
	}
}

func TestWriteDuringCreationIsNotUndone(t *testing.T) {
	// Each write lands while a creator that read version 1 is paused; after
	// it, every read must see version 2 (or nothing, then create it).
	writes := map[string]func(ctx context.Context, r *region.Region, f *region.Func1[string, int], d *db) error{
		"Invalidate": func(ctx context.Context, _ *region.Region, f *region.Func1[string, int], d *db) error {
			d.write("k")
			return f.Invalidate(ctx, "k")
		},
		"InvalidateAll": func(ctx context.Context, _ *region.Region, f *region.Func1[string, int], d *db) error {
			d.write("k")
			return f.InvalidateAll(ctx)
		},
		"write-through Set": func(ctx context.Context, _ *region.Region, f *region.Func1[string, int], d *db) error {
			return f.Set(ctx, "k", d.write("k"))
		},
		"region Delete": func(ctx context.Context, r *region.Region, f *region.Func1[string, int], d *db) error {
			d.write("k")
			key, _, err := f.Key(ctx, "k")
			if err != nil {
				return err
			}
			return r.Delete(ctx, key)
		},
		"region-wide Hard": func(ctx context.Context, r *region.Region, _ *region.Func1[string, int], d *db) error {
			d.write("k")
			return r.Invalidate(ctx, region.Hard)
		},
	}
	for _, m := range modes {
		for name, write := range writes {
			t.Run(m.name+"/"+name, func(t *testing.T) {
				ctx := context.Background()
				d := newDB()
				d.write("k") // version 1
				r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize)})
				read, open := make(chan struct{}, 1), make(chan struct{})
				var paused atomic.Bool
				f, err := region.Cache1(r, func(ctx context.Context, key string) (int, error) {
					if paused.CompareAndSwap(false, true) {
						return pausedCreator(d, key, read, open)(ctx)
					}
					return d.read(key), nil
				}, region.Named("load"))
				if err != nil {
					t.Fatal(err)
				}
				first := make(chan int)
				go func() {
					v, _ := f.Call(ctx, "k")
					first <- v
				}()
				<-read // the creator has read version 1
				if err := write(ctx, r, f, d); err != nil {
					t.Fatal(err)
				}
				close(open)
				if v := <-first; v != 1 {
					t.Fatalf("the paused call got %d, want the 1 it read", v)
				}
				// The write completed before these reads began.
				if v, found, _ := f.Get(ctx, "k"); found && v != 2 {
					t.Fatalf("Get after the write = %d: the creator's older value was stored over it", v)
				}
				if v, err := f.Call(ctx, "k"); err != nil || v != 2 {
					t.Fatalf("Call after the write = %d, %v; want 2", v, err)
				}
			})
		}
	}
}

// stealableLocker is a lock.Local whose locks the test can take away, as an
// expiry does to a lock whose extensions failed.
type stealableLocker struct {
	*lock.Local
	mu   sync.Mutex
	held map[string]lock.Lock
}

func (l *stealableLocker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	lk, err := l.Local.TryObtain(ctx, key, ttl)
	if err == nil {
		l.mu.Lock()
		l.held[key] = lk
		l.mu.Unlock()
	}
	return lk, err
}

// steal frees the current holder's lock on key behind its back.
func (l *stealableLocker) steal(ctx context.Context, key string) error {
	l.mu.Lock()
	lk := l.held[key]
	l.mu.Unlock()
	return lk.Release(ctx)
}

// A creator whose lock expired while it ran must not store: the caller that
// took the lock after it created anew (after a write), and the first
// creator's older value, stored after that second creation began, is
// refused whichever stores first.
func TestCreatorThatLostItsLockDoesNotStore(t *testing.T) {
	for _, m := range modes {
		for _, order := range []string{"second stores first", "first stores first"} {
			t.Run(m.name+"/"+order, func(t *testing.T) {
				ctx := context.Background()
				locker := &stealableLocker{Local: lock.NewLocal(), held: map[string]lock.Lock{}}
				shared := newMemory(t, m.serialize)
				a := newRegion(t, region.Config{Backend: shared, Locker: locker})
				b := newRegion(t, region.Config{Backend: shared, Locker: locker})
				d := newDB()
				d.write("k")
				readA, openA := make(chan struct{}, 1), make(chan struct{})
				doneA := make(chan int)
				go func() {
					v, _ := region.GetOrCreate(ctx, a, "k", pausedCreator(d, "k", readA, openA))
					doneA <- v
				}()
				<-readA // a holds the lock and read version 1
				if err := locker.steal(ctx, a.LockKey("k")); err != nil {
					t.Fatal(err)
				}
				d.write("k") // version 2, written while a's lock was gone
				readB, openB := make(chan struct{}, 1), make(chan struct{})
				doneB := make(chan int)
				go func() {
					v, _ := region.GetOrCreate(ctx, b, "k", pausedCreator(d, "k", readB, openB))
					doneB <- v
				}()
				within(t, 5*time.Second, "b's creation", func() { <-readB }) // b took the lock, leased the key, read version 2
				if order == "second stores first" {
					close(openB)
					<-doneB
					close(openA)
					<-doneA
				} else {
					close(openA)
					<-doneA
					close(openB)
					<-doneB
				}
				if v, found, _ := region.Get[int](ctx, b, "k"); !found || v != 2 {
					t.Fatalf("after both creations: %d (found %t), want 2: the creator that lost its lock stored", v, found)
				}
			})
		}
	}
}

// A caller that arrives after a Hard invalidation must not be handed the
// retired value by a stale-serving regeneration that began before it.
func TestHardInvalidationIsNotBypassedByAStaleFlight(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			clock := newClock()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: clock, Expiration: time.Minute})
			if err := r.Set(ctx, "k", "v1"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute) // stale
			g := newGate()
			leader := make(chan string)
			go func() {
				v, _ := region.GetOrCreate(ctx, r, "k", create(g, "regenerated from before"))
				leader <- v
			}()
			<-g.entered // regenerating, serving the stale v1 meanwhile
			if err := r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			late := make(chan string)
			go func() {
				v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "after", nil })
				if err != nil {
					v = err.Error()
				}
				late <- v
			}()
			// The late caller waits: for the lock, or (the bug) on the
			// regeneration that began before the invalidation.
			waitFor(t, "the late caller to wait", func() bool { return r.Stats().LockWaits == 1 })
			close(g.open)
			<-leader
			if v := <-late; v != "after" {
				t.Fatalf("a caller arriving after the Hard invalidation got %q, want a value created after it", v)
			}
		})
	}
}

// getGate holds the first backend Get of one key until released, and lets
// every later Get through.
type getGate struct {
	backend.Backend
	key     string
	once    atomic.Bool
	entered chan struct{}
	open    chan struct{}
}

func (b *getGate) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := b.Backend.Get(ctx, key)
	if key == b.key && b.once.CompareAndSwap(false, true) {
		b.entered <- struct{}{}
		<-b.open
	}
	return data, err
}

// A read that begins after the caller's own write completed must not be
// answered by a backend read issued before it.
func TestSharedReadDoesNotCrossOwnWrite(t *testing.T) {
	for _, write := range []string{"Delete", "Set", "Invalidate"} {
		t.Run(write, func(t *testing.T) {
			ctx := context.Background()
			gb := &getGate{Backend: newMemory(t, true), entered: make(chan struct{}, 1), open: make(chan struct{})}
			r := newRegion(t, region.Config{Backend: gb})
			gb.key = r.BackendKey("k")
			if err := r.Set(ctx, "k", "old"); err != nil {
				t.Fatal(err)
			}
			first := make(chan string)
			go func() {
				v, _ := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "created", nil })
				first <- v
			}()
			<-gb.entered // the first read has the old bytes and is held
			var want string
			switch write {
			case "Delete":
				want = "created"
				if err := r.Delete(ctx, "k"); err != nil {
					t.Fatal(err)
				}
			case "Set":
				want = "new"
				if err := r.Set(ctx, "k", "new"); err != nil {
					t.Fatal(err)
				}
			case "Invalidate":
				want = "created"
				if err := r.Invalidate(ctx, region.Hard); err != nil {
					t.Fatal(err)
				}
			}
			second := make(chan string)
			go func() {
				v, _ := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "created", nil })
				second <- v
			}()
			var v string
			within(t, 5*time.Second, "the read after the write", func() { v = <-second })
			close(gb.open)
			<-first
			if v != want {
				t.Fatalf("read begun after %s returned %q, want %q", write, v, want)
			}
		})
	}
}

// Region-wide invalidation counts generations, not clock readings: no
// process's clock, fast, slow or stopped, undoes or blunts it.
func TestInvalidationIgnoresClocks(t *testing.T) {
	ctx := context.Background()
	start := time.Unix(1_700_000_000, 0)
	skewed := func(t *testing.T, b backend.Backend, offset time.Duration, exp time.Duration) (*region.Region, *fakeclock.Clock) {
		c := fakeclock.New(start.Add(offset))
		return newRegion(t, region.Config{Backend: b, Clock: c, Expiration: exp, InvalidationRefresh: time.Nanosecond}), c
	}
	t.Run("a fast invalidator does not keep later values fresh", func(t *testing.T) {
		b := newMemory(t, true)
		fast, _ := skewed(t, b, 2*time.Second, 0)
		slow, clock := skewed(t, b, 0, 500*time.Millisecond)
		if err := fast.Invalidate(ctx, region.Hard); err != nil {
			t.Fatal(err)
		}
		_, _, _ = region.Get[string](ctx, slow, "other") // slow learns of the invalidation
		if err := slow.Set(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(600 * time.Millisecond)
		if _, found, _ := region.Get[string](ctx, slow, "k"); found {
			t.Fatal("a 500ms value is fresh after 600ms: the fast clock's invalidation pushed it into the future")
		}
	})
	t.Run("a slow invalidator does not lower a fast one's", func(t *testing.T) {
		b := newMemory(t, true)
		writer, _ := skewed(t, b, 0, 0)
		fast, _ := skewed(t, b, time.Hour, 0)
		slow, _ := skewed(t, b, -time.Hour, 0)
		if err := writer.Set(ctx, "k", "before"); err != nil {
			t.Fatal(err)
		}
		if err := fast.Invalidate(ctx, region.Hard); err != nil {
			t.Fatal(err)
		}
		if err := slow.Invalidate(ctx, region.Hard); err != nil {
			t.Fatal(err)
		}
		later, _ := skewed(t, b, 0, 0)
		if _, found, _ := region.Get[string](ctx, later, "k"); found {
			t.Fatal("a process started later reads a value from before both invalidations")
		}
	})
	t.Run("a slow invalidator retires values of correct clocks", func(t *testing.T) {
		b := newMemory(t, true)
		writer, _ := skewed(t, b, 0, 0)
		slow, _ := skewed(t, b, -time.Hour, 0)
		if err := writer.Set(ctx, "k", "before"); err != nil {
			t.Fatal(err)
		}
		if err := slow.Invalidate(ctx, region.Hard); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*region.Region{slow, writer} {
			if _, found, _ := region.Get[string](ctx, r, "k"); found {
				t.Fatal("a value from before the invalidation is still found")
			}
		}
	})
	for _, m := range modes {
		t.Run(m.name+"/a stopped clock invalidates twice", func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: newClock()})
			if err := r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			if err := r.Set(ctx, "k", "between"); err != nil {
				t.Fatal(err)
			}
			if err := r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			if _, found, _ := region.Get[string](ctx, r, "k"); found {
				t.Fatal("a value set between two invalidations at one clock reading survived the second")
			}
		})
	}
}

// InvalidateAll reaches every result of the function, even those whose
// records the bounded registry evicted.
func TestInvalidateAllReachesEvictedRecords(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			reg, err := keyreg.NewMemory(keyreg.MemoryOptions{MaxKeys: 2})
			if err != nil {
				t.Fatal(err)
			}
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Registry: reg})
			calls := map[int]int{}
			f, err := region.Cache1(r, func(_ context.Context, id int) (string, error) {
				calls[id]++
				return fmt.Sprintf("%d#%d", id, calls[id]), nil
			}, region.Named("load"))
			if err != nil {
				t.Fatal(err)
			}
			for id := range 3 { // 0's record is evicted by 2's
				if _, err := f.Call(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			for id := range 3 {
				if v, _ := f.Call(ctx, id); v != fmt.Sprintf("%d#2", id) {
					t.Fatalf("Call(%d) after InvalidateAll = %q, want a new result", id, v)
				}
			}
		})
	}
}

// Expiry counts from when a value was stored, not from when its creation
// began: a creator slower than the expiration still yields hits.
func TestSlowCreatorYieldsHits(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			clock := newClock()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: clock, Expiration: time.Second})
			calls := 0
			slow := func(context.Context) (int, error) {
				calls++
				clock.Advance(3 * time.Second) // slower than the expiration
				return calls, nil
			}
			if _, err := region.GetOrCreate(ctx, r, "k", slow); err != nil {
				t.Fatal(err)
			}
			var o region.Outcome
			if v, err := region.GetOrCreate(ctx, r, "k", slow, region.ReportOutcome(&o)); err != nil || v != 1 || o != region.OutcomeHit {
				t.Fatalf("second call = %d, %v, %v; want the first value as a hit", v, err, o)
			}
		})
	}
}

// busyLocker is a lock.Locker whose key is held elsewhere (another
// process): TryObtain of it is held until the test opens the gate, then
// refused; Obtain waits for the lock like any.
type busyLocker struct {
	*lock.Local
	key     string
	entered chan struct{}
	open    chan struct{}
}

func (l *busyLocker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	if key == l.key {
		l.entered <- struct{}{}
		<-l.open
	}
	return l.Local.TryObtain(ctx, key, ttl)
}

// A caller that begins after its process's own Delete completed must not be
// handed a value read before it: here the stale value of a caller whose
// read began before the Delete, which leads the key's flight after it and
// lands it with that stale value because another process holds the lock.
// The late caller found the key missing and joined that flight; it must get
// a value created after the Delete.
func TestStaleReadBeforeOwnDeleteIsNotShared(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	gb := &getGate{Backend: newMemory(t, true), entered: make(chan struct{}, 1), open: make(chan struct{})}
	locker := &busyLocker{Local: lock.NewLocal(), entered: make(chan struct{}, 10), open: make(chan struct{})}
	r := newRegion(t, region.Config{Backend: gb, Locker: locker, Clock: clock, Expiration: time.Minute, LockWait: 5 * time.Second})
	gb.key, locker.key = r.BackendKey("k"), r.LockKey("k")
	if err := r.Set(ctx, "k", "old"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // stale
	// Another process holds k's lock.
	other, err := locker.Local.TryObtain(ctx, locker.key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stale := make(chan string)
	go func() {
		v, _ := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "created", nil })
		stale <- v
	}()
	<-gb.entered // its read found the stale "old" and is held
	if err := r.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	close(gb.open)
	<-locker.entered // it leads k's flight and tries the lock
	late := make(chan string)
	go func() {
		v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "after", nil })
		if err != nil {
			v = err.Error()
		}
		late <- v
	}()
	waitFor(t, "the late caller to join the flight", func() bool { return r.Stats().LockWaits == 1 })
	close(locker.open) // refused: the stale caller serves "old"
	if v := <-stale; v != "old" {
		t.Fatalf("the stale caller got %q, want the stale %q", v, "old")
	}
	if err := other.Release(ctx); err != nil { // the other process stored nothing
		t.Fatal(err)
	}
	var v string
	within(t, 5*time.Second, "the late caller", func() { v = <-late })
	if v != "after" {
		t.Fatalf("a caller arriving after the Delete got %q, want a value created after it", v)
	}
}

// leaseGate holds the first GetForUpdate of one key twice: when it is
// entered, before it reads (entered/read), and once it has read, before it
// returns to the region (reached/answer).
type leaseGate struct {
	*memory.Backend
	key              string
	once             atomic.Bool
	entered, reached chan struct{}
	read, answer     chan struct{}
}

func (b *leaseGate) GetForUpdate(ctx context.Context, keys []string, ttl time.Duration) ([][]byte, []backend.Version, error) {
	gated := len(keys) == 1 && keys[0] == b.key && b.once.CompareAndSwap(false, true)
	if gated {
		b.entered <- struct{}{}
		<-b.read
	}
	v, ver, err := b.Backend.GetForUpdate(ctx, keys, ttl)
	if gated {
		b.reached <- struct{}{}
		<-b.answer
	}
	return v, ver, err
}

// TestLateJoinerOfAReadAnswer: process A's creation finds, under its lease,
// the value process B just stored, and answers with it; before it has
// landed, B deletes the key and returns, and a caller of A begins and joins
// the creation. That caller began after the Delete completed: it must not
// take the value the creation read before it (the deleted one), but read
// again and create. Before, a caller that joined before a creator ran
// took whatever the creation answered.
func TestLateJoinerOfAReadAnswer(t *testing.T) {
	ctx := context.Background()
	gb := &leaseGate{Backend: newMemory(t, true), entered: make(chan struct{}, 1), reached: make(chan struct{}, 1),
		read: make(chan struct{}), answer: make(chan struct{})}
	cfg := region.Config{Backend: gb, Locker: lock.NewLocal()}
	a, b := newRegion(t, cfg), newRegion(t, cfg)
	gb.key = a.BackendKey("k")
	creator := func(context.Context) (string, error) { return "created", nil }

	first := make(chan string, 1)
	go func() {
		v, err := region.GetOrCreate(ctx, a, "k", creator)
		if err != nil {
			t.Error(err)
		}
		first <- v
	}()
	<-gb.entered // A's creation holds the lock and is about to read under it
	if err := b.Set(ctx, "k", "old"); err != nil {
		t.Fatal(err)
	}
	close(gb.read)
	<-gb.reached // it read "old" under the lease
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	waits := a.Stats().LockWaits
	second := make(chan string, 1)
	go func() {
		v, err := region.GetOrCreate(ctx, a, "k", creator)
		if err != nil {
			t.Error(err)
		}
		second <- v
	}()
	waitFor(t, "the second caller to join the creation", func() bool { return a.Stats().LockWaits > waits })
	close(gb.answer)
	var v1, v2 string
	within(t, 5*time.Second, "both callers", func() { v1, v2 = <-first, <-second })
	if v1 != "old" && v1 != "created" {
		t.Errorf("the caller begun before the Delete got %q", v1)
	}
	if v2 != "created" {
		t.Fatalf("the caller begun after B's Delete completed got %q, want %q: it took a value read before it began", v2, "created")
	}
}
