package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/lock/memcachelocker"
)

// memcachedTimeout is the client's socket timeout. Production's 200ms
// (memcachestore.DefaultTimeout) fails fast on a dead server; a test machine
// busy with parallel builds can exceed it on a live one, which would make the
// exact-count tests flaky. A stopped server refuses connections at once, so
// outages are not slowed.
const memcachedTimeout = 2 * time.Second

// setupMemcached puts the memcached store, locker and registry on one
// gomemcache client for the servers at o's addresses (a pool when several):
// the text protocol; -regcache sets the registry's CacheFor.
func setupMemcached(_ context.Context, o options) (*stack, error) {
	c, err := memcachestore.NewClient(o.addrList()...)
	if err != nil {
		return nil, err
	}
	c.Timeout = memcachedTimeout
	return memcachedStack(c, c, func() { _ = c.Close() }, o)
}

// setupMemcachedMeta puts them on a memcachestore.Pool, through which they
// use the meta protocol too, with no Locker: the store's lease is the lock
// (the text target keeps memcachelocker, the Locker's path).
func setupMemcachedMeta(_ context.Context, o options) (*stack, error) {
	p, err := memcachestore.NewPool(memcachestore.PoolOptions{Timeout: memcachedTimeout}, o.addrList()...)
	if err != nil {
		return nil, err
	}
	st, err := memcachedStack(p, p.Client(), func() { _ = p.Close() }, o)
	if err == nil {
		st.cfg.Locker = nil
	}
	if err != nil {
		_ = p.Close()
	}
	return st, err
}

// memcachedStack is the stack on client, with counters on c.
func memcachedStack(client memcachestore.Client, c *memcache.Client, closer func(), o options) (*stack, error) {
	st := &stack{
		incr:  func(_ context.Context, key string) (int64, error) { return memcachedIncr(c, key) },
		get:   func(_ context.Context, key string) (int64, error) { return memcachedGet(c, key) },
		close: closer,
	}
	var err error
	if st.cfg.Backend, err = memcachestore.New(client, memcachestore.Options{}); err != nil {
		return nil, err
	}
	lc, ok := client.(memcachelocker.Client)
	if !ok {
		return nil, errors.New("the memcached client is no locker client")
	}
	if st.cfg.Locker, err = memcachelocker.New(lc, memcachelocker.Options{}); err != nil {
		return nil, err
	}
	rc, ok := client.(memcachereg.Client)
	if !ok {
		return nil, errors.New("the memcached client is no registry client")
	}
	if st.cfg.Registry, err = memcachereg.New(rc, memcachereg.Options{CacheFor: o.regCacheFor}); err != nil {
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

// memcachedGet reads the counter at key (0 when missing).
func memcachedGet(c *memcache.Client, key string) (int64, error) {
	it, err := c.Get(memcachestore.MangleKey(key))
	if errors.Is(err, memcache.ErrCacheMiss) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(it.Value)), 10, 64)
}
