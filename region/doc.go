// Package region is corral's public face: a named cache region that binds a
// backend, a serializer and an expiration, and stops cache stampedes with a
// dogpile lock.
//
// A region is declared once at application setup with [New] and passed to the
// code that uses it. Values are read and created through the package-level
// generic functions [Get], [GetMulti], [GetOrCreate] and [GetOrCreateMulti];
// functions are cached by their arguments with [Cache1], [Cache2] and
// [Cache3], and batch loaders key by key with [CacheBatch];
// [Region.Invalidate] retires every entry of the region at once. [Typed]
// names the value type once and makes a key of another type an error. A
// creator's "not found" ([ErrNotFound]) can be cached under its own, shorter
// expiration ([Config.NegativeExpiration]).
//
// On the default in-memory backend, every caller gets the stored value
// itself: modifying it modifies the cache. Treat cached values as read-only,
// or set memory.Options.Serialize to store bytes and decode a copy per read.
//
// # Expiration
//
// Every stored entry carries its creation time and the expiration it was
// written with. Whether an entry is fresh or stale is decided by the reader
// from that metadata (soft expiry). The backend's own TTL is a separate, longer
// hard limit (the soft expiration plus [Config.Grace]) that frees memory; in
// between, a stale value exists and can be served while one caller
// regenerates it.
//
// # The dogpile lock
//
// [GetOrCreate] reads the entry. A fresh entry is returned. For a stale entry
// the caller tries the key's lock without waiting: the winner regenerates
// (synchronously, or in the background with [Config.BackgroundRegeneration]),
// everyone else is served the stale value at once. A missing entry makes the
// caller wait for the key's lock, bounded by ctx and [Config.LockWait], then
// read again before creating, so a value another caller just stored is not
// created twice. Goroutines of one process that need the same key share one
// lock attempt and one result.
//
// # Early refresh
//
// With [Config.EarlyRefresh] enabled, a [GetOrCreate] that reads a fresh
// value may start its regeneration before it expires (XFetch: Vattani,
// Chierichetti and Lowenstein, VLDB 2015), with a probability that rises
// exponentially as expiry nears, scaled by how long the value took to
// create (measured around the creator and stored in the entry). The
// regeneration takes the key's lock without waiting, stores under a lease
// and runs in the background; every reader keeps getting the fresh value.
// A hot key is then regenerated before it expires: nobody waits for it and
// nobody is served a stale value.
//
// # Encryption
//
// With [Config.Keyring], every value stored as bytes is encrypted and
// authenticated (XChaCha20-Poly1305, after compression) and bound to its
// key (namespace and key); entries that are tampered with, moved to another key or
// sealed with an unknown key are misses. [HashKeys] hides the key names
// too. A backend that keeps decoded values stores no bytes to encrypt.
//
// # Keys
//
// Every key a region writes is built in one layout that no caller's key can
// reach into: values, locks and invalidation generations each have a
// suffix of their own, and the namespace ([Config.Namespace], the region's
// name by default) is length-prefixed, so no namespace extends another:
//
//	value                c1:{<len(ns)>:<ns>:<key>}:v    c1:{5:users:user:42}:v
//	dogpile lock         c1:{<len(ns)>:<ns>:<key>}:l    c1:{5:users:user:42}:l
//	region generations   c1:{<len(ns)>:<ns>}:g:hard     c1:{5:users}:g:soft
//	function generation  c1:{<len(ns)>:<ns>:<len(fn)>:<fn>}:f
//
// A value and its lock share a Redis Cluster hash tag. [Region.BackendKey]
// and [Region.LockKey] give the keys of one key. A cached function's records
// in a [keyreg.Registry] are filed under "<len(ns)>:<ns>:<name>", so regions
// sharing a registry never touch each other's.
//
// # Consistency
//
// A completed write or invalidation is never undone. Creations store under
// a lease (a conditional write on the version of the key they read under
// the lock), so a Set, Delete or Invalidate of the key made meanwhile — in
// any process — stands, and a creator that lost its lock cannot store.
// Region-wide invalidation and a cached function's InvalidateAll raise
// generation counters kept in the backend, never clock readings; an entry
// created under an older generation is retired. Reads and creations are
// shared between goroutines, but never across this process's own completed
// writes. Other processes see per-key writes at once and generations within
// [Config.InvalidationRefresh]. The README's consistency section has the
// table of what a caller may observe.
//
// # Failures
//
// A value that cannot be decoded is a miss: counted, logged and regenerated.
// So is a value written as another Go type than the one asked for (the
// envelope carries a tag of the writer's type), except through [Typed],
// whose reads return an error wrapping [ErrTypeMismatch] instead. A backend error makes the
// region fall through to the creator (fail-open), counted and logged, unless
// [Config.FailClosed] is set. Once a call sees the backend fail, it skips
// the rest of the backend (and takes the in-process lock), storing nothing;
// after [Config.BreakerThreshold] consecutive failures the backend's circuit
// breaker opens and calls skip it without touching the network until a
// probe, sent in the background after [Config.BreakerCooldown], succeeds
// ([ErrBreakerOpen], [Stats].BreakerState). A distributed locker that fails
// has a breaker of its own: while it is open, creations take the in-process
// lock and still use the backend ([Stats].LockerBreakerState). A value the
// backend refuses as too large is returned, not cached, and counted in
// [Stats].NotCached. A configuration the region cannot use is an
// error from [New], never a panic; a panic in code the region calls from its
// own goroutines (a creator, ShouldCache, the serializer, the locker, the
// logger) reaches the callers as an error or is logged, and the lock is
// released.
//
// # Observation
//
// [Config.Observer] is told of every count of [Stats] as it happens
// ([observe.Event]), of the durations of creator runs, lock waits and backend
// operations ([observe.Timing]), and of the breaker's transitions — with the
// context of each call, for exemplars, when it is an
// [observe.ContextObserver]; [Config.Tracer] starts a span for each call
// that missed ([GetOrCreate], [GetOrCreateMulti], a cached or batch
// function's Call) and each Refresh, with the lock wait and the creator as
// children ([observe.SpanKind]). Unset, they cost a nil check. The modules
// github.com/corralcache/corral/extra/corralprom (Prometheus) and github.com/corralcache/corral/extra/corralotel
// (OpenTelemetry) implement them.
package region
