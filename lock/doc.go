// Package lock defines the Locker contract behind corral's dogpile lock, and
// an in-process implementation. Distributed implementations live in
// [github.com/corralcache/corral/lock/redislocker] (on Redis, through
// github.com/bsm/redislock), [github.com/corralcache/corral/lock/memcachelocker]
// (on memcached), and the disk backend's Locker
// (github.com/corralcache/corral/backend/diskstore, a module of its own),
// whose locks live in the store's file; [github.com/corralcache/corral/lock/locktest]
// is the conformance suite every one of them runs.
//
// A [Lock] is a plain value: any goroutine may extend or release it, so a
// background regenerator can release a lock taken by the caller that started
// it.
package lock
