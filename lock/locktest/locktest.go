package locktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/lock"
)

// hang bounds every wait the suite expects to end, so that a broken Locker
// fails the test instead of hanging it.
const hang = 5 * time.Second

// Run runs the conformance suite against the Lockers made by newLocker,
// which is called once per subtest. Subtests run in parallel and use keys
// unique to the run, so one server may back every Locker. TTLs are real
// (300ms to a few seconds, as remote lockers have real clocks); the suite
// takes about three seconds.
func Run(t *testing.T, newLocker func(t *testing.T) lock.Locker) {
	t.Helper()
	run := time.Now().UnixNano()
	keyFor := func(t *testing.T) string {
		return fmt.Sprintf("locktest:%d:%s", run, t.Name())
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, l lock.Locker, key string)
	}{
		{"TryObtainFree", testTryObtainFree},
		{"TryObtainHeld", testTryObtainHeld},
		{"KeysAreIndependent", testKeysAreIndependent},
		{"ReleaseThenTryObtain", testReleaseThenTryObtain},
		{"DoubleRelease", testDoubleRelease},
		{"ExactlyOneOf100", testExactlyOne},
		{"ObtainWaitsForRelease", testObtainWaits},
		{"ObtainCancel", testObtainCancel},
		{"ObtainDeadline", testObtainDeadline},
		{"ExtendKeepsHeld", testExtend},
		{"TTLExpiry", testTTLExpiry},
		{"ReleaseFromOtherGoroutine", testReleaseOtherGoroutine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newLocker(t), keyFor(t))
		})
	}
}

// release releases lk, failing the test on error.
func release(t *testing.T, lk lock.Lock) {
	t.Helper()
	if err := lk.Release(context.Background()); err != nil {
		t.Fatalf("Release(%q) = %v, want nil", lk.Key(), err)
	}
}

func tryObtain(t *testing.T, l lock.Locker, key string, ttl time.Duration) lock.Lock {
	t.Helper()
	lk, err := l.TryObtain(context.Background(), key, ttl)
	if err != nil {
		t.Fatalf("TryObtain(%q) = %v, want a lock", key, err)
	}
	if lk == nil {
		t.Fatalf("TryObtain(%q) returned a nil lock and no error", key)
	}
	return lk
}

// wantHeld fails the test unless key is held by someone: TryObtain must
// return ErrNotObtained.
func wantHeld(t *testing.T, l lock.Locker, key string) {
	t.Helper()
	lk, err := l.TryObtain(context.Background(), key, time.Second)
	if !errors.Is(err, lock.ErrNotObtained) {
		if lk != nil {
			_ = lk.Release(context.Background())
		}
		t.Fatalf("TryObtain(%q) on a held key = %v, want ErrNotObtained", key, err)
	}
}

func testTryObtainFree(t *testing.T, l lock.Locker, key string) {
	lk := tryObtain(t, l, key, time.Second)
	if got := lk.Key(); got != key {
		t.Errorf("Key() = %q, want %q", got, key)
	}
	release(t, lk)
}

func testTryObtainHeld(t *testing.T, l lock.Locker, key string) {
	lk := tryObtain(t, l, key, 5*time.Second)
	wantHeld(t, l, key)
	release(t, lk)
}

func testKeysAreIndependent(t *testing.T, l lock.Locker, key string) {
	a := tryObtain(t, l, key+":a", 5*time.Second)
	b := tryObtain(t, l, key+":b", 5*time.Second)
	release(t, a)
	wantHeld(t, l, key+":b")
	release(t, b)
}

func testReleaseThenTryObtain(t *testing.T, l lock.Locker, key string) {
	release(t, tryObtain(t, l, key, 5*time.Second))
	release(t, tryObtain(t, l, key, 5*time.Second))
}

func testDoubleRelease(t *testing.T, l lock.Locker, key string) {
	lk := tryObtain(t, l, key, 5*time.Second)
	release(t, lk)
	if err := lk.Release(context.Background()); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("second Release = %v, want ErrNotHeld", err)
	}
	if err := lk.Extend(context.Background(), time.Second); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Extend after Release = %v, want ErrNotHeld", err)
	}
	// The released handle must not free a later holder's lock.
	next := tryObtain(t, l, key, 5*time.Second)
	if err := lk.Release(context.Background()); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("stale Release while another holds = %v, want ErrNotHeld", err)
	}
	wantHeld(t, l, key)
	release(t, next)
}

