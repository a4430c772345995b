package main

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/keyreg/redisreg"
)

// Short timeouts, so that an outage fails calls fast instead of stalling
// them.
const (
	redisDialTimeout = 200 * time.Millisecond
	redisIOTimeout   = 500 * time.Millisecond
)

func setupRedis(_ context.Context, o options) (*stack, error) {
	c := redis.NewClient(&redis.Options{
		Addr: o.addrList()[0], DialTimeout: redisDialTimeout,
		ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout, MaxRetries: 1, DialerRetries: 1,
	})
	return redisStack(c)
}

func setupRedisCluster(_ context.Context, o options) (*stack, error) {
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: o.addrList(), DialTimeout: redisDialTimeout,
		ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout, MaxRetries: 1, DialerRetries: 1,
	})
	return redisStack(c)
}

// redisStack puts the store, locker and registry on c.
func redisStack(c redis.UniversalClient) (*stack, error) {
	st := &stack{
		incr: func(ctx context.Context, key string) (int64, error) { return c.Incr(ctx, key).Result() },
		get: func(ctx context.Context, key string) (int64, error) {
			n, err := c.Get(ctx, key).Int64()
			if errors.Is(err, redis.Nil) {
				return 0, nil
			}
			return n, err
		},
		close: func() { _ = c.Close() },
	}
	var err error
	if st.cfg.Backend, err = redisstore.New(c, redisstore.Options{}); err != nil {
		return nil, err
	}
	// No Locker: the store's lease is the lock (backend.Leaser).
	if st.cfg.Registry, err = redisreg.New(c, redisreg.Options{}); err != nil {
		return nil, err
	}
	return st, nil
}
