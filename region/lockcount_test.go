package region_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// countingLocker counts the calls that reach the locker, as a distributed
// locker would count round trips.
type countingLocker struct {
	lock.Locker
	tries, obtains atomic.Int32
}

func (c *countingLocker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	c.tries.Add(1)
	return c.Locker.TryObtain(ctx, key, ttl)
}

func (c *countingLocker) Obtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	c.obtains.Add(1)
	return c.Locker.Obtain(ctx, key, ttl)
}

func TestOneLockAttemptPerProcess(t *testing.T) {
	locker := &countingLocker{Locker: lock.NewLocal()}
	r := newRegion(t, region.Config{Locker: locker})
	g := newGate()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = region.GetOrCreate(context.Background(), r, "k", create(g, 1))
		}()
	}
	<-g.entered
	waitFor(t, "callers to wait", func() bool { return r.Stats().LockWaits == 99 })
	close(g.open)
	wg.Wait()
	if tries, obtains := locker.tries.Load(), locker.obtains.Load(); tries != 1 || obtains != 0 {
		t.Fatalf("100 goroutines on a cold key made %d TryObtain and %d Obtain calls, want 1 and 0", tries, obtains)
	}
}

func TestKeyMangler(t *testing.T) {
	b := newMemory(t, true)
	r := newRegion(t, region.Config{Backend: b, KeyMangler: strings.ToUpper})
	ctx := context.Background()
	if err := r.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "C1:{4:TEST:K}:V"); err != nil {
		t.Fatalf("the backend has no mangled key: %v", err)
	}
	if v, found, _ := region.Get[string](ctx, r, "k"); !found || v != "v" {
		t.Fatalf("read through the mangler: %q %v", v, found)
	}
}

func TestGetOrCreateMultiBackground(t *testing.T) {
	checkGoroutines(t)
	clock := newClock()
	r := newRegion(t, region.Config{Clock: clock, Expiration: time.Minute, BackgroundRegeneration: true})
	ctx := context.Background()
	_ = r.SetMulti(ctx, map[string]any{"a": "old-a", "b": "old-b"})
	clock.Advance(2 * time.Minute)
	var rc recorder
	got, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, rc.create)
	if err != nil || got[0] != "old-a" || got[1] != "old-b" {
		t.Fatalf("got %q, %v; want the stale values at once", got, err)
	}
	waitFor(t, "the background regeneration", func() bool {
		v, _ := region.GetMulti[string](ctx, r, []string{"a", "b"})
		return v["a"] == "v-a" && v["b"] == "v-b"
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.calls) != 1 {
		t.Fatalf("creator calls %q, want one", rc.calls)
	}
}