func testExactlyOne(t *testing.T, l lock.Locker, key string) {
	const n = 100
	var (
		obtained atomic.Int32
		failed   atomic.Int32
		wg       sync.WaitGroup
		start    = make(chan struct{})
		mu       sync.Mutex
		held     []lock.Lock
		errs     []error
	)
	for range n {
		wg.Go(func() {
			<-start
			lk, err := l.TryObtain(context.Background(), key, 5*time.Second)
			switch {
			case err == nil:
				obtained.Add(1)
				mu.Lock()
				held = append(held, lk)
				mu.Unlock()
			case errors.Is(err, lock.ErrNotObtained):
				failed.Add(1)
			default:
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("TryObtain errors other than ErrNotObtained: %v", errs)
	}
	if obtained.Load() != 1 || failed.Load() != n-1 {
		t.Errorf("%d goroutines: %d obtained, %d ErrNotObtained; want 1 and %d",
			n, obtained.Load(), failed.Load(), n-1)
	}
	for _, lk := range held {
		release(t, lk)
	}
}

type result struct {
	lk  lock.Lock
	err error
}

// obtainAsync runs Obtain in a goroutine and delivers its result.
func obtainAsync(ctx context.Context, l lock.Locker, key string, ttl time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		lk, err := l.Obtain(ctx, key, ttl)
		ch <- result{lk, err}
	}()
	return ch
}

func testObtainWaits(t *testing.T, l lock.Locker, key string) {
	lk := tryObtain(t, l, key, 10*time.Second)
	ch := obtainAsync(context.Background(), l, key, 5*time.Second)
	select {
	case r := <-ch:
		t.Fatalf("Obtain on a held key returned (%v, %v) before Release", r.lk, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	release(t, lk)
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Obtain after Release = %v, want a lock", r.err)
		}
		if r.lk.Key() != key {
			t.Errorf("Key() = %q, want %q", r.lk.Key(), key)
		}
		release(t, r.lk)
	case <-time.After(hang):
		t.Fatalf("Obtain still waiting %v after Release", hang)
	}
}

func testObtainCancel(t *testing.T, l lock.Locker, key string) {
	lk := tryObtain(t, l, key, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	ch := obtainAsync(ctx, l, key, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // let Obtain start waiting
	cancel()
	select {
	case r := <-ch:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("Obtain after cancel = (%v, %v), want context.Canceled", r.lk, r.err)
		}
	case <-time.After(time.Second):
		t.Fatal("Obtain did not return within 1s of cancel")
	}
	// The given-up wait must not hold or block the key.
	release(t, lk)
	release(t, tryObtain(t, l, key, time.Second))
}

func testObtainDeadline(t *testing.T, l lock.Locker, key string) {
	lk := tryObtain(t, l, key, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	ch := obtainAsync(ctx, l, key, 5*time.Second)
	select {
	case r := <-ch:
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Errorf("Obtain past deadline = (%v, %v), want context.DeadlineExceeded", r.lk, r.err)
		}
		if waited := time.Since(start); waited > 1200*time.Millisecond {
			t.Errorf("Obtain returned %v after start, want within 1s of its 200ms deadline", waited)
		}
	case <-time.After(hang):
		t.Fatalf("Obtain ignored its deadline for %v", hang)
	}
	release(t, lk)
}

func testExtend(t *testing.T, l lock.Locker, key string) {
	ctx := context.Background()
	// The first Extend comes well within the ttl, with room for a loaded
	// machine; the check of the extension comes after the original ttl.
	lk := tryObtain(t, l, key, 2*time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := lk.Extend(ctx, 5*time.Second); err != nil {
		t.Fatalf("Extend = %v, want nil", err)
	}
	time.Sleep(2200 * time.Millisecond) // past the original 2s ttl
	wantHeld(t, l, key)
	if err := lk.Extend(ctx, 5*time.Second); err != nil {
		t.Errorf("second Extend = %v, want nil", err)
	}
	release(t, lk)
}

func testTTLExpiry(t *testing.T, l lock.Locker, key string) {
	ctx := context.Background()
	old := tryObtain(t, l, key, 300*time.Millisecond)
	wantHeld(t, l, key)
	wctx, cancel := context.WithTimeout(ctx, hang)
	defer cancel()
	next, err := l.Obtain(wctx, key, 10*time.Second)
	if err != nil {
		t.Fatalf("Obtain after the holder's ttl = %v, want a lock", err)
	}
	if err := old.Extend(ctx, time.Second); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Extend of an expired, taken-over lock = %v, want ErrNotHeld", err)
	}
	if err := old.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Release of an expired, taken-over lock = %v, want ErrNotHeld", err)
	}
	// The stale handle must not have freed the new holder's lock.
	wantHeld(t, l, key)
	release(t, next)
}

func testReleaseOtherGoroutine(t *testing.T, l lock.Locker, key string) {
	lk := tryObtain(t, l, key, 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- lk.Release(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Release from another goroutine = %v, want nil", err)
		}
	case <-time.After(hang):
		t.Fatalf("Release from another goroutine hung for %v", hang)
	}
	release(t, tryObtain(t, l, key, time.Second))
}
