package region_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// modes runs a test against a backend that keeps decoded values and against
// one that keeps encoded bytes (the path Redis and memcached take).
var modes = []struct {
	name      string
	serialize bool
}{{"values", false}, {"bytes", true}}

func newMemory(t testing.TB, serialize bool) *memory.Backend {
	t.Helper()
	b, err := memory.New(memory.Options{Serialize: serialize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// newRegion builds a region on cfg, filling in a memory backend and a fake
// clock when cfg has none, and closes it at the end of the test.
func newRegion(t testing.TB, cfg region.Config) *region.Region {
	t.Helper()
	if cfg.Backend == nil {
		cfg.Backend = newMemory(t, false)
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	r, err := region.New("test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// waitFor polls cond until it holds, failing the test after a generous
// bound. It guards against hangs; it is not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within fails the test when fn does not return within d: a hang guard.
func within(t testing.TB, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// gate is a creator that blocks until opened and counts its calls.
type gate struct {
	mu      sync.Mutex
	calls   int
	entered chan struct{} // receives once per call, when the call starts
	open    chan struct{}
}

// withWaiter runs a creation of key in r whose creator stays at a gate
// until waiter, run meanwhile, waits for it (one lock wait counted), then
// lets both finish.
func withWaiter(t testing.TB, ctx context.Context, r *region.Region, key string, waiter func()) {
	t.Helper()
	g := newGate()
	done := make(chan struct{})
	go func() { defer close(done); _, _ = region.GetOrCreate(ctx, r, key, create(g, 1)) }()
	<-g.entered
	waited := make(chan struct{})
	go func() { defer close(waited); waiter() }()
	waitFor(t, "the second caller to wait", func() bool { return r.Stats().LockWaits == 1 })
	close(g.open)
	<-done
	<-waited
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 1000), open: make(chan struct{})} }

func (g *gate) Calls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// create returns a creator giving v once the gate opens.
func create[T any](g *gate, v T) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		g.mu.Lock()
		g.calls++
		g.mu.Unlock()
		g.entered <- struct{}{}
		<-g.open
		return v, nil
	}
}

// failing is a backend whose every call fails, to test fail-open and
// fail-closed behaviour.
type failing struct{ err error }

func (f failing) Get(context.Context, string) ([]byte, error)              { return nil, f.err }
func (f failing) GetMulti(context.Context, []string) ([][]byte, error)     { return nil, f.err }
func (f failing) Set(context.Context, string, []byte, time.Duration) error { return f.err }
func (f failing) SetMulti(context.Context, []backend.Item) error           { return f.err }
func (f failing) Delete(context.Context, string) error                     { return f.err }
func (f failing) DeleteMulti(context.Context, []string) error              { return f.err }

var errDown = errors.New("connection refused")

// newClock returns a fake clock; tests move it with Advance.
func newClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_700_000_000, 0)) }

// quiet discards the region's warnings, which the tests provoke on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// failingLocker fails every call, like a lock server that is down.
type failingLocker struct{}

func (failingLocker) TryObtain(context.Context, string, time.Duration) (lock.Lock, error) {
	return nil, errDown
}
func (failingLocker) Obtain(context.Context, string, time.Duration) (lock.Lock, error) {
	return nil, errDown
}

// checkGoroutines fails the test when goroutines started during it are still
// running once it ends (after a bounded grace for them to wind down).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
