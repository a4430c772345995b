package integration_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/integration/internal/faultproxy"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// TestCrossProcessSharedRead plays the read that crossed another process's
// Delete, deterministically, on Redis, a Redis Cluster and memcached.
// Process A's connections go through proxies that hold the servers'
// replies. A goroutine of A reads k: the server answers "old", the reply
// is held. Process B deletes k and returns. A second goroutine of A then
// asks for k: it began after the Delete completed, so it must not be
// answered by the read in flight (sent before the Delete), whose reply
// says "old": it sends a read of its own, finds k missing and creates.
// Before, it joined the read in flight and returned "old" as a hit.
func TestCrossProcessSharedRead(t *testing.T) {
	type proc struct {
		a, b    *region.Region
		proxies []*faultproxy.Proxy
	}
	// A's region dials every server through a proxy; B's dials directly.
	cfg := region.Config{InvalidationRefresh: time.Hour, LockWait: 10 * time.Second}
	for _, d := range []struct {
		name  string
		start func(t *testing.T) proc
	}{
		{"redis", func(t *testing.T) proc {
			srv := servers.Redis(t)
			p := faultproxy.Start(t, srv.Addr)
			return proc{
				a:       newRedisStack(t, redisClient(t, p.Addr)).region(t, "xread", cfg),
				b:       newRedisStack(t, redisClient(t, srv.Addr)).region(t, "xread", cfg),
				proxies: []*faultproxy.Proxy{p},
			}
		}},
		{"cluster", func(t *testing.T) proc {
			cl := servers.RedisCluster(t, 3)
			via := map[string]string{}
			var proxies []*faultproxy.Proxy
			for _, addr := range cl.Addrs() {
				p := faultproxy.Start(t, addr)
				via[addr] = p.Addr
				proxies = append(proxies, p)
			}
			c := redis.NewClusterClient(&redis.ClusterOptions{
				Addrs: cl.Addrs(), ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
				Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if p, ok := via[addr]; ok {
						addr = p
					}
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				},
			})
			t.Cleanup(func() { _ = c.Close() })
			return proc{
				a:       newRedisStack(t, c).region(t, "xread", cfg),
				b:       newRedisStack(t, clusterClient(t, cl.Addrs())).region(t, "xread", cfg),
				proxies: proxies,
			}
		}},
		{"memcached", func(t *testing.T) proc {
			srv := mcServer(t)
			p := faultproxy.Start(t, srv.Addr)
			return proc{
				a:       newMCStack(t, memcachereg.Options{}, p.Addr).region(t, "xread", cfg),
				b:       newMCStack(t, memcachereg.Options{}, srv.Addr).region(t, "xread", cfg),
				proxies: []*faultproxy.Proxy{p},
			}
		}},
	} {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			p := d.start(t)
			create := func(context.Context) (string, error) { return "created", nil }
			if err := p.a.Set(ctx, "k", "old"); err != nil {
				t.Fatal(err)
			}
			// Warm A's connections, so that what is held below are replies.
			if v, err := region.GetOrCreate(ctx, p.a, "k", create); err != nil || v != "old" {
				t.Fatalf("warm-up read = %q, %v", v, err)
			}
			held := func() (n int64) {
				for _, px := range p.proxies {
					n += px.HeldReplies()
				}
				return n
			}
			for _, px := range p.proxies {
				px.Hold()
			}
			first := asyncString(func() (string, error) { return region.GetOrCreate(ctx, p.a, "k", create) })
			for held() < 1 {
				if ctx.Err() != nil {
					t.Fatal("the first read's reply was never held")
				}
				time.Sleep(time.Millisecond)
			}

			if err := p.b.Delete(ctx, "k"); err != nil { // completes before the second read begins
				t.Fatal(err)
			}
			second := asyncString(func() (string, error) { return region.GetOrCreate(ctx, p.a, "k", create) })
			// The second read sends a read of its own (or, before, joins the
			// first): wait for its reply to be held, or for a while.
			deadline := time.Now().Add(2 * time.Second)
			for held() < 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			for _, px := range p.proxies {
				px.Release()
			}
			r1 := await(t, "the first read", first)
			r2 := await(t, "the second read", second)
			if r1.err != nil || (r1.v != "old" && r1.v != "created") {
				t.Errorf("the first read (begun before the Delete) = %q, %v; want %q or %q", r1.v, r1.err, "old", "created")
			}
			if r2.err != nil || r2.v != "created" {
				t.Fatalf("the read begun after B's Delete completed = %q, %v; want %q: it was answered by a read sent before the Delete", r2.v, r2.err, "created")
			}
		})
	}
}

type stringResult struct {
	v   string
	err error
}

func asyncString(call func() (string, error)) <-chan stringResult {
	ch := make(chan stringResult, 1)
	go func() {
		v, err := call()
		ch <- stringResult{v, err}
	}()
	return ch
}
