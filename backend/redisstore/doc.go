// Package redisstore is a corral backend on Redis, built on
// github.com/redis/go-redis/v9. It works with any go-redis client: a single
// node, a Redis Cluster, or a Sentinel-managed failover client.
//
// Values are plain Redis strings written with SET PX (the region's hard
// TTL); a miss (redis.Nil) becomes [backend.ErrNotFound]. Multi-key calls
// take one round trip on a single node (MGET, DEL, a pipeline of SETs). On a
// Cluster, whose keys live in different hash slots, they are sent as a
// pipeline of single-key commands, which go-redis splits into one batch per
// node, sent in parallel; results come back in the order of the keys.
//
// # Recording keys with their values
//
// [Store.SetMultiGrouped] writes values and records their keys in a
// [github.com/corralcache/corral/keyreg/redisreg] registry in the same round
// trip. A region uses it when its backend is a Store and its registry a
// redisreg.Registry sharing the same Redis.
//
// Connection options, TLS, AUTH and ACL users are go-redis's: build the
// client yourself and pass it to [New], or give a redis:// or rediss:// URL
// to [Open].
//
// # When Redis is down
//
// A region falls through to its creator while Redis is unreachable, so the
// time each failed call takes is what callers wait on top of the creator.
// go-redis retries a failed dial several times with a pause between tries by
// default; for a cache, fail fast instead: set short DialTimeout,
// ReadTimeout and WriteTimeout (e.g. 200ms) and DialerRetries: 1 (and
// MaxRetries: 1) in the client's options. The client reconnects by itself
// when Redis comes back.
package redisstore
