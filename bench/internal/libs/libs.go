// Package libs builds each library's get-or-create over Redis, for the
// benchmarks and for the stampede worker processes alike.
package libs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gocachelib "github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/marshaler"
	"github.com/eko/gocache/lib/v4/store"
	gocacheredis "github.com/eko/gocache/store/redis/v4"
	rediscache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// Get reads the User under key through one library, creating it on a miss.
type Get func(ctx context.Context, key string) (fixture.User, error)

// Creator is what every library calls to create a missing User.
type Creator func(ctx context.Context, key string) (fixture.User, error)

// Names lists the libraries Redis builds, in the order of the tables.
var Names = []string{"corral", "raw-go-redis", "go-redis-cache", "eko-gocache"}

// ErrUnknown is returned by Redis for a name not in Names.
var ErrUnknown = errors.New("libs: unknown library")

// Redis returns the named library's get-or-create over client, with values
// expiring after ttl, and what releases it.
func Redis(name string, client *redis.Client, ttl time.Duration, create Creator) (Get, func(), error) {
	switch name {
	case "corral", "corral-encrypted", "corral-tagged":
		var ring *serializer.Keyring
		if name == "corral-encrypted" {
			var err error
			if ring, err = serializer.NewKeyring(1, map[uint32][]byte{1: make([]byte, serializer.KeySize)}); err != nil {
				return nil, nil, err
			}
		}
		r, err := corralRegion(client, ttl, ring, "bench")
		if err != nil {
			return nil, nil, err
		}
		// corral-tagged: two tags per value, its own and one shared by all.
		// Each key's option is built once, as a caller keeps its tags: the
		// row measures what checking them costs the region, not building
		// the strings.
		var tags sync.Map // key → region.CallOption
		tagged := name == "corral-tagged"
		return func(ctx context.Context, key string) (fixture.User, error) {
			load := func(ctx context.Context) (fixture.User, error) { return create(ctx, key) }
			if tagged {
				opt, ok := tags.Load(key)
				if !ok {
					opt, _ = tags.LoadOrStore(key, region.WithTags("user:"+key, "tenant:bench"))
				}
				return region.GetOrCreate(ctx, r, key, load, opt.(region.CallOption))
			}
			return region.GetOrCreate(ctx, r, key, load)
		}, func() { r.Close() }, nil
	case "raw-go-redis":
		return rawRedis(client, ttl, create), func() {}, nil
	case "go-redis-cache":
		rc := rediscache.New(&rediscache.Options{Redis: client})
		return func(ctx context.Context, key string) (fixture.User, error) {
			var u fixture.User
			err := rc.Once(&rediscache.Item{
				Ctx: ctx, Key: key, Value: &u, TTL: ttl,
				Do: func(it *rediscache.Item) (any, error) { return create(it.Context(), key) },
			})
			return u, err
		}, func() {}, nil
	case "eko-gocache":
		// eko/gocache's documented way to cache structs in Redis: its
		// msgpack marshaler over a loadable cache over the Redis store.
		l := gocachelib.NewLoadable[any](func(ctx context.Context, key any) (any, []store.Option, error) {
			u, err := create(ctx, key.(string))
			if err != nil {
				return nil, nil, err
			}
			data, err := msgpack.Marshal(u)
			return data, []store.Option{store.WithExpiration(ttl)}, err
		}, gocachelib.New[any](gocacheredis.NewRedis(client)))
		m := marshaler.New(l)
		return func(ctx context.Context, key string) (fixture.User, error) {
			var u fixture.User
			_, err := m.Get(ctx, key, &u)
			return u, err
		}, func() { l.Close() }, nil
	}
	return nil, nil, fmt.Errorf("%w: %q", ErrUnknown, name)
}

// CorralRegion is a region on corral's Redis backend, whose lease is the
// dogpile lock, with soft expiration ttl.
func CorralRegion(client *redis.Client, ttl time.Duration) (*region.Region, error) {
	return corralRegion(client, ttl, nil, "bench")
}

// corralRegion is CorralRegion, sealing its values with ring when not nil.
func corralRegion(client *redis.Client, ttl time.Duration, ring *serializer.Keyring, name string) (*region.Region, error) {
	st, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		return nil, err
	}
	reg, err := redisreg.New(client, redisreg.Options{})
	if err != nil {
		return nil, err
	}
	return region.New(name, region.Config{Backend: st, Registry: reg, Expiration: ttl, Keyring: ring})
}

// Memcached is corral's get-or-create on the memcached at addr (a region
// on memcachestore over a Pool, which leases: no Locker).
func Memcached(addr string, ttl time.Duration, create Creator) (Get, func(), error) {
	pool, err := memcachestore.NewPool(memcachestore.PoolOptions{}, addr)
	if err != nil {
		return nil, nil, err
	}
	st, err := memcachestore.New(pool, memcachestore.Options{})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	reg, err := memcachereg.New(pool, memcachereg.Options{})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	r, err := region.New("bench", region.Config{Backend: st, Registry: reg, Expiration: ttl})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return func(ctx context.Context, key string) (fixture.User, error) {
			return region.GetOrCreate(ctx, r, key, func(ctx context.Context) (fixture.User, error) {
				return create(ctx, key)
			})
		}, func() {
			r.Close()
			pool.Close()
		}, nil
}

// rawRedis is the floor: GET and msgpack.Unmarshal, with a plain SET on a
// miss (no lock, no metadata).
func rawRedis(client *redis.Client, ttl time.Duration, create Creator) Get {
	return func(ctx context.Context, key string) (fixture.User, error) {
		var u fixture.User
		data, err := client.Get(ctx, key).Bytes()
		if err == nil {
			err = msgpack.Unmarshal(data, &u)
			return u, err
		}
		if !errors.Is(err, redis.Nil) {
			return u, err
		}
		if u, err = create(ctx, key); err != nil {
			return u, err
		}
		if data, err = msgpack.Marshal(u); err != nil {
			return u, err
		}
		return u, client.Set(ctx, key, data, ttl).Err()
	}
}

// MultiRaw is the floor of a multi-get: one MGET and a msgpack.Unmarshal per
// value. A missing key is an error: it measures hits only.
func MultiRaw(ctx context.Context, client *redis.Client, keys []string) ([]fixture.User, error) {
	vals, err := client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]fixture.User, len(keys))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("libs: a miss in a multi-get of hits")
		}
		if err := msgpack.Unmarshal([]byte(s), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
