package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// memcachedAddr is the address of the memcached the memcached scenarios
// use: the one named by CORRAL_BENCH_MEMCACHED, or one TestMain starts on a
// free loopback port. It is empty when neither is available; those
// scenarios then fail.
var memcachedAddr string

// startMemcached points memcachedAddr at a memcached and returns what
// stops it.
func startMemcached() (stop func(), err error) {
	stop = func() {}
	if addr := os.Getenv("CORRAL_BENCH_MEMCACHED"); addr != "" {
		memcachedAddr = addr
		return stop, nil
	}
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return stop, fmt.Errorf("memcached not found (bench/run.sh installs it): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stop, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "1024"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses root without -u
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return stop, err
	}
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return func() {}, fmt.Errorf("memcached did not answer on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	memcachedAddr = addr
	return stop, nil
}

// newMemcachedPool returns a memcachestore.Pool on memcachedAddr, flushed,
// closed when b ends: the store, locker and registry on it use the meta
// protocol.
func newMemcachedPool(b *testing.B) *memcachestore.Pool {
	b.Helper()
	if memcachedAddr == "" {
		b.Fatal("no memcached: set CORRAL_BENCH_MEMCACHED or install memcached")
	}
	p, err := memcachestore.NewPool(memcachestore.PoolOptions{}, memcachedAddr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	if err := p.Client().FlushAll(); err != nil {
		b.Fatal(err)
	}
	if err := p.CheckVersions(); err != nil {
		b.Fatal(err)
	}
	return p
}

// newGomemcache returns a bare gomemcache client on memcachedAddr, with
// the socket timeout and idle connections memcachestore gives its own.
func newGomemcache(b *testing.B) *memcache.Client {
	b.Helper()
	c, err := memcachestore.NewClient(memcachedAddr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// memcachedRegion is a region on corral's memcached store, locker and
// registry, all on client: a Pool (meta protocol) or a gomemcache client
// (text protocol).
func memcachedRegion(b *testing.B, client memcachestore.Client, ttl time.Duration) *region.Region {
	b.Helper()
	st, err := memcachestore.New(client, memcachestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := memcachereg.New(client.(memcachereg.Client), memcachereg.Options{})
	if err != nil {
		b.Fatal(err)
	}
	// No Locker: the store leases, and the lease is the lock.
	return closing(b)(region.New("bench", region.Config{Backend: st, Registry: reg, Expiration: ttl}))
}

// memcachedCmds counts the commands memcached served (its stats), to report
// commands per operation.
func memcachedCmds(b *testing.B) int64 {
	b.Helper()
	c, err := net.DialTimeout("tcp", memcachedAddr, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		b.Fatal(err)
	}
	var n int64
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasPrefix(line, "END") {
			return n
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		switch f[1] {
		case "cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "incr_hits", "incr_misses":
			v, _ := strconv.ParseInt(f[2], 10, 64)
			n += v
		}
	}
}

// BenchmarkMemcachedMiss is the cold miss on memcached, one goroutine: each
// operation creates a key no one has read, and stores a User of about
// 1 KiB. Variants:
//
//   - corral-lease: the backend's lease (backend.Leaser on the meta
//     protocol: the lock, the fence) and its store, what a region wired to
//     it will send;
//   - corral-get-lease: the same after a read that misses, the whole of a
//     creation at the backend;
//   - corral-region: corral's region (GetOrCreate: the read that misses,
//     the lease, the store under it, on the meta protocol);
//   - corral-region-text: the same on the text protocol;
//   - gomemcache: the floor, a bare Get that misses and a Set (no lock, no
//     fence).
//
// cmds/op counts the commands memcached served per operation.
func BenchmarkMemcachedMiss(b *testing.B) {
	var seq atomic.Int64
	key := func(name string) string { return fmt.Sprintf("miss:%s:%d", name, seq.Add(1)) }
	user := func() []byte {
		data, err := msgpack.Marshal(fixture.NewUser(seq.Load()))
		if err != nil {
			b.Fatal(err)
		}
		return data
	}
	run := func(b *testing.B, op func(ctx context.Context) error) {
		ctx := context.Background()
		before := memcachedCmds(b)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := op(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(memcachedCmds(b)-before-1)/float64(b.N), "cmds/op") // less the stats' own
	}
	leaseStore := func(b *testing.B, withGet bool) {
		s, err := memcachestore.New(newMemcachedPool(b), memcachestore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		o := backend.LeaseOptions{Holder: "bench", LockTTL: 10 * time.Second, PlaceholderTTL: time.Minute}
		run(b, func(ctx context.Context) error {
			k := key("lease")
			lk := backend.LeaseKey{Key: k + ":v", Lock: k + ":l"}
			if withGet {
				if _, err := s.Get(ctx, lk.Key); !errors.Is(err, backend.ErrNotFound) {
					return fmt.Errorf("get of a cold key: %v", err)
				}
			}
			o.Holder = k
			ls, _, err := s.Lease(ctx, []backend.LeaseKey{lk}, o)
			if err != nil || ls[0].Status != backend.LeaseTaken {
				return fmt.Errorf("lease: %v, %v", ls, err)
			}
			lk.Version = ls[0].Version
			stored, _, err := s.StoreLeased(ctx, []backend.Item{{Key: lk.Key, Value: user(), TTL: time.Hour}}, []backend.LeaseKey{lk}, o.Holder, backend.Group{})
			if err != nil || !stored[0] {
				return fmt.Errorf("store leased: %v, %v", stored, err)
			}
			return nil
		})
	}
	b.Run("g1", func(b *testing.B) {
		b.Run("corral-lease", func(b *testing.B) { leaseStore(b, false) })
		b.Run("corral-get-lease", func(b *testing.B) { leaseStore(b, true) })
		for _, v := range []struct {
			name string
			meta bool
		}{{"corral-region", true}, {"corral-region-text", false}} {
			b.Run(v.name, func(b *testing.B) {
				var client memcachestore.Client = newMemcachedPool(b)
				if !v.meta {
					client = newGomemcache(b)
				}
				r := memcachedRegion(b, client, hitTTL)
				run(b, func(ctx context.Context) error {
					k := key(v.name)
					_, err := region.GetOrCreate(ctx, r, k, func(context.Context) (fixture.User, error) {
						return fixture.NewUser(seq.Load()), nil
					})
					return err
				})
			})
		}
		b.Run("gomemcache", func(b *testing.B) {
			newMemcachedPool(b) // flushes
			c := newGomemcache(b)
			run(b, func(context.Context) error {
				k := key("gomemcache")
				if _, err := c.Get(k); !errors.Is(err, memcache.ErrCacheMiss) {
					return fmt.Errorf("get of a cold key: %v", err)
				}
				return c.Set(&memcache.Item{Key: k, Value: user(), Expiration: 3600})
			})
		})
	})
}

// BenchmarkMemcachedHit is the hit on memcached: a GetOrCreate of a fresh
// value, by one goroutine (g1) and by 64 (g64). Variants: corral's region
// on the memcached store (on a Pool), the store's Get and a msgpack decode
// (no envelope), and the floor, gomemcache's bare Get and a msgpack
// decode.
func BenchmarkMemcachedHit(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			b.Run("corral", func(b *testing.B) {
				c := &counter{}
				r := memcachedRegion(b, newMemcachedPool(b), hitTTL)
				runHits(b, v.parallel, c, nil, func(ctx context.Context, key string) (fixture.User, error) {
					return region.GetOrCreate(ctx, r, key, func(context.Context) (fixture.User, error) { return c.load(key), nil })
				})
			})
			b.Run("corral-store", func(b *testing.B) {
				c := &counter{}
				s, err := memcachestore.New(newMemcachedPool(b), memcachestore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				runHits(b, v.parallel, c, nil, func(ctx context.Context, key string) (fixture.User, error) {
					var u fixture.User
					data, err := s.Get(ctx, key)
					if err == nil {
						return u, msgpack.Unmarshal(data, &u)
					}
					if !errors.Is(err, backend.ErrNotFound) {
						return u, err
					}
					u = c.load(key)
					if data, err = msgpack.Marshal(u); err != nil {
						return u, err
					}
					return u, s.Set(ctx, key, data, time.Hour)
				})
			})
			b.Run("gomemcache", func(b *testing.B) {
				c := &counter{}
				newMemcachedPool(b) // flushes
				mc := newGomemcache(b)
				runHits(b, v.parallel, c, nil, func(_ context.Context, key string) (fixture.User, error) {
					var u fixture.User
					it, err := mc.Get(key)
					if err == nil {
						return u, msgpack.Unmarshal(it.Value, &u)
					}
					if !errors.Is(err, memcache.ErrCacheMiss) {
						return u, err
					}
					u = c.load(key)
					data, err := msgpack.Marshal(u)
					if err != nil {
						return u, err
					}
					return u, mc.Set(&memcache.Item{Key: key, Value: data, Expiration: 3600})
				})
			})
		})
	}
}
