package region_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock/memcachelocker"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// A region shared between processes through Redis: the store, the
// distributed dogpile lock and the key registry all use one client (several
// addresses make it a Cluster client). Timeouts are short, so that a Redis
// that is down makes the region fall through to the creator quickly.
func Example_redis() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:       []string{"127.0.0.1:6379"},
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond,
		MaxRetries: 1,
	})
	defer client.Close()
	store, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	locker, err := redislocker.New(client, redislocker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	registry, err := redisreg.New(client, redisreg.Options{})
	if err != nil {
		log.Fatal(err)
	}
	users, err := region.New("users", region.Config{
		Backend: store, Locker: locker, Registry: registry,
		Expiration: 10 * time.Minute,
		// A creator may take up to a few seconds: keep the lock alive
		// (it is extended every LockTTL/3 while the creator runs) and
		// let waiters give up after LockWait.
		LockTTL: 10 * time.Second, LockWait: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer users.Close()
}

// A region shared between processes through memcached: an add-based lock
// and a registry of per-function generations, on one client.
func Example_memcached() {
	client, err := memcachestore.NewClient("127.0.0.1:11211")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	client.Timeout = 200 * time.Millisecond
	store, err := memcachestore.New(client, memcachestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	locker, err := memcachelocker.New(client, memcachelocker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	registry, err := memcachereg.New(client, memcachereg.Options{})
	if err != nil {
		log.Fatal(err)
	}
	pages, err := region.New("pages", region.Config{
		Backend: store, Locker: locker, Registry: registry,
		Expiration: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pages.Close()
}

// The in-memory backend hands out the stored value itself: a caller that
// modifies what it got modifies the cache. Serialize stores encoded bytes
// instead, so every caller gets its own copy (at the cost of decoding).
func Example_serializingMemory() {
	ctx := context.Background()
	mem, err := memory.New(memory.Options{Serialize: true})
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()
	r, err := region.New("lists", region.Config{Backend: mem})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	load := func(context.Context) ([]string, error) { return []string{"a", "b"}, nil }
	list, _ := region.GetOrCreate(ctx, r, "list", load)
	list[0] = "edited by a caller"
	again, _ := region.GetOrCreate(ctx, r, "list", load)
	fmt.Println(again)
	// Output:
	// [a b]
}

func ExampleGetOrCreateMulti() {
	ctx := context.Background()
	r, err := region.New("prices", region.Config{Expiration: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	load := func(_ context.Context, keys []string) ([]int, error) {
		fmt.Println("loading", keys)
		out := make([]int, len(keys))
		for i, k := range keys {
			out[i] = len(k) * 100
		}
		return out, nil // one value per key, in the order of keys
	}
	prices, _ := region.GetOrCreateMulti(ctx, r, []string{"tea", "coffee"}, load)
	fmt.Println(prices)
	prices, _ = region.GetOrCreateMulti(ctx, r, []string{"tea", "coffee", "water"}, load)
	fmt.Println(prices)
	// Output:
	// loading [coffee tea]
	// [300 600]
	// loading [water]
	// [300 600 500]
}

func ExampleRegion_Stats() {
	ctx := context.Background()
	r, err := region.New("stats", region.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	for range 3 {
		_, _ = region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 1, nil })
	}
	s := r.Stats()
	fmt.Printf("hits %d, misses %d, regenerations %d, hit ratio %.2f\n",
		s.Hits, s.Misses, s.Regenerations, float64(s.Hits)/float64(s.Hits+s.Misses))
	// Output:
	// hits 2, misses 1, regenerations 1, hit ratio 0.67
}

// A creator says "not found" by returning an error wrapping ErrNotFound; with
// NegativeExpiration set, that answer is cached for its own, shorter time.
func ExampleErrNotFound() {
	ctx := context.Background()
	r, err := region.New("users", region.Config{
		Expiration:         time.Hour,
		NegativeExpiration: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	lookup := func(context.Context) (string, error) {
		fmt.Println("database lookup")
		return "", fmt.Errorf("user 404: %w", region.ErrNotFound)
	}
	for range 2 {
		_, err := region.GetOrCreate(ctx, r, "user:404", lookup)
		fmt.Println(errors.Is(err, region.ErrNotFound))
	}
	// Output:
	// database lookup
	// true
	// true
}

func ExampleCacheBatch() {
	ctx := context.Background()
	r, err := region.New("users", region.Config{Expiration: time.Hour, NegativeExpiration: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	names := map[int]string{1: "Ada", 2: "Grace", 3: "Barbara"}
	// One query for many ids, e.g. SELECT … WHERE id IN (…).
	load := func(_ context.Context, ids []int) (map[int]string, error) {
		fmt.Println("query", ids)
		out := map[int]string{}
		for _, id := range ids {
			if n, ok := names[id]; ok {
				out[id] = n
			}
		}
		return out, nil
	}
	users, err := region.CacheBatch(r, load, region.Named("users"))
	if err != nil {
		log.Fatal(err)
	}
	got, _ := users.Call(ctx, []int{1, 2})
	fmt.Println(got)
	got, _ = users.Call(ctx, []int{1, 2, 3, 4}) // 4 has no row: cached as "not found"
	fmt.Println(got)
	got, _ = users.Call(ctx, []int{3, 4})
	fmt.Println(got)

	_ = users.Invalidate(ctx, 1) // after a write of user 1
	got, _ = users.Call(ctx, []int{1, 2})
	fmt.Println(got)
	// Unordered output:
	// query [1 2]
	// map[1:Ada 2:Grace]
	// query [3 4]
	// map[1:Ada 2:Grace 3:Barbara]
	// map[3:Barbara]
	// query [1]
	// map[1:Ada 2:Grace]
}

func ExampleTyped() {
	ctx := context.Background()
	r, err := region.New("mixed", region.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	type User struct{ Name string }
	users := region.NewTyped[User](r) // the value type, named once
	_ = users.Set(ctx, "user:1", User{Name: "Ada"})
	u, found, _ := users.Get(ctx, "user:1")
	fmt.Println(u.Name, found)

	_ = r.Set(ctx, "count", 7) // another type under another key
	_, _, err = users.Get(ctx, "count")
	fmt.Println(errors.Is(err, region.ErrTypeMismatch))
	// Output:
	// Ada true
	// true
}
