package integration_test

import (
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
		s, err := memcachestore.NewServers(srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestMemcachedBackendConformancePool(t *testing.T) {
	a, b, c := mcServer(t), mcServer(t), mcServer(t)
	backendtest.RunWith(t, backendtest.RunOptions{SkipTTL: true}, func(t *testing.T) backend.Backend {
		s, err := memcachestore.NewServers(a.Addr, b.Addr, c.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
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
