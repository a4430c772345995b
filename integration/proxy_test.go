package integration_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/backend/proxy"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/region"
)

// opCounter is a proxy Middleware that counts the operations it runs, by
// Op.
type opCounter struct {
	mu sync.Mutex
	n  map[proxy.Op]int
}

func (c *opCounter) middleware(ctx context.Context, call proxy.Call, next func(context.Context) error) error {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[proxy.Op]int{}
	}
	c.n[call.Op]++
	c.mu.Unlock()
	return next(ctx)
}

func (c *opCounter) count(op proxy.Op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// passProxy wraps b in a proxy whose middleware only runs each operation.
func passProxy(t testing.TB, b backend.Backend) *proxy.Backend {
	t.Helper()
	p, err := proxy.New(b, func(ctx context.Context, _ proxy.Call, next func(context.Context) error) error { return next(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRedisProxyConformance runs the backend suite, leases and
// conditional writes included, on a proxied Redis store.
func TestRedisProxyConformance(t *testing.T) {
	srv := servers.Redis(t)
	var ops atomic.Int64
	t.Cleanup(func() {
		if ops.Load() == 0 {
			t.Error("the suite ran no operation through the middleware")
		}
	})
	backendtest.RunWith(t, backendtest.RunOptions{TTL: 300 * time.Millisecond}, func(t *testing.T) backend.Backend {
		s, err := redisstore.New(redisClient(t, srv.Addr), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := proxy.New(s, func(ctx context.Context, _ proxy.Call, next func(context.Context) error) error {
			ops.Add(1)
			return next(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}

// TestMemcachedProxyConformance runs the suite on a proxied memcached
// store speaking the meta protocol (its leases and conditional writes).
func TestMemcachedProxyConformance(t *testing.T) {
	srv := mcServer(t)
	backendtest.RunWith(t, backendtest.RunOptions{TTL: 2 * time.Second}, func(t *testing.T) backend.Backend {
		s, err := memcachestore.New(mcPool(t, srv.Addr), memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return passProxy(t, s)
	})
}

// TestRedisProxyRegion runs regions of two clients on proxied Redis
// stores: creations lease through the proxy (no Locker), a write in one
// reaches the other's near cache (the watch goes through the proxy), and
// each proxy saw its region's operations.
func TestRedisProxyRegion(t *testing.T) {
	srv := servers.Redis(t)
	ctx := t.Context()
	var counters [2]opCounter
	var rs [2]*region.Region
	for i := range rs {
		st := newRedisStack(t, redisClient(t, srv.Addr))
		p, err := proxy.New(st.store, counters[i].middleware)
		if err != nil {
			t.Fatal(err)
		}
		st.proxied = p
		rs[i] = st.region(t, "proxied", region.Config{Near: region.NearConfig{MaxEntries: 100}})
	}
	waitNearLive(t, rs[:]...)
	for _, op := range []proxy.Op{proxy.OpWatchInvalidations} {
		for i := range counters {
			if counters[i].count(op) != 1 {
				t.Errorf("process %d: %s ran %d times through the proxy, want 1", i, op, counters[i].count(op))
			}
		}
	}
	create := func(context.Context) (int, error) { return 1, nil }
	if v, err := region.GetOrCreate(ctx, rs[0], "k", create); err != nil || v != 1 {
		t.Fatalf("GetOrCreate = %d, %v", v, err)
	}
	if counters[0].count(proxy.OpLease) == 0 || counters[0].count(proxy.OpStoreLeased) == 0 {
		t.Errorf("the creation did not lease through the proxy: %v", counters[0].n)
	}
	warmNear(t, rs[1], "k")
	if err := rs[0].Set(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	awaitValue(t, rs[1], "k", 2, nearBound)
}
