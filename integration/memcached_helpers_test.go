package integration_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/lock/memcachelocker"
	"github.com/corralcache/corral/region"
)

// mcTimeout is the socket timeout of the tests' clients. Production's
// 200ms (memcachestore.DefaultTimeout) fails fast on a dead server; a test
// machine busy with parallel builds can exceed it on a live one, which
// would make the exact-count tests flaky. A stopped server refuses
// connections at once, so the outage tests are not slowed.
const mcTimeout = 2 * time.Second

// mcClient returns a client of its own for the servers at addrs, as a
// separate process would have, closed when the test ends.
func mcClient(t *testing.T, addrs ...string) *memcache.Client {
	t.Helper()
	c, err := memcachestore.NewClient(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = mcTimeout
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// mcPool returns a Pool of its own for the servers at addrs, as a
// separate process would have, closed when the test ends. A Store on it
// speaks the meta protocol.
func mcPool(t *testing.T, addrs ...string) *memcachestore.Pool {
	t.Helper()
	p, err := memcachestore.NewPool(memcachestore.PoolOptions{Timeout: mcTimeout}, addrs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// mcStack is what one process uses: a client, a store, a locker and a
// registry on it.
type mcStack struct {
	client *memcache.Client
	store  *memcachestore.Store
	locker *memcachelocker.Locker
	reg    *memcachereg.Registry
}

func newMCStack(t *testing.T, regOpts memcachereg.Options, addrs ...string) *mcStack {
	t.Helper()
	c := mcClient(t, addrs...)
	store, err := memcachestore.New(c, memcachestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	locker, err := memcachelocker.New(c, memcachelocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := memcachereg.New(c, regOpts)
	if err != nil {
		t.Fatal(err)
	}
	return &mcStack{client: c, store: store, locker: locker, reg: reg}
}

// region returns a region named name on the stack, closed when the test
// ends; cfg's Backend and Locker are filled in, and its Registry when nil.
func (s *mcStack) region(t *testing.T, name string, cfg region.Config) *region.Region {
	t.Helper()
	cfg.Backend, cfg.Locker = s.store, s.locker
	if cfg.Registry == nil {
		cfg.Registry = s.reg
	}
	r, err := region.New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// mcServer starts a memcached for the test.
func mcServer(t *testing.T, extra ...string) *servers.Server {
	t.Helper()
	return servers.Memcached(t, extra...)
}

// mcCounter reads a counter the workers increment (0 when missing): an
// ASCII number under the key memcachestore mangles the counter's name to.
func mcCounter(t testing.TB, c *memcache.Client, key string) int {
	t.Helper()
	it, err := c.Get(memcachestore.MangleKey(key))
	if errors.Is(err, memcache.ErrCacheMiss) {
		return 0
	}
	if err != nil {
		t.Fatalf("counter %q: %v", key, err)
	}
	n, err := strconv.Atoi(string(it.Value))
	if err != nil {
		t.Fatalf("counter %q: %v", key, err)
	}
	return n
}

// mcCtx returns a context bounded by limit.
func mcCtx(t *testing.T, limit time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	t.Cleanup(cancel)
	return ctx
}
