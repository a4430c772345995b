// Command worker is one process of the cross-process stampede: it starts
// -n goroutines that, at the instant -at, all get-or-create the cold key -key
// through the library -lib on the Redis at -redis (or, with -memcached,
// corral's region on that memcached). The creator takes -delay and counts
// its calls with INCR on the key -calls in Redis, so the parent reads the
// total over every process.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/bench/internal/libs"
)

func main() {
	addr := flag.String("redis", "", "Redis address")
	lib := flag.String("lib", "corral", "library")
	key := flag.String("key", "", "the cold key")
	calls := flag.String("calls", "", "the Redis key counting creator calls")
	n := flag.Int("n", 100, "goroutines")
	at := flag.Int64("at", 0, "start instant, Unix nanoseconds")
	delay := flag.Duration("delay", 50*time.Millisecond, "creator duration")
	mc := flag.String("memcached", "", "memcached address: corral's region there (the calls still counted in Redis)")
	flag.Parse()
	if err := run(*addr, *mc, *lib, *key, *calls, *n, time.Unix(0, *at), *delay); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(addr, mc, lib, key, calls string, n int, at time.Time, delay time.Duration) error {
	client := redis.NewClient(&redis.Options{Addr: addr, PoolSize: n})
	defer client.Close()
	ctx := context.Background()
	create := func(ctx context.Context, key string) (fixture.User, error) {
		if err := client.Incr(ctx, calls).Err(); err != nil {
			return fixture.User{}, err
		}
		time.Sleep(delay)
		return fixture.NewUser(fixture.IDOf(key)), nil
	}
	var get libs.Get
	var release func()
	var err error
	if mc != "" {
		get, release, err = libs.Memcached(mc, time.Hour, create)
	} else {
		get, release, err = libs.Redis(lib, client, time.Hour, create)
	}
	if err != nil {
		return err
	}
	defer release()
	// Warm the pool so that connection setup does not spread the start.
	if err := client.Ping(ctx).Err(); err != nil {
		return err
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			time.Sleep(time.Until(at))
			u, err := get(ctx, key)
			if err == nil && u.ID != fixture.IDOf(key) {
				err = fmt.Errorf("got id %d for %s", u.ID, key)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
