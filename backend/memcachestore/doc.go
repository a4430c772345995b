// Package memcachestore is a corral backend on memcached, through
// github.com/bradfitz/gomemcache and, on a [Pool], memcached's meta
// protocol.
//
// A [Store] talks to one server or to a pool (keys are spread over the pool
// by gomemcache's selector). A multi-get is one GetMulti (one round trip per
// server holding some of the keys); memcached has no multi-set or
// multi-delete, so SetMulti and DeleteMulti send their commands
// concurrently.
//
// # Two protocols
//
// A Store made by [NewServers], or by [New] on a [Pool], reads and writes
// values with gomemcache (the text protocol), and takes its leases and
// makes its conditional writes with memcached's meta protocol (memcached
// 1.6.10 or later: the first meta command to an older server, and
// NewServers or [Pool.CheckVersions] up front, fail with
// [ErrServerTooOld]) on connections of the Pool's own, which the Pool selects, fails over and
// counts failures for as it does gomemcache's: one pipeline per server per
// step. A Store made by New on any other client (a gomemcache client, or
// [Pool.Client]) uses the text protocol for everything, with more round
// trips, and works with any memcached. Both kinds of Store, and the
// memcached locker and registry, can share servers: they lay items out the
// same way.
//
// Round trips per call, on the meta protocol (text protocol in brackets):
//
//   - Get, GetMulti: one per server (same);
//   - GetForUpdate: one when every key was missing, two otherwise [three];
//   - SetIf: one per server [one per item, in parallel];
//   - Lease: one for a missing key, two for a key that holds a value or a
//     placeholder [the add of the lock, three, and one for held keys];
//   - StoreLeased, ExtendLeases, ReleaseLeases: one, two for locks this
//     Store did not take [a cas per item and a gets and a cas per lock].
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
// # Wire format
//
// Every item the Store writes begins with a 17-byte header: a kind byte
// (0xF5 for a value, 0xF6 for a placeholder), the deadline of the item's hard
// TTL (Unix nanoseconds by [Options.Now], big-endian; zero for none) and a
// lease tag (8 bytes). A value follows its header; a placeholder is the
// header alone, with [PlaceholderFlags]. Get and GetMulti strip the header,
// and report a placeholder — or an item without a header of ours, such as
// one another client or a corral release before headers wrote — as missing.
// [ItemOverhead] counts the header.
//
// # Conditional writes
//
// A Store implements [github.com/corralcache/corral/backend.Conditional] on
// memcached's CAS values: a key's version is the CAS value of the item it
// holds, which every write changes. [Store.SetIf] is one cas per item.
// memcached started with -C keeps no CAS values; GetForUpdate then fails
// with [ErrNoCAS].
//
// On the meta protocol, GetForUpdate reads every key with `mg <key>
// N<ttl> c v f`, which vivifies a missing key into an empty item (the
// placeholder) with a new CAS value: one round trip. A key that held a
// value gets a new CAS value from `ms <key> 0 MA C<cas> c`, an append of
// nothing, which keeps its bytes, client flags and TTL (to the server's
// second); a placeholder is replaced by a new one with `ms <key> 0 C<cas>
// T<ttl> c`. SetIf is `ms <key> … C<version>` per item, in one pipeline
// per server.
//
// On the text protocol, [Store.GetForUpdate] takes a new lease on every
// key it reads, so that
// every version handed out before for the key stops matching: it reads the
// keys with one gets, writes each key once, and reads them again with one
// gets — three round trips for any mix of hits and misses (the writes go in
// parallel, [Options.Concurrency] at a time), at most seven when other
// writes keep overtaking its own. A value is re-stored with cas: the same
// bytes and flags under a new lease tag; a placeholder, or an item not
// ours, is replaced with cas by a new placeholder; a missing key gets one
// with add. No store command returns the CAS value it gave, so the second
// gets takes the CAS value of the item that bears the lease's tag; a lease
// that another lease or write overtook before that read gets the CAS value
// its cas replaced, a version that no longer matches, as if the other lease
// had come just after it.
//
// # Leases
//
// A Store implements [github.com/corralcache/corral/backend.Leaser]: the
// lock is an item of its own under the lease's lock key, holding the
// holder, added with the lock's TTL (the item the memcached locker adds,
// so that lockers and leases exclude each other); the fence is the CAS
// value of the value's item, renewed as GetForUpdate renews it. On the
// meta protocol, one pipeline adds the lock and reads (vivifying) the key:
// a cold miss takes its lease in one round trip. StoreLeased stores with
// `ms … C<version>` and deletes the lock with `md <lock> C<lock's CAS>`
// in the same round trip: the add returned the lock's CAS value, which
// the Store remembers for the holder, so that no other holder's lock is
// ever deleted; a lock it does not know is read first, and deleted only if
// it holds the holder. See docs/memcached.md for the interleavings.
//
// # TTL of a leased value
//
// On the meta protocol, a lease keeps a value's TTL on the server (an
// append keeps it). memcached's text protocol does not report the TTL an item has left, and a
// cas must give one, so the Store records each value's deadline in its
// header and a lease re-stores the value with the time left to that
// deadline, by the leaser's clock, rounded up to whole seconds as every TTL
// is. A leased value thus expires at its deadline rounded up to the
// second — the precision of any write on memcached — never later; a
// deadline over 30 days away is sent as an absolute Unix time. Its limits:
// the deadline is read by the writer's clock and the time left by the
// leaser's, so clocks of different hosts that disagree by d move the
// deadline by d; and a value whose deadline has passed by the leaser's
// clock, which memcached may still hold for up to a second, is leased as a
// missing key (replaced by a placeholder) rather than re-stored with a TTL
// that would outlive its deadline. A value without a TTL stays without one.
//
// # Failover in a pool
//
// A client from [NewClient] keeps gomemcache's fixed key selection: while a
// server of a pool is down, every call on one of its keys fails (the region
// falls through to the creator each time). A [Pool] (which [NewServers]
// uses) takes a server out of key selection after [PoolOptions.Failures]
// consecutive I/O failures, so its keys are served by the other servers
// (stand-ins) and miss only once; after [PoolOptions.Cooldown] it probes the
// server, and when it answers, flushes it, puts it back (its keys move back
// and miss once more), and deletes from the stand-ins the keys they held
// for it. The effect on consistency, within one process:
//
//   - an entry the server held from before it went out is never served
//     after it comes back: the flush drops it, with the leases, locks and
//     generation counters it held (a lost generation restarts past the
//     clock, as after an eviction);
//   - an entry a stand-in held for it is never served after an
//     invalidation made once the server is back, even if the server fails
//     again: the stand-in's copy is deleted one [PoolOptions.Timeout] after
//     the switch back (a stand-in out itself by then is flushed when it
//     returns);
//   - invalidations made while the server is out go to the stand-in, where
//     the keys are read.
//
// Between processes it holds for processes that see the same outage; see
// the WARNING on [Pool] for one that does not.
//
// NOTE: CAS values count per server from its start. A server that restarts
// while a creator holds a version, and hands the same CAS value to a new
// write of the same key before the creator's SetIf, would let that SetIf
// through; so would a pool whose server list changes under a key, or a
// Pool that takes a server out or back in while the value is created, if
// the two servers' CAS counters met. Each needs a restart, a reconfiguration
// or a failover within the time one value is created. On the meta
// protocol, a version also names its server (a hash of its address), and a
// store whose key moved to another server meanwhile is refused: the
// failover case is closed there; the restart and the reconfiguration
// (another server list, on the same addresses) remain.
package memcachestore
