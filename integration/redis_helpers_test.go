package integration_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// Short client timeouts, so that an outage fails calls fast instead of
// stalling the tests.
func redisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr: addr, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		MaxRetries: 0, DialerRetries: 1, PoolSize: 128,
	}
}

// redisClient returns a client of its own for the server at addr, closed
// when the test ends.
func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(redisOptions(addr))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clusterClient returns a Cluster client of its own, closed when the test
// ends.
func clusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 3, DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// redisStack is what one process uses: a store, a locker and a registry on
// one client.
type redisStack struct {
	client redis.UniversalClient
	store  *redisstore.Store
	// proxied, when set, is the store wrapped in a proxy: regions use it.
	proxied backend.Backend
	locker  *redislocker.Locker
	reg     *redisreg.Registry
}

func newRedisStack(t testing.TB, c redis.UniversalClient) *redisStack {
	t.Helper()
	store, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := redisreg.New(c, redisreg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// No locker: the store leases (backend.Leaser), and its lease is the
	// lock. Tests of a distributed Locker set one.
	return &redisStack{client: c, store: store, reg: reg}
}

// region returns a region named name on the stack, closed when the test
// ends; cfg's Backend and Locker are filled in, and its Registry and Logger
// when nil.
func (s *redisStack) region(t testing.TB, name string, cfg region.Config) *region.Region {
	t.Helper()
	cfg.Backend = s.store
	if s.proxied != nil {
		cfg.Backend = s.proxied
	}
	if s.locker != nil {
		cfg.Locker = s.locker
	}
	if cfg.Registry == nil {
		cfg.Registry = s.reg
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := region.New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// cmdCounter is a go-redis hook that counts commands and round trips.
type cmdCounter struct {
	trips atomic.Int64 // round trips: single commands and pipelines
	// match, when set, selects the commands counted in matched.
	match   func(args []any) bool
	matched atomic.Int64
	// record, when set, makes a match function that supports it note the
	// commands it matched in seen.
	record atomic.Bool
	mu     sync.Mutex // protects seen
	seen   []string
}

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Add(1)
		if h.match != nil && h.match(cmd.Args()) {
			h.matched.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		for _, cmd := range cmds {
			if h.match != nil && h.match(cmd.Args()) {
				h.matched.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// isLockAttempt matches an attempt to take lockKey: redislock's obtain
// script (EVALSHA sha 1 key token tokenLen ttl; release and refresh have
// fewer arguments), or the store's lease script, which names the value's
// key and its lock (EVALSHA sha N key lock [generations…] holder lockTTL
// placeholder placeholderTTL seen; on a single node the run also reads the
// generations, named after the lock; the store-and-release script has one
// argument fewer). A script the server lacks is sent again by body (EVAL), which
// is the same attempt, not counted.
func isLockAttempt(lockKey string) func(args []any) bool {
	return func(args []any) bool {
		name, _ := args[0].(string)
		if !strings.EqualFold(name, "evalsha") {
			return false
		}
		return (len(args) == 7 && args[3] == lockKey) || (len(args) >= 10 && args[4] == lockKey)
	}
}
