package lock_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/locktest"
)

func TestLocalConformance(t *testing.T) {
	locktest.Run(t, func(*testing.T) lock.Locker { return lock.NewLocal() })
}

func TestLocalInvalidTTL(t *testing.T) {
	l := lock.NewLocal()
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, -time.Second} {
		t.Run(ttl.String(), func(t *testing.T) {
			if _, err := l.TryObtain(ctx, "k", ttl); !errors.Is(err, lock.ErrInvalidTTL) {
				t.Errorf("TryObtain ttl %v = %v, want ErrInvalidTTL", ttl, err)
			}
			if _, err := l.Obtain(ctx, "k", ttl); !errors.Is(err, lock.ErrInvalidTTL) {
				t.Errorf("Obtain ttl %v = %v, want ErrInvalidTTL", ttl, err)
			}
			lk, err := l.TryObtain(ctx, "k", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if err := lk.Extend(ctx, ttl); !errors.Is(err, lock.ErrInvalidTTL) {
				t.Errorf("Extend ttl %v = %v, want ErrInvalidTTL", ttl, err)
			}
			if err := lk.Release(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLocalCanceledContext(t *testing.T) {
	l := lock.NewLocal()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.TryObtain(ctx, "k", time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("TryObtain with a done ctx = %v, want context.Canceled", err)
	}
	if _, err := l.Obtain(ctx, "k", time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Obtain with a done ctx = %v, want context.Canceled", err)
	}
}

// TestLocalNoGoroutineLeak checks that waits that end by cancel, by release
// and by expiry leave no goroutine behind.
func TestLocalNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	l := lock.NewLocal()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		key := fmt.Sprint("k", i%5)
		lk, err := l.TryObtain(ctx, key, 50*time.Millisecond)
		if err != nil {
			lk = nil // held by an earlier iteration; wait for it below
		}
		wctx, cancel := context.WithTimeout(ctx, time.Duration(i%3)*20*time.Millisecond+time.Millisecond)
		wg.Go(func() {
			defer cancel()
			if got, err := l.Obtain(wctx, key, time.Millisecond); err == nil {
				_ = got.Release(ctx)
			}
		})
		if lk != nil && i%2 == 0 {
			_ = lk.Release(ctx)
		}
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ExampleLocal() {
	ctx := context.Background()
	locker := lock.NewLocal()

	held, err := locker.TryObtain(ctx, "report:42", 10*time.Second)
	if err != nil {
		panic(err)
	}
	_, err = locker.TryObtain(ctx, "report:42", 10*time.Second)
	fmt.Println("second TryObtain:", err)

	// Any goroutine may release the lock; a waiting Obtain then takes it.
	go func() { _ = held.Release(ctx) }()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	next, err := locker.Obtain(wctx, "report:42", 10*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("obtained after release:", next.Key())
	fmt.Println("stale release:", held.Release(ctx))
	fmt.Println("release:", next.Release(ctx))
	// Output:
	// second TryObtain: lock: not obtained
	// obtained after release: report:42
	// stale release: lock: not held
	// release: <nil>
}

func TestLocalIssued(t *testing.T) {
	a, b := lock.NewLocal(), lock.NewLocal()
	l, err := a.TryObtain(context.Background(), "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Issued(l) || b.Issued(l) || a.Issued(nil) {
		t.Fatalf("Issued: by a %v, by b %v, nil %v; want true, false, false", a.Issued(l), b.Issued(l), a.Issued(nil))
	}
	_ = l.Release(context.Background())
	if !a.Issued(l) {
		t.Fatal("a released lock is no longer reported as issued")
	}
}
