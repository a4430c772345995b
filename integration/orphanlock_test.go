package integration_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/integration/internal/faultproxy"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/redislocker"
)

// TestFaultLockAttemptTimedOut: a lock attempt whose reply is slower than
// the client's read timeout fails for the caller, but the server took the
// lock. Nobody holds it, and before, every other creator of the key waited
// for its TTL (TestFaultLatency failed with lock timeouts). The locker now
// releases such a lock by its token once the server answers.
func TestFaultLockAttemptTimedOut(t *testing.T) {
	srv := servers.Redis(t)
	proxy := faultproxy.Start(t, srv.Addr)
	c := redis.NewClient(faultOptions(proxy.Addr))
	t.Cleanup(func() { _ = c.Close() })
	direct := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = direct.Close() })
	locker, err := redislocker.New(c, redislocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// A pooled connection, and the lock script loaded (otherwise the
	// attempt's EVALSHA fails on the server and takes nothing).
	warm, err := locker.TryObtain(ctx, "warm", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Release(ctx); err != nil {
		t.Fatal(err)
	}
	proxy.SetLatency(2 * faultReadTime)
	proxy.Set(faultproxy.Latency)
	_, err = locker.TryObtain(ctx, "orphan", time.Minute)
	if err == nil || errors.Is(err, lock.ErrNotObtained) {
		t.Fatalf("TryObtain with replies slower than the read timeout = %v, want a timeout", err)
	}
	proxy.Set(faultproxy.Pass)
	deadline := time.Now().Add(10 * time.Second) // a guard, not a timing assertion; the lock's TTL is a minute
	for {
		n, err := direct.Exists(ctx, "orphan").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock an attempt took without hearing so is still held after 10 s (TTL %v)", time.Minute)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l, err := locker.TryObtain(ctx, "orphan", time.Minute)
	if err != nil {
		t.Fatalf("TryObtain after the orphan was released: %v", err)
	}
	_ = l.Release(ctx)
}
