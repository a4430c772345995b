package region_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// faulty is a byte backend (memory, serializing) that can be taken down:
// while down, every call fails with errDown. It counts the calls that
// reached it, by operation. With tooLarge set, writes refuse every value
// as backend.ErrTooLarge, as memcached's item limit does.
type faulty struct {
	*memory.Backend
	down, tooLarge atomic.Bool

	mu    sync.Mutex // protects calls, gate and gated
	calls map[string]int
	// gate, when not nil, holds the calls of operation gated until it is
	// closed, as a server that does not answer; waiting counts them.
	gate    chan struct{}
	gated   []string
	waiting atomic.Int64
}

// hold makes the calls of ops wait until the returned release is called.
func (f *faulty) hold(ops ...string) (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate, f.gated = gate, ops
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.gate = nil
			f.mu.Unlock()
			close(gate)
		})
	}
}

var (
	_ backend.Backend     = (*faulty)(nil)
	_ backend.Conditional = (*faulty)(nil)
)

func newFaulty(t testing.TB) *faulty {
	return &faulty{Backend: newMemory(t, true), calls: map[string]int{}}
}

func (f *faulty) hit(op string) error {
	f.mu.Lock()
	f.calls[op]++
	gate := f.gate
	if !slices.Contains(f.gated, op) {
		gate = nil
	}
	f.mu.Unlock()
	if gate != nil {
		f.waiting.Add(1)
		<-gate
		f.waiting.Add(-1)
	}
	if f.down.Load() {
		return errDown
	}
	return nil
}

// Calls returns the calls of op that reached the backend, or of every
// operation when op is empty.
func (f *faulty) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op != "" {
		return f.calls[op]
	}
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func (f *faulty) refuse(n int) error {
	if f.tooLarge.Load() {
		return fmt.Errorf("faulty: %d items over the limit: %w", n, backend.ErrTooLarge)
	}
	return nil
}

func (f *faulty) Get(ctx context.Context, k string) ([]byte, error) {
	if err := f.hit("get"); err != nil {
		return nil, err
	}
	return f.Backend.Get(ctx, k)
}

func (f *faulty) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	if err := f.hit("getmulti"); err != nil {
		return nil, err
	}
	return f.Backend.GetMulti(ctx, keys)
}

func (f *faulty) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	if err := f.hit("set"); err != nil {
		return err
	}
	if err := f.refuse(1); err != nil {
		return err
	}
	return f.Backend.Set(ctx, k, v, ttl)
}

func (f *faulty) SetMulti(ctx context.Context, items []backend.Item) error {
	if err := f.hit("setmulti"); err != nil {
		return err
	}
	if err := f.refuse(len(items)); err != nil {
		return err
	}
	return f.Backend.SetMulti(ctx, items)
}

func (f *faulty) Delete(ctx context.Context, k string) error {
	if err := f.hit("delete"); err != nil {
		return err
	}
	return f.Backend.Delete(ctx, k)
}

func (f *faulty) DeleteMulti(ctx context.Context, keys []string) error {
	if err := f.hit("deletemulti"); err != nil {
		return err
	}
	return f.Backend.DeleteMulti(ctx, keys)
}

func (f *faulty) GetForUpdate(ctx context.Context, keys []string, ttl time.Duration) ([][]byte, []backend.Version, error) {
	if err := f.hit("getforupdate"); err != nil {
		return nil, nil, err
	}
	return f.Backend.GetForUpdate(ctx, keys, ttl)
}

func (f *faulty) SetIf(ctx context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	if err := f.hit("setif"); err != nil {
		return nil, err
	}
	if err := f.refuse(len(items)); err != nil {
		return make([]bool, len(items)), err
	}
	return f.Backend.SetIf(ctx, items, versions)
}

// downLocker is an in-process locker that can be taken down and counts
// the calls that reached it.
type downLocker struct {
	*lock.Local
	down  atomic.Bool
	calls atomic.Int64
}

