package memcachelocker_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/internal/memcachekey"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/memcachelocker"
)

// fakeClient is an in-memory memcachelocker.Client with CAS ids and no
// expiry (a negative expiration deletes, as on memcached). beforeCAS, when
// set, runs between a Get and the following CompareAndSwap.
type fakeClient struct {
	mu        sync.Mutex
	items     map[string]memcache.Item
	nextCAS   uint64
	adds      int
	fail      error
	beforeCAS func()
}

func newFake() *fakeClient { return &fakeClient{items: make(map[string]memcache.Item)} }

func (f *fakeClient) Get(key string) (*memcache.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	it, ok := f.items[key]
	if !ok {
		return nil, memcache.ErrCacheMiss
	}
	it.Value = bytes.Clone(it.Value)
	return &it, nil
}

func (f *fakeClient) Add(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adds++
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.items[it.Key]; ok {
		return memcache.ErrNotStored
	}
	f.nextCAS++
	f.items[it.Key] = memcache.Item{Key: it.Key, Value: bytes.Clone(it.Value), Expiration: it.Expiration, CasID: f.nextCAS}
	return nil
}

func (f *fakeClient) CompareAndSwap(it *memcache.Item) error {
	if f.beforeCAS != nil {
		f.beforeCAS()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	cur, ok := f.items[it.Key]
	switch {
	case !ok:
		return memcache.ErrCacheMiss
	case cur.CasID != it.CasID:
		return memcache.ErrCASConflict
	case it.Expiration < 0:
		delete(f.items, it.Key)
		return nil
	}
	f.nextCAS++
	f.items[it.Key] = memcache.Item{Key: it.Key, Value: bytes.Clone(it.Value), Expiration: it.Expiration, CasID: f.nextCAS}
	return nil
}

func (f *fakeClient) item(key string) (memcache.Item, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.items[key]
	return it, ok
}

// replace simulates the lock expiring and another holder taking it.
func (f *fakeClient) replace(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextCAS++
	f.items[key] = memcache.Item{Key: key, Value: []byte("someone else"), CasID: f.nextCAS}
}

func newLocker(t *testing.T, c memcachelocker.Client, o memcachelocker.Options) *memcachelocker.Locker {
	t.Helper()
	l, err := memcachelocker.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name string
		c    memcachelocker.Client
		o    memcachelocker.Options
	}{
		{"NilClient", nil, memcachelocker.Options{}},
		{"NegativeBackoff", newFake(), memcachelocker.Options{MinBackoff: -1}},
		{"MaxBelowMin", newFake(), memcachelocker.Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := memcachelocker.New(tc.c, tc.o); !errors.Is(err, memcachelocker.ErrInvalidOptions) {
				t.Fatalf("New = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestInvalidTTL(t *testing.T) {
	l := newLocker(t, newFake(), memcachelocker.Options{})
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := l.TryObtain(ctx, "k", ttl); !errors.Is(err, lock.ErrInvalidTTL) {
			t.Errorf("TryObtain(ttl %v) = %v, want ErrInvalidTTL", ttl, err)
		}
		if _, err := l.Obtain(ctx, "k", ttl); !errors.Is(err, lock.ErrInvalidTTL) {
			t.Errorf("Obtain(ttl %v) = %v, want ErrInvalidTTL", ttl, err)
		}
	}
	lk, err := l.TryObtain(ctx, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Extend(ctx, 0); !errors.Is(err, lock.ErrInvalidTTL) {
		t.Errorf("Extend(0) = %v, want ErrInvalidTTL", err)
	}
}

func TestExpirationSent(t *testing.T) {
	tests := []struct {
		ttl  time.Duration
		want int32
	}{
		{time.Millisecond, 2},
		{300 * time.Millisecond, 2},
		{time.Second, 2},
		{30 * time.Second, 31},
	}
	for _, tc := range tests {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			f := newFake()
			l := newLocker(t, f, memcachelocker.Options{Prefix: "p:"})
			lk, err := l.TryObtain(context.Background(), "a key", tc.ttl)
			if err != nil {
				t.Fatal(err)
			}
			it, ok := f.item(memcachekey.Mangle("p:a key"))
			if !ok {
				t.Fatalf("no lock item under the mangled key; items: %v", f.items)
			}
			if it.Expiration != tc.want {
				t.Errorf("TTL %v sent as %d seconds, want %d (rounded up, plus one)", tc.ttl, it.Expiration, tc.want)
			}
			if err := lk.Extend(context.Background(), tc.ttl); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReleaseNeverFreesAnotherHolder(t *testing.T) {
	ctx := context.Background()
	t.Run("TakenOverBeforeRelease", func(t *testing.T) {
		f := newFake()
		l := newLocker(t, f, memcachelocker.Options{})
		lk, err := l.TryObtain(ctx, "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		f.replace("k")
		if err := lk.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Release after takeover = %v, want ErrNotHeld", err)
		}
		if err := lk.Extend(ctx, time.Second); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Extend after takeover = %v, want ErrNotHeld", err)
		}
		if it, ok := f.item("k"); !ok || string(it.Value) != "someone else" {
			t.Fatalf("the new holder's lock was touched: %v %v", it, ok)
		}
	})
	t.Run("TakenOverBetweenGetAndCAS", func(t *testing.T) {
		f := newFake()
		l := newLocker(t, f, memcachelocker.Options{})
		lk, err := l.TryObtain(ctx, "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		f.beforeCAS = func() { f.replace("k") }
		if err := lk.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Release racing a takeover = %v, want ErrNotHeld", err)
		}
		if it, ok := f.item("k"); !ok || string(it.Value) != "someone else" {
			t.Fatalf("the new holder's lock was freed: %v %v", it, ok)
		}
	})
}

func TestServerErrors(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	l := newLocker(t, f, memcachelocker.Options{})
	lk, err := l.TryObtain(ctx, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection refused")
	f.fail = boom
	if _, err := l.TryObtain(ctx, "j", time.Second); !errors.Is(err, boom) || errors.Is(err, lock.ErrNotObtained) {
		t.Errorf("TryObtain on a failing server = %v, want the server error", err)
	}
	if _, err := l.Obtain(ctx, "j", time.Second); !errors.Is(err, boom) {
		t.Errorf("Obtain on a failing server = %v, want the server error at once", err)
	}
	if err := lk.Release(ctx); !errors.Is(err, boom) || errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Release on a failing server = %v, want the server error", err)
	}
}

func TestObtainBackoffAndDeadline(t *testing.T) {
	f := newFake()
	l := newLocker(t, f, memcachelocker.Options{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if _, err := l.TryObtain(context.Background(), "k", time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Obtain(ctx, "k", time.Second)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Obtain on a held key = %v, want DeadlineExceeded", err)
	}
	if elapsed > time.Second {
		t.Errorf("Obtain returned %v after start, past its 300ms deadline", elapsed)
	}
	f.mu.Lock()
	adds := f.adds - 1
	f.mu.Unlock()
	// With the wait capped at 20ms, 300ms leaves room for well over 10
	// attempts; uncapped doubling from 1ms would make about 8.
	if adds < 12 {
		t.Errorf("Obtain tried %d times in 300ms, want at least 12 with a 20ms cap", adds)
	}
}
