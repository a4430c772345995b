// Package memcachereg is a corral key registry ([keyreg.Registry]) on
// memcached, which has no sets to list a function's keys with.
//
// Invalidation of a whole function uses generations instead. Each function
// has a generation number stored in memcached; [Registry.Namespace] returns
// "fn#g<generation>", which the region folds into every key of fn, and
// [Registry.ForgetAll] increments the generation (`incr`): every key derived
// before is retired at once, in every process, and expires by its TTL. No
// key is deleted, so ForgetAll returns none.
//
// Invalidation of one call uses a record item per stored key (with the
// entry's TTL, so records leave with their entries), which
// [Registry.Recorded] reads and [Registry.Forget] deletes. [Registry.Keys]
// cannot list them and returns [ErrNotListable].
//
// # Cost and staleness
//
// Each process caches a function's generation for [Options.CacheFor]
// (default 1s). Round trips per call:
//
//   - Namespace: none while the cached generation is younger than CacheFor;
//     then one `get`, by one caller at a time (the others keep the cached
//     generation meanwhile). The very first use of a function ever: `get`,
//     `add` (and a second `get` when another process wins the `add`).
//   - ForgetAll: one `incr` (plus an `add` when the generation is missing).
//     The calling process sees the new generation at once.
//   - Record: one `set`. Recorded: one `get`. Forget: one `delete` per key.
//   - Keys: none.
//
// On a [memcachestore.Pool], the meta protocol makes the first use of a
// function and a ForgetAll of a missing generation one round trip each
// (`ma <key> N0 J<fresh> D<delta> v` increments, or creates, in one step),
// and Forget one pipeline of `md` per server.
//
// Another process sees a ForgetAll within CacheFor plus one round trip:
// until then it may read, and write, entries of the old generation. Writes
// under a retired generation are never read again once the process has
// refreshed; they expire by their TTL.
//
// # Lost generations
//
// memcached may evict a generation item (LRU), or be restarted. Starting
// again from 0 would bring back keys of earlier generations still in the
// cache, so a missing generation is created as the current Unix time in
// milliseconds (or one above the last generation this process saw, if
// larger). Generations start from the time in milliseconds too and grow
// by one per ForgetAll, so a fresh one is larger than any earlier one unless
// a function was invalidated more than once per millisecond on average
// since its generation was created, or the clocks of the processes disagree
// by more than the time since then. A process that reads a generation lower
// than one it saw before moves the generation past it with `incr`, so the
// generation never goes back for processes that saw the later one.
package memcachereg