func (l *downLocker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	l.calls.Add(1)
	if l.down.Load() {
		return nil, errDown
	}
	return l.Local.TryObtain(ctx, key, ttl)
}

func (l *downLocker) Obtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	l.calls.Add(1)
	if l.down.Load() {
		return nil, errDown
	}
	return l.Local.Obtain(ctx, key, ttl)
}

// logCount is a slog handler that counts the records whose message
// contains one of its substrings.
type logCount struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCount() *logCount { return &logCount{counts: map[string]int{}} }

func (*logCount) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCount) Handle(_ context.Context, rec slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[rec.Message]++
	return nil
}
func (h *logCount) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCount) WithGroup(string) slog.Handler      { return h }

// Count returns how many records had a message containing sub.
func (h *logCount) Count(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for msg, c := range h.counts {
		if strings.Contains(msg, sub) {
			n += c
		}
	}
	return n
}

func constant(v int) func(context.Context) (int, error) {
	return func(context.Context) (int, error) { return v, nil }
}

// TestFaultSkipsTheRestOfTheCall: once a step of a call fails, no later
// step reaches the backend or the distributed lock, and nothing is stored.
func TestFaultSkipsTheRestOfTheCall(t *testing.T) {
	ctx := context.Background()
	t.Run("first read fails", func(t *testing.T) {
		b, lk := newFaulty(t), &downLocker{Local: lock.NewLocal()}
		r := newRegion(t, region.Config{Backend: b, Locker: lk})
		b.down.Store(true)
		v, err := region.GetOrCreate(ctx, r, "k", constant(3))
		if err != nil || v != 3 {
			t.Fatalf("GetOrCreate = %d, %v; want the creator's 3", v, err)
		}
		if n := b.Calls(""); n != 1 {
			t.Errorf("%d backend calls (%v), want 1: the failed first one", n, b.calls)
		}
		if n := lk.calls.Load(); n != 0 {
			t.Errorf("%d distributed lock calls, want 0 (the in-process lock instead)", n)
		}
		if s := r.Stats(); s.BackendErrors != 1 || s.Regenerations != 1 {
			t.Errorf("stats %+v: want 1 backend error, 1 regeneration", s)
		}
		if _, err := b.Backend.Get(ctx, r.BackendKey("k")); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("the value was stored after a failed call: %v", err)
		}
	})
	t.Run("lock fails", func(t *testing.T) {
		b, lk := newFaulty(t), &downLocker{Local: lock.NewLocal()}
		r := newRegion(t, region.Config{Backend: b, Locker: lk})
		lk.down.Store(true)
		v, err := region.GetOrCreate(ctx, r, "k", constant(3))
		if err != nil || v != 3 {
			t.Fatalf("GetOrCreate = %d, %v; want the creator's 3", v, err)
		}
		if n := b.Calls("getforupdate") + b.Calls("setif") + b.Calls("setmulti"); n != 0 {
			t.Errorf("re-read or store after the lock failed: %v", b.calls)
		}
		if n := lk.calls.Load(); n != 1 {
			t.Errorf("%d distributed lock calls, want 1", n)
		}
	})
	t.Run("multi", func(t *testing.T) {
		b, lk := newFaulty(t), &downLocker{Local: lock.NewLocal()}
		r := newRegion(t, region.Config{Backend: b, Locker: lk})
		b.down.Store(true)
		got, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, func(_ context.Context, keys []string) ([]int, error) {
			return make([]int, len(keys)), nil
		})
		if err != nil || len(got) != 2 {
			t.Fatalf("GetOrCreateMulti = %v, %v", got, err)
		}
		if n := b.Calls(""); n != 1 || lk.calls.Load() != 0 {
			t.Errorf("%d backend calls (%v), %d lock calls; want 1 and 0", n, b.calls, lk.calls.Load())
		}
	})
}

