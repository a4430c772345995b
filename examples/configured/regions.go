package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// Settings is what openRegions needs from the program: where the regions
// live and who observes them.
type Settings struct {
	// Observer receives every region's metrics (a corralprom.Collector).
	Observer region.Observer
	// RedisURL, when set, puts the regions on that Redis server; otherwise
	// they live in this process's memory.
	RedisURL string
}

// Regions holds the program's regions by name, built once at setup and
// closed once.
type Regions struct {
	byName map[string]*region.Region
	where  string
	closer func() error
}

// Region returns the region called name, or nil.
func (rs *Regions) Region(name string) *region.Region { return rs.byName[name] }

// Close closes every region, then the client they share.
func (rs *Regions) Close() error {
	var errs []error
	for _, r := range rs.byName {
		errs = append(errs, r.Close())
	}
	if rs.closer != nil {
		errs = append(errs, rs.closer())
	}
	return errors.Join(errs...)
}

// openRegions sets up the program's regions. It is the one place that
// knows how they are configured: replace its body with loading them from a
// configuration file, keeping the Observer.
func openRegions(ctx context.Context, s Settings) (*Regions, error) {
	specs := map[string]region.Config{
		"users":    {Expiration: 5 * time.Minute, LockWait: 5 * time.Second},
		"sessions": {Expiration: time.Minute},
	}
	rs := &Regions{byName: map[string]*region.Region{}, where: "in memory"}
	var client redis.UniversalClient
	if s.RedisURL != "" {
		var err error
		if client, err = redisstore.NewClient(s.RedisURL); err != nil {
			return nil, err // never holds the password
		}
		rs.closer = client.Close
		rs.where = "on Redis at " + redisstore.RedactURL(s.RedisURL)
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := client.Ping(pctx).Err(); err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("cannot reach Redis %s: %w", redisstore.RedactURL(s.RedisURL), err)
		}
	}
	for name, cfg := range specs {
		cfg.Observer = s.Observer
		if client != nil {
			var err error
			if cfg.Backend, err = redisstore.New(client, redisstore.Options{}); err == nil {
				if cfg.Locker, err = redislocker.New(client, redislocker.Options{}); err == nil {
					cfg.Registry, err = redisreg.New(client, redisreg.Options{})
				}
			}
			if err != nil {
				_ = rs.Close()
				return nil, err
			}
		}
		r, err := region.New(name, cfg)
		if err != nil {
			_ = rs.Close()
			return nil, err
		}
		rs.byName[name] = r
	}
	return rs, nil
}
