package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestLocalFreesState checks that a key's state leaves the map once nobody
// holds or waits for it, whichever way the hold or the wait ended.
func TestLocalFreesState(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, l *Local)
	}{
		{"release", func(t *testing.T, l *Local) {
			for i := range 1000 {
				lk, err := l.TryObtain(ctx, fmt.Sprint("k", i), time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if err := lk.Release(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"contended", func(t *testing.T, l *Local) {
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Go(func() {
					for j := range 100 {
						lk, err := l.Obtain(ctx, fmt.Sprint("k", (i+j)%4), time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if err := lk.Release(ctx); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
		}},
		{"canceled waiters", func(t *testing.T, l *Local) {
			synctest.Test(t, func(t *testing.T) {
				lk, err := l.TryObtain(ctx, "k", time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				for range 10 {
					wg.Go(func() {
						wctx, cancel := context.WithTimeout(ctx, time.Second)
						defer cancel()
						if _, err := l.Obtain(wctx, "k", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("Obtain = %v, want DeadlineExceeded", err)
						}
					})
				}
				synctest.Wait()
				l.mu.Lock()
				got := l.keys["k"].waiters
				l.mu.Unlock()
				if got != 10 {
					t.Errorf("waiters = %d, want 10", got)
				}
				wg.Wait()
				if err := lk.Release(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}},
		{"expired and released late", func(t *testing.T, l *Local) {
			synctest.Test(t, func(t *testing.T) {
				lk, err := l.TryObtain(ctx, "k", time.Second)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Second)
				if err := lk.Release(ctx); !errors.Is(err, ErrNotHeld) {
					t.Errorf("late Release = %v, want ErrNotHeld", err)
				}
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLocal()
			tt.run(t, l)
			if n := l.size(); n != 0 {
				t.Errorf("%d keys left in the map, want 0", n)
			}
		})
	}
}

// TestLocalSweepsExpired checks that holds that expire without a release do
// not accumulate: the map stays within twice the live set.
func TestLocalSweepsExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLocal()
		ctx := context.Background()
		for i := range 10_000 {
			if _, err := l.TryObtain(ctx, fmt.Sprint("k", i), time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if i%100 == 99 {
				time.Sleep(time.Millisecond) // every hold so far expires
			}
		}
		if n := l.size(); n > 2*minSweep+100 {
			t.Errorf("%d keys in the map after 10000 expired holds, want at most %d", n, 2*minSweep+100)
		}
	})
}

func TestLocalTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLocal()
		ctx := context.Background()
		old, err := l.TryObtain(ctx, "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		next, err := l.Obtain(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Obtain waited %v, want exactly the holder's 1s ttl", waited)
		}
		if err := old.Extend(ctx, time.Minute); !errors.Is(err, ErrNotHeld) {
			t.Errorf("stale Extend = %v, want ErrNotHeld", err)
		}
		if err := old.Release(ctx); !errors.Is(err, ErrNotHeld) {
			t.Errorf("stale Release = %v, want ErrNotHeld", err)
		}
		if _, err := l.TryObtain(ctx, "k", time.Second); !errors.Is(err, ErrNotObtained) {
			t.Errorf("TryObtain after a stale release = %v, want ErrNotObtained", err)
		}
		if err := next.Release(ctx); err != nil {
			t.Error(err)
		}
	})
}

func TestLocalExtendDelaysWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLocal()
		ctx := context.Background()
		held, err := l.TryObtain(ctx, "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := make(chan time.Duration, 1)
		go func() {
			lk, err := l.Obtain(ctx, "k", time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			got <- time.Since(start)
			_ = lk.Release(ctx)
		}()
		time.Sleep(900 * time.Millisecond)
		if err := held.Extend(ctx, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := <-got; d != 2900*time.Millisecond {
			t.Errorf("waiter obtained after %v, want 2.9s (the extended expiry)", d)
		}
	})
}
