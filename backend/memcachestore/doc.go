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
//
// # Conditional writes
//
// A Store implements [github.com/corralcache/corral/backend.Conditional] on
// memcached's CAS values: a key's version is the CAS value of the item it
// holds, which every write changes. [Store.GetForUpdate] reads with gets (one
// round trip for keys that all hold something) and stores a placeholder in a
// missing key with add — an empty item with [PlaceholderFlags], which Get and
// GetMulti report as missing — then reads those keys again, since add
// returns no CAS value. [Store.SetIf] is one cas per item. memcached started
// with -C keeps no CAS values; GetForUpdate then fails with [ErrNoCAS].
//
// NOTE: CAS values count per server from its start. A server that restarts
// while a creator holds a version, and hands the same CAS value to a new
// write of the same key before the creator's SetIf, would let that SetIf
// through; so would a pool whose server list changes under a key. Both need
// a restart or a reconfiguration within the time one value is created.
package memcachestore