// TestBreaker: consecutive failures open the breaker; while open, calls go
// to the creator (fail-open) or return ErrBreakerOpen (fail-closed)
// without reaching the backend; after the cooldown one call probes, and its
// success closes the breaker. Transitions are logged once each.
func TestBreaker(t *testing.T) {
	ctx := context.Background()
	for _, failClosed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail closed %v", failClosed), func(t *testing.T) {
			b, logs := newFaulty(t), newLogCount()
			r := newRegion(t, region.Config{
				Backend: b, Locker: lock.NewLocal(), FailClosed: failClosed,
				// A cooldown longer than the 100 calls below take even
				// under -race on a loaded machine: no probe among them.
				BreakerThreshold: 3, BreakerCooldown: time.Second,
				InvalidationRefresh: time.Hour, Logger: slog.New(logs),
			})
			if _, err := region.GetOrCreate(ctx, r, "warm", constant(1)); err != nil {
				t.Fatal(err)
			}
			b.down.Store(true)
			for i := range 3 {
				_, _ = region.GetOrCreate(ctx, r, fmt.Sprint("k", i), constant(1))
			}
			if s := r.Stats(); s.BreakerState != region.BreakerOpen || s.BreakerTrips != 1 {
				t.Fatalf("after 3 failures: %+v, want the breaker open, tripped once", s)
			}
			calls := b.Calls("")
			for i := range 100 {
				v, err := region.GetOrCreate(ctx, r, fmt.Sprint("k", i), constant(7))
				switch {
				case failClosed && (!errors.Is(err, region.ErrBackend) || !errors.Is(err, region.ErrBreakerOpen)):
					t.Fatalf("fail-closed call while open = %v, want ErrBackend and ErrBreakerOpen", err)
				case !failClosed && (err != nil || v != 7):
					t.Fatalf("fail-open call while open = %d, %v; want the creator's 7", v, err)
				}
			}
			if err := r.Set(ctx, "k", 1); !errors.Is(err, region.ErrBreakerOpen) {
				t.Fatalf("Set while open = %v, want ErrBreakerOpen", err)
			}
			if n := b.Calls(""); n != calls {
				t.Fatalf("%d backend calls while the breaker was open, want 0", n-calls)
			}
			if s := r.Stats(); s.BackendSkipped < 101 {
				t.Fatalf("BackendSkipped = %d, want every call", s.BackendSkipped)
			}
			if n := logs.Count("circuit open"); n != 1 {
				t.Fatalf("%d 'circuit open' log lines, want 1", n)
			}

			b.down.Store(false)
			waitFor(t, "the breaker to close", func() bool {
				_, _ = region.GetOrCreate(ctx, r, "after", constant(9))
				return r.Stats().BreakerState == region.BreakerClosed
			})
			// Logged by the call that closed it, which may be one of the
			// region's own goroutines (a creation's store).
			waitFor(t, "the 'circuit closed' log line", func() bool { return logs.Count("circuit closed") > 0 })
			if n := logs.Count("circuit closed"); n != 1 {
				t.Fatalf("%d 'circuit closed' log lines, want 1", n)
			}
			// Caching resumes.
			if v, err := region.GetOrCreate(ctx, r, "again", constant(5)); err != nil || v != 5 {
				t.Fatalf("GetOrCreate after recovery = %d, %v", v, err)
			}
			if _, found, err := region.Get[int](ctx, r, "again"); !found || err != nil {
				t.Fatalf("value not cached after recovery: %v, %v", found, err)
			}
		})
	}
}

