// Package memcachelocker is a distributed corral [lock.Locker] on memcached,
// through github.com/bradfitz/gomemcache.
//
// A lock is a memcached item holding a random token, created with `add`
// (which only one caller can win) and an expiration, so a lock whose holder
// died frees itself. Extend and Release compare the token and act in one
// atomic step, with `cas` on the item's CAS id from a `gets`:
//
//   - Extend rewrites the item, same token, with the new expiration;
//   - Release rewrites it with a negative expiration, which memcached treats
//     as "expired now": an atomic compare-and-delete, which memcached lacks
//     as a command. A plain `delete` after the comparison could free a
//     later holder's lock when ours expired in between; the `cas` cannot,
//     since any later holder's item has another CAS id.
//
// A Locker on a [memcachestore.Pool] uses memcached's meta protocol
// (1.6.10 or later) on the Pool's connections: the add (`ms <key> ME
// T<ttl> c`) returns the lock item's CAS value, which the handle keeps, so
// that Extend (`ms <key> C<cas> T<ttl> c`, returning the next CAS value)
// and Release (`md <key> C<cas>`) are one round trip each and act on the
// handle's own item only. Should a rewrite find another CAS value (an
// extension whose reply was lost), the item is read once, and acted on
// again if it still holds the handle's token. The items are the same on
// both protocols: lockers on either exclude each other, and the leases of
// memcachestore, which add the same items, too.
//
// Obtain polls with bounded, jittered exponential backoff (10ms doubling to
// 500ms) and never sleeps past its ctx.
//
// memcached expires items on whole seconds, and an item written with N
// seconds lives between N-1 and N seconds: lock TTLs are rounded up to whole
// seconds plus one, so a lock lives at least its TTL, and at most a
// second and a bit longer.
//
// Keys are mangled as [github.com/corralcache/corral/backend/memcachestore.MangleKey]
// mangles them (the same function), so any key works.
package memcachelocker
