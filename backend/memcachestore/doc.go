// Package memcachestore is a corral backend on memcached, through
// github.com/bradfitz/gomemcache.
//
// A [Store] talks to one server or to a pool (keys are spread over the pool
// by gomemcache's selector). A multi-get is one GetMulti (one round trip per
// server holding some of the keys); memcached has no multi-set or
// multi-delete, so SetMulti and DeleteMulti send their commands
// concurrently.
//
// memcached refuses keys longer than 250 bytes and keys holding spaces or
// control bytes. [MangleKey] rewrites such keys deterministically into a
// readable prefix and a SHA-256 of the whole key, the same in every process;
// legal keys pass unchanged. Every method of a Store mangles its keys, and
// the memcached locker and key registry use the same function, so a caller
// never sees a key error from the server.
//
// TTLs are whole seconds on memcached: a positive TTL is rounded up (never
// to 0, which means "no expiry"), and a TTL over 30 days is sent as an
// absolute Unix time, as memcached requires. Values larger than the server's
// item limit ([Options.MaxItemSize]) are refused before they are sent, with
// an error wrapping [ErrTooLarge].
package memcachestore
