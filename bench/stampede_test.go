package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/bench/internal/libs"
)

// creatorDelay is how long a creator takes in the stampede and expiry
// scenarios.
const creatorDelay = 50 * time.Millisecond

// BenchmarkStampede is scenario 4: 400 goroutines ask for one cold key at
// the same instant, and the creator takes 50 ms. The creator-calls metric is
// the number of creator calls per stampede: 1 means no stampede. Variants:
// 1x400 (one process, in-process caches), 1x400-redis (one process, Redis)
// 4x100-redis (four worker processes of 100 goroutines each, Redis) and
// 4x100-memcached (the same on memcached, corral only). Run
// it with -benchtime 1x: every iteration is one stampede.
func BenchmarkStampede(b *testing.B) {
	b.Run("1x400", func(b *testing.B) {
		for _, lib := range memoryLibs {
			if lib.name == "otter-bare" || lib.name == "corral-static" {
				continue // no loader, or a creator for hits only
			}
			b.Run(lib.name, func(b *testing.B) {
				c := &counter{delay: creatorDelay}
				get := lib.build(b, c, hitTTL)
				stampede(b, c, func(key string) error { return storm(key, 400, get) })
			})
		}
	})
	b.Run("1x400-redis", func(b *testing.B) {
		for _, name := range libs.Names {
			b.Run(name, func(b *testing.B) {
				c := &counter{delay: creatorDelay}
				get := redisGet(b, name, newRedis(b), c)
				stampede(b, c, func(key string) error { return storm(key, 400, get) })
			})
		}
	})
	b.Run("4x100-redis", func(b *testing.B) {
		bin := workerBinary(b)
		for _, name := range libs.Names {
			b.Run(name, func(b *testing.B) {
				workerStampede(b, bin, newRedis(b), "-lib", name)
			})
		}
	})
	b.Run("4x100-memcached", func(b *testing.B) {
		bin := workerBinary(b)
		newMemcachedPool(b) // flushes
		client := newRedis(b)
		b.Run("corral", func(b *testing.B) {
			workerStampede(b, bin, client, "-memcached", memcachedAddr)
		})
	})
}

// stampede runs one stampede per iteration, each on a fresh key, and reports
// the creator calls per stampede.
func stampede(b *testing.B, c *counter, run func(key string) error) {
	i := 0
	for b.Loop() {
		if err := run(fixture.Key(fixture.KeyCount + i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(c.n.Load())/float64(b.N), "creator-calls")
	b.ReportMetric(0, "ns/op")
}

// storm has n goroutines get key at the same instant, and checks what they
// got.
func storm(key string, n int, get getFunc) error {
	ctx := context.Background()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			<-start
			u, err := get(ctx, key)
			if err == nil && u.ID != fixture.IDOf(key) {
				err = fmt.Errorf("got id %d for %s", u.ID, key)
			}
			errs[g] = err
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// workerBinary builds internal/worker into a temporary directory.
func workerBinary(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/worker").CombinedOutput(); err != nil {
		b.Fatalf("build the worker: %v\n%s", err, out)
	}
	return bin
}

// workerStampede runs one stampede per iteration in four worker processes
// of 100 goroutines each (bench/internal/worker, given args), their
// creator counting its calls in client's Redis.
func workerStampede(b *testing.B, bin string, client *redis.Client, args ...string) {
	c := &counter{}
	stampede(b, c, func(key string) error {
		calls := "calls:" + key
		at := time.Now().Add(time.Second)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for p := range errs {
			wg.Go(func() {
				cmd := append([]string{"-redis", redisAddr, "-key", key, "-calls", calls, "-n", "100",
					"-at", strconv.FormatInt(at.UnixNano(), 10), "-delay", creatorDelay.String()}, args...)
				out, err := exec.Command(bin, cmd...).CombinedOutput()
				if err != nil {
					errs[p] = fmt.Errorf("worker %d: %v\n%s", p, err, out)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		n, err := client.Get(context.Background(), calls).Int64()
		c.n.Add(n)
		return err
	})
}
