package main

import (
	"context"
	"errors"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/lock/memcachelocker"
)

// setupMemcached puts the memcached store, locker and registry on one
// gomemcache client for the servers at addrs (a pool when several), with
// memcachestore's short default socket timeout.
func setupMemcached(_ context.Context, addrs []string) (*stack, error) {
	c, err := memcachestore.NewClient(addrs...)
	if err != nil {
		return nil, err
	}
	st := &stack{
		incr:  func(_ context.Context, key string) (int64, error) { return memcachedIncr(c, key) },
		close: func() { _ = c.Close() },
	}
	if st.cfg.Backend, err = memcachestore.New(c, memcachestore.Options{}); err != nil {
		return nil, err
	}
	if st.cfg.Locker, err = memcachelocker.New(c, memcachelocker.Options{}); err != nil {
		return nil, err
	}
	if st.cfg.Registry, err = memcachereg.New(c, memcachereg.Options{}); err != nil {
		return nil, err
	}
	return st, nil
}

// memcachedIncr adds one to the counter at key, creating it at 1 when
// missing (memcached's incr does not create).
func memcachedIncr(c *memcache.Client, key string) (int64, error) {
	key = memcachestore.MangleKey(key)
	for range 3 {
		n, err := c.Increment(key, 1)
		if err == nil {
			return int64(n), nil
		}
		if !errors.Is(err, memcache.ErrCacheMiss) {
			return 0, err
		}
		if err = c.Add(&memcache.Item{Key: key, Value: []byte("1")}); err == nil {
			return 1, nil
		}
		if !errors.Is(err, memcache.ErrNotStored) {
			return 0, err
		}
	}
	return 0, errors.New("memcached counter vanished while being created")
}
