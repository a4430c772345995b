package integration_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/locktest"
	"github.com/corralcache/corral/lock/memcachelocker"
)

func TestMemcachedBackendConformance(t *testing.T) {
	srv := mcServer(t)
	// memcached expires on whole seconds: the suite's default 2s TTL.
	backendtest.RunWith(t, backendtest.RunOptions{TTL: 2 * time.Second}, func(t *testing.T) backend.Backend {
		s, err := memcachestore.New(mcClient(t, srv.Addr), memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMemcachedBackendConformancePool(t *testing.T) {
	a, b, c := mcServer(t), mcServer(t), mcServer(t)
	backendtest.RunWith(t, backendtest.RunOptions{SkipTTL: true}, func(t *testing.T) backend.Backend {
		s, err := memcachestore.New(mcClient(t, a.Addr, b.Addr, c.Addr), memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMemcachedBackendConformanceMeta runs the suite on a Store on a Pool
// of one server, which speaks the meta protocol for its conditional writes
// and its leases.
func TestMemcachedBackendConformanceMeta(t *testing.T) {
	srv := mcServer(t)
	backendtest.RunWith(t, backendtest.RunOptions{TTL: 2 * time.Second}, func(t *testing.T) backend.Backend {
		s, err := memcachestore.New(mcPool(t, srv.Addr), memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMemcachedBackendConformanceMetaPool(t *testing.T) {
	a, b, c := mcServer(t), mcServer(t), mcServer(t)
	backendtest.RunWith(t, backendtest.RunOptions{TTL: 2 * time.Second}, func(t *testing.T) backend.Backend {
		s, err := memcachestore.New(mcPool(t, a.Addr, b.Addr, c.Addr), memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMemcachedLockerConformance(t *testing.T) {
	srv := mcServer(t)
	locktest.Run(t, func(t *testing.T) lock.Locker {
		l, err := memcachelocker.New(mcClient(t, srv.Addr), memcachelocker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// TestMemcachedLockerConformanceMeta runs the locker suite on a Locker on
// a Pool, which speaks the meta protocol.
func TestMemcachedLockerConformanceMeta(t *testing.T) {
	srv := mcServer(t)
	locktest.Run(t, func(t *testing.T) lock.Locker {
		l, err := memcachelocker.New(mcPool(t, srv.Addr), memcachelocker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// TestMemcachedLeaseExcludesLocker: a lease's lock is the item the
// memcached locker adds for the same key, on either protocol, so processes
// that lease and processes that lock exclude each other.
func TestMemcachedLeaseExcludesLocker(t *testing.T) {
	srv := mcServer(t)
	ctx := mcCtx(t, 10*time.Second)
	for _, meta := range []bool{true, false} {
		var c memcachestore.Client = mcPool(t, srv.Addr)
		if !meta {
			c = mcClient(t, srv.Addr)
		}
		store, err := memcachestore.New(c, memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		locker, err := memcachelocker.New(c, memcachelocker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		k := backend.LeaseKey{Key: fmt.Sprintf("exclude:%t:v", meta), Lock: fmt.Sprintf("exclude:%t:l", meta)}
		o := backend.LeaseOptions{Holder: "lease", LockTTL: time.Minute, PlaceholderTTL: time.Minute}
		leases, _, err := store.Lease(ctx, []backend.LeaseKey{k}, o)
		if err != nil || leases[0].Status != backend.LeaseTaken {
			t.Fatalf("Lease = %v, %v", leases, err)
		}
		if _, err := locker.TryObtain(ctx, k.Lock, time.Minute); !errors.Is(err, lock.ErrNotObtained) {
			t.Fatalf("meta %t: TryObtain of a leased key's lock = %v, want ErrNotObtained", meta, err)
		}
		if err := store.ReleaseLeases(ctx, []backend.LeaseKey{k}, o.Holder); err != nil {
			t.Fatal(err)
		}
		l, err := locker.TryObtain(ctx, k.Lock, time.Minute)
		if err != nil {
			t.Fatalf("meta %t: TryObtain after the lease's release: %v", meta, err)
		}
		o.Holder = "another"
		if leases, _, err := store.Lease(ctx, []backend.LeaseKey{k}, o); err != nil || leases[0].Status != backend.LeaseHeld {
			t.Fatalf("meta %t: Lease of a key locked by a Locker = %v, %v; want held", meta, leases, err)
		}
		// Neither releases the other's lock.
		if err := store.ReleaseLeases(ctx, []backend.LeaseKey{k}, o.Holder); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatalf("meta %t: the Locker's release after a lease's release of its key: %v", meta, err)
		}
	}
}

func TestMemcachedNewServers(t *testing.T) {
	a, b := mcServer(t), mcServer(t)
	s, err := memcachestore.NewServers(a.Addr, b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := mcCtx(t, 10*time.Second)
	items := make([]backend.Item, 20)
	keys := make([]string, len(items))
	for i := range items {
		keys[i] = fmt.Sprintf("newservers:%d", i)
		items[i] = backend.Item{Key: keys[i], Value: []byte(keys[i]), TTL: time.Hour}
	}
	if err := s.SetMulti(ctx, items); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMulti(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if string(v) != keys[i] {
			t.Errorf("GetMulti[%d] = %q, want %q", i, v, keys[i])
		}
	}
	// Both servers hold some of the keys.
	for _, srv := range []string{a.Addr, b.Addr} {
		one, err := memcachestore.New(mcClient(t, srv), memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := one.GetMulti(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range vs {
			if v != nil {
				n++
			}
		}
		if n == 0 || n == len(keys) {
			t.Errorf("server %s holds %d of %d keys, want some", srv, n, len(keys))
		}
	}
}

// TestMemcachedLockerMetaRewritten: on the meta protocol a handle names its
// lock by CAS value; when the item was rewritten with the handle's own
// token (an extension whose reply was lost), Extend and Release find it
// again by its token, and a lock taken over stays the new holder's.
func TestMemcachedLockerMetaRewritten(t *testing.T) {
	srv := mcServer(t)
	ctx := mcCtx(t, 10*time.Second)
	p := mcPool(t, srv.Addr)
	l, err := memcachelocker.New(p, memcachelocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(key, value string) {
		t.Helper()
		if err := p.Set(&memcache.Item{Key: key, Value: []byte(value), Expiration: 60}); err != nil {
			t.Fatal(err)
		}
	}
	lk, err := l.TryObtain(ctx, "rewritten", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	it, err := p.Get("rewritten")
	if err != nil {
		t.Fatal(err)
	}
	token := string(it.Value)
	rewrite("rewritten", token)
	if err := lk.Extend(ctx, time.Minute); err != nil {
		t.Fatalf("Extend after a rewrite with the same token: %v", err)
	}
	rewrite("rewritten", token)
	if err := lk.Release(ctx); err != nil {
		t.Fatalf("Release after a rewrite with the same token: %v", err)
	}
	if _, err := p.Get("rewritten"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("the lock is still there after Release: %v", err)
	}
	lk, err = l.TryObtain(ctx, "rewritten", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rewrite("rewritten", "another holder")
	if err := lk.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("Release of a lock taken over = %v, want ErrNotHeld", err)
	}
	if it, err := p.Get("rewritten"); err != nil || string(it.Value) != "another holder" {
		t.Fatalf("the new holder's lock: %v, %v", it, err)
	}
}
