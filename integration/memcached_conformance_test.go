package integration_test

import (
	"fmt"
	"testing"
	"time"

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
