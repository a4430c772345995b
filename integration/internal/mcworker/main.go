// Command mcworker is one process of corral's multi-process memcached
// tests: it opens a region on memcached (memcachestore, memcachelocker,
// memcachereg), performs one operation and prints its result as one JSON
// line on stdout.
//
// With -wait it first prints "ready" and waits for a line on stdin, so a
// test can start several workers at the same moment.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/lock/memcachelocker"
	"github.com/corralcache/corral/region"
)

// Result is what a worker prints.
type Result struct {
	Values map[string]int `json:"values,omitempty"` // value → how many callers got it
	Errors []string       `json:"errors,omitempty"`
	Stats  region.Stats   `json:"stats"`
}

func main() {
	var (
		addrs      = flag.String("addrs", "", "memcached addresses, comma-separated")
		name       = flag.String("region", "mp", "region name")
		op         = flag.String("op", "", "getorcreate | get | set | call | invalidate | invalidate-all | region-invalidate")
		key        = flag.String("key", "", "key (getorcreate, get, set)")
		value      = flag.String("value", "", "value (set)")
		arg        = flag.Int("arg", 0, "argument of the cached function")
		how        = flag.String("how", "hard", "hard | soft (region-invalidate)")
		goroutines = flag.Int("goroutines", 1, "concurrent callers (getorcreate)")
		counter    = flag.String("counter", "mcworker:creations", "memcached key the creator increments")
		hold       = flag.Duration("hold", 0, "how long the creator takes")
		expiration = flag.Duration("expiration", time.Minute, "the region's soft expiration")
		timeout    = flag.Duration("timeout", memcachestore.DefaultTimeout, "the client's socket timeout")
		wait       = flag.Bool("wait", false, `print "ready" and wait for a line on stdin before the operation`)
	)
	flag.Parse()
	res, err := run(*addrs, *timeout, *name, *op, *key, *value, *arg, *how, *goroutines, *counter, *hold, *expiration, *wait)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcworker:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		os.Exit(1)
	}
}

func run(addrs string, timeout time.Duration, name, op, key, value string, arg int, how string, goroutines int, counter string,
	hold, expiration time.Duration, wait bool) (*Result, error) {
	client, err := memcachestore.NewClient(strings.Split(addrs, ",")...)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	client.Timeout = timeout
	store, err := memcachestore.New(client, memcachestore.Options{})
	if err != nil {
		return nil, err
	}
	locker, err := memcachelocker.New(client, memcachelocker.Options{})
	if err != nil {
		return nil, err
	}
	reg, err := memcachereg.New(client, memcachereg.Options{})
	if err != nil {
		return nil, err
	}
	r, err := region.New(name, region.Config{
		Backend: store, Locker: locker, Registry: reg, Expiration: expiration,
	})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	// create counts its calls in memcached, across every process.
	create := func(ctx context.Context) (string, error) {
		n, err := incr(client, counter)
		if err != nil {
			return "", err
		}
		time.Sleep(hold)
		return fmt.Sprintf("created #%d", n), nil
	}
	user, err := region.Cache1(r, func(ctx context.Context, id int) (string, error) {
		v, err := create(ctx)
		return fmt.Sprintf("user %d %s", id, v), err
	}, region.Named("getUser"))
	if err != nil {
		return nil, err
	}

	if wait {
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return nil, fmt.Errorf("waiting for go: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := &Result{Values: map[string]int{}}
	var mu sync.Mutex
	note := func(v string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
			return
		}
		res.Values[v]++
	}
	switch op {
	case "getorcreate":
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() { note(region.GetOrCreate(ctx, r, key, create)) })
		}
		wg.Wait()
	case "get":
		v, found, err := region.Get[string](ctx, r, key, region.IgnoreExpiration())
		if err == nil && !found {
			v = "<missing>"
		}
		note(v, err)
	case "set":
		note(value, r.Set(ctx, key, value))
	case "call":
		note(user.Call(ctx, arg))
	case "invalidate":
		note("ok", user.Invalidate(ctx, arg))
	case "invalidate-all":
		note("ok", user.InvalidateAll(ctx))
	case "region-invalidate":
		inv := region.Hard
		if how == "soft" {
			inv = region.Soft
		}
		note("ok", r.Invalidate(ctx, inv))
	default:
		return nil, fmt.Errorf("unknown -op %q", op)
	}
	res.Stats = r.Stats()
	return res, nil
}

// incr increments the counter at key, creating it at 1 when missing.
func incr(c *memcache.Client, key string) (uint64, error) {
	for range 3 {
		n, err := c.Increment(key, 1)
		if !errors.Is(err, memcache.ErrCacheMiss) {
			return n, err
		}
		err = c.Add(&memcache.Item{Key: key, Value: []byte("1")})
		if err == nil {
			return 1, nil
		}
		if !errors.Is(err, memcache.ErrNotStored) {
			return 0, err
		}
	}
	return 0, errors.New("counter vanished")
}