// TestBreakerShared: regions given the same Breaker share it — one opens,
// the other skips the backend too — while a region on the same backend
// without it keeps a breaker of its own (no registry of breakers).
func TestBreakerShared(t *testing.T) {
	ctx := context.Background()
	b := newFaulty(t)
	shared, err := region.NewBreaker(2, region.DefaultBreakerCooldown)
	if err != nil {
		t.Fatal(err)
	}
	cfg := region.Config{Backend: b, Locker: lock.NewLocal(), Breaker: shared, InvalidationRefresh: time.Hour, Logger: quiet}
	r1, err := region.New("one", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := region.New("two", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	cfg.Breaker, cfg.BreakerThreshold = nil, 2
	own, err := region.New("own", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	for _, r := range []*region.Region{r1, r2, own} {
		_, _ = region.GetOrCreate(ctx, r, "warm", constant(1))
	}
	b.down.Store(true)
	_, _ = region.GetOrCreate(ctx, r1, "a", constant(1))
	_, _ = region.GetOrCreate(ctx, r1, "b", constant(1))
	if s := r2.Stats(); s.BreakerState != region.BreakerOpen || s.BreakerTrips != 1 {
		t.Fatalf("the other region's stats %+v: want the shared breaker open", s)
	}
	if shared.State() != region.BreakerOpen || shared.Trips() != 1 {
		t.Fatalf("the shared Breaker is %v after %d trips, want open after 1", shared.State(), shared.Trips())
	}
	calls := b.Calls("")
	if v, err := region.GetOrCreate(ctx, r2, "c", constant(4)); err != nil || v != 4 || b.Calls("") != calls {
		t.Fatalf("the other region's call = %d, %v, %d backend calls; want the creator's 4 and none", v, err, b.Calls("")-calls)
	}
	if s := own.Stats(); s.BreakerState != region.BreakerClosed || s.BreakerTrips != 0 {
		t.Fatalf("the region with its own breaker: %+v, want it closed: it saw no failure yet", s)
	}
	if _, err := region.NewBreaker(0, time.Second); !errors.Is(err, region.ErrInvalidConfig) {
		t.Fatalf("NewBreaker(0, 1s) = %v, want ErrInvalidConfig", err)
	}
}

// TestTooLarge: a value the backend refuses as too large is returned,
// counted as not cached (not as a backend error, nor against the breaker),
// and logged once however often it is created; the log says CompressAbove
// can help.
func TestTooLarge(t *testing.T) {
	ctx := context.Background()
	b, logs := newFaulty(t), newLogCount()
	r := newRegion(t, region.Config{Backend: b, Locker: lock.NewLocal(), BreakerThreshold: 2, Logger: slog.New(logs)})
	b.tooLarge.Store(true)
	for range 10 {
		if v, err := region.GetOrCreate(ctx, r, "big", constant(8)); err != nil || v != 8 {
			t.Fatalf("GetOrCreate = %d, %v; want the creator's 8", v, err)
		}
	}
	s := r.Stats()
	if s.NotCached != 10 || s.BackendErrors != 0 || s.Regenerations != 10 || s.BreakerState != region.BreakerClosed || s.Superseded != 0 {
		t.Fatalf("stats %+v: want 10 not cached, 10 regenerations, no backend error, breaker closed", s)
	}
	if n := logs.Count("CompressAbove"); n != 1 {
		t.Fatalf("%d log lines about the oversized value, want 1 (once per key) naming CompressAbove", n)
	}
	err := r.Set(ctx, "big2", 1)
	if !errors.Is(err, backend.ErrTooLarge) || errors.Is(err, region.ErrBackend) || !strings.Contains(err.Error(), "CompressAbove") {
		t.Fatalf("Set of an oversized value = %v, want backend.ErrTooLarge naming CompressAbove, not ErrBackend", err)
	}
}

// TestBreakerProbesInTheBackground: once the cooldown is over, the breaker
// probes the backend from a goroutine of its own; the caller that found the
// cooldown over, and every caller after it, skip the backend instead of
// waiting for a server that may still not answer. The probe's answer
// closes the breaker.
func TestBreakerProbesInTheBackground(t *testing.T) {
	ctx := context.Background()
	b := newFaulty(t)
	r := newRegion(t, region.Config{
		Backend: b, Locker: lock.NewLocal(), BreakerThreshold: 2, BreakerCooldown: 5 * time.Millisecond,
		InvalidationRefresh: time.Hour,
	})
	if _, err := region.GetOrCreate(ctx, r, "warm", constant(1)); err != nil {
		t.Fatal(err)
	}
	b.down.Store(true)
	for i := range 2 {
		_, _ = region.GetOrCreate(ctx, r, fmt.Sprint("k", i), constant(1))
	}
	if s := r.Stats(); s.BreakerState != region.BreakerOpen {
		t.Fatalf("after 2 failures: %+v, want the breaker open", s)
	}
	// The backend now hangs every call: a probe sent by a caller would
	// hold that caller until release.
	release := b.hold("get", "getmulti", "getforupdate")
	defer release()
	b.down.Store(false)
	waitFor(t, "a probe to reach the backend", func() bool {
		var v int
		var err error
		within(t, 5*time.Second, "a call while the probe hangs", func() {
			v, err = region.GetOrCreate(ctx, r, "k", constant(7))
		})
		if err != nil || v != 7 {
			t.Fatalf("GetOrCreate while the breaker probes = %d, %v; want the creator's 7", v, err)
		}
		return b.waiting.Load() >= 1 // a probe lost for a cooldown is sent again
	})
	if s := r.Stats(); s.BreakerState != region.BreakerHalfOpen {
		t.Fatalf("stats %+v while the probe hangs, want half-open", s)
	}
	release()
	waitFor(t, "the probe to close the breaker", func() bool { return r.Stats().BreakerState == region.BreakerClosed })
}

// TestBreakerOpenSkipsReadInFlight: a read sent before the breaker opened
// may hang for a timeout; a caller that comes once the breaker is open does
// not join it, it skips the backend.
func TestBreakerOpenSkipsReadInFlight(t *testing.T) {
	ctx := context.Background()
	b := newFaulty(t)
	r := newRegion(t, region.Config{
		Backend: b, Locker: lock.NewLocal(), BreakerThreshold: 2, BreakerCooldown: time.Hour,
		InvalidationRefresh: time.Hour,
	})
	if _, err := region.GetOrCreate(ctx, r, "warm", constant(1)); err != nil {
		t.Fatal(err)
	}
	release := b.hold("get")
	defer release()
	first := make(chan error, 1)
	go func() {
		_, err := region.GetOrCreate(ctx, r, "k", constant(1))
		first <- err
	}()
	waitFor(t, "the first read to hang", func() bool { return b.waiting.Load() == 1 })
	b.down.Store(true)
	for range 2 {
		_ = r.Delete(ctx, "other")
	}
	if s := r.Stats(); s.BreakerState != region.BreakerOpen {
		t.Fatalf("after 2 failures: %+v, want the breaker open", s)
	}
	within(t, 5*time.Second, "a call while a read of its key hangs", func() {
		if v, err := region.GetOrCreate(ctx, r, "k", constant(7)); err != nil || v != 7 {
			t.Errorf("GetOrCreate = %d, %v; want the creator's 7", v, err)
		}
	})
	release()
	if err := <-first; err != nil {
		t.Fatalf("the first caller: %v", err)
	}
}

// TestLockerBreaker: a distributed locker that fails while the backend
// answers opens a breaker of its own. While it is open, creations take the
// in-process lock without asking the locker, and their values are stored
// (the backend is up); a probe after the cooldown closes it, and creations
// use the distributed lock again. Transitions are logged once each.
func TestLockerBreaker(t *testing.T) {
	ctx := context.Background()
	b, lk, logs := newFaulty(t), &downLocker{Local: lock.NewLocal()}, newLogCount()
	const cooldown = 200 * time.Millisecond
	r := newRegion(t, region.Config{
		Backend: b, Locker: lk, BreakerThreshold: 2, BreakerCooldown: cooldown,
		InvalidationRefresh: time.Hour, Logger: slog.New(logs),
	})
	lk.down.Store(true)
	for i := range 2 {
		if v, err := region.GetOrCreate(ctx, r, fmt.Sprint("k", i), constant(1)); err != nil || v != 1 {
			t.Fatalf("GetOrCreate with the locker down = %d, %v", v, err)
		}
	}
	s := r.Stats()
	if s.LockerBreakerState != region.BreakerOpen || s.LockerBreakerTrips != 1 || s.BreakerState != region.BreakerClosed {
		t.Fatalf("after 2 lock failures: %+v, want the locker's breaker open, the backend's closed", s)
	}
	calls, opened := lk.calls.Load(), time.Now()
	for i := range 10 {
		key := fmt.Sprint("open", i)
		if v, err := region.GetOrCreate(ctx, r, key, constant(i)); err != nil || v != i {
			t.Fatalf("GetOrCreate while the locker's breaker is open = %d, %v", v, err)
		}
		// Stored: the backend answers, so caching goes on.
		if v, found, err := region.Get[int](ctx, r, key); err != nil || !found || v != i {
			t.Fatalf("Get after a creation under the in-process lock = %d, %v, %v; want the value cached", v, found, err)
		}
	}
	// The breaker's probes may have gone out meanwhile (one lock attempt
	// per cooldown, on a slow machine).
	if n, probes := lk.calls.Load()-calls, int64(time.Since(opened)/cooldown)+1; n > probes {
		t.Fatalf("%d distributed lock attempts while its breaker was open, want at most the %d probes", n, probes)
	}
	if s := r.Stats(); s.LockerSkipped < 9 || s.BackendErrors > 3 {
		t.Fatalf("stats %+v: want every creation to skip the locker, no new backend error", s)
	}
	lk.down.Store(false)
	n := 0
	waitFor(t, "the locker's breaker to close", func() bool {
		n++ // a new key each time: a hit takes no lock
		_, _ = region.GetOrCreate(ctx, r, fmt.Sprint("probe", n), constant(1))
		return r.Stats().LockerBreakerState == region.BreakerClosed
	})
	calls = lk.calls.Load()
	if _, err := region.GetOrCreate(ctx, r, "after", constant(2)); err != nil {
		t.Fatal(err)
	}
	if lk.calls.Load() == calls {
		t.Fatal("a creation after the locker recovered did not use it")
	}
	if o, c := logs.Count("locker circuit open:"), logs.Count("locker circuit closed"); o != 1 || c != 1 {
		t.Fatalf("%d 'locker circuit open' and %d 'closed' log lines, want 1 and 1", o, c)
	}
}

// TestBreakerClosesWhileGenerationsFail: with the generations due at every
// call and unreadable while the backend was down, calls still reach the
// breaker, which probes and closes once the backend answers (a regression:
// the refresh skipped the backend without asking the breaker, so no probe
// went out and the breaker stayed open for good).
func TestBreakerClosesWhileGenerationsFail(t *testing.T) {
	ctx := context.Background()
	b := newFaulty(t)
	r := newRegion(t, region.Config{
		Backend: b, Locker: lock.NewLocal(), BreakerThreshold: 2, BreakerCooldown: 5 * time.Millisecond,
		InvalidationRefresh: time.Nanosecond,
	})
	b.down.Store(true)
	_, _ = region.GetOrCreate(ctx, r, "k", constant(1)) // the refresh fails
	for range 2 {
		_ = r.Delete(ctx, "k") // and the breaker opens
	}
	if s := r.Stats(); s.BreakerState != region.BreakerOpen {
		t.Fatalf("stats %+v: want the breaker open", s)
	}
	b.down.Store(false)
	n := 0
	waitFor(t, "the breaker to close", func() bool {
		n++
		_, _ = region.GetOrCreate(ctx, r, fmt.Sprint("after", n), constant(1))
		return r.Stats().BreakerState == region.BreakerClosed
	})
}
