// Package engine is a region's engine: the read path, the creation step,
// writes and invalidation, over one storage tier, with every mechanism of
// the consistency table composed in one place. Package region is its
// public face.
//
// # The contract
//
// A completed write or invalidation is never undone, and a read that
// begins after a write of its key completed, in any process, does not
// return the older value. Row by row, what a caller may observe and the
// type that enforces it:
//
//	after this completed…               a read that begins later…                 enforced by
//	Set, Delete, Invalidate of a key    never returns the older value, in any     the lease step (hold, storeHeld: a
//	                                    process: no creation in flight stores     backend.Leaser or Conditional fence),
//	                                    over it                                   and flight.Reads (a caller joins only
//	                                                                              a backend read sent after it began)
//	the same, in this process           joins no creation begun before it         flight.Epochs, flight.Creations
//	a lock that expired mid-creation    a creator that lost it stores only if     the fence (a newer lease voids the
//	                                    nothing reached the key since             older one; memcached: any write does)
//	Invalidate(Hard/Soft), a cached     retires every entry created before it:    gens.Set (Stamp when a creation
//	function's InvalidateAll            at once in this process, within           begins, Judge on every read) and
//	                                    InvalidationRefresh in others             refreshGens; the generations are read
//	                                                                              with the lease, so a creation carries
//	                                                                              every one completed before it
//	InvalidateTags of a tag             retires every value carrying it created   gens.TagView (Stamp when a creation
//	                                    before it: at once in this region,        begins, read with the lease; learned
//	                                    within InvalidationRefresh elsewhere; a   before any Judge; refreshed with the
//	                                    lost counter retires them all             generations), tags.go
//	a joined creation's answer          a caller that joined after the creation's flight.Creation's phases: Early takes
//	                                    lease read takes only a value stored      any answer but an overtaken one, Late
//	                                    under that lease; after the store, none   only a stored one, Settled none
//	a write, with a near cache          this process's copy is dropped before     near.Cache: Token taken before a read,
//	                                    the write returns; others' within the     Put refused after any Drop or Flush of
//	                                    push (Redis) or MaxStaleness (memcached)  the stripe since; Flush on a lost stream
//	a backend that fails in a call      the call stores nothing; later calls      guard (one guarded call for every
//	                                    skip it while its breaker is open         backend, registry and locker
//	                                                                              operation), breaker.Breaker,
//	                                                                              hold.faulted
//
// A cached "not found" (Negative) is an entry like any other: the same
// rows hold for it. A backend without conditional writes stores
// unconditionally: the stale set is then possible, and documented.
//
// # The shape
//
// Every creation goes through one creation step (createHeld), which goes
// through one lease step (tryLease, waitLease, storeHeld, releaseHold);
// every backend operation goes through guard; the two tiers (decoded values
// in this process, bytes in a backend) are the two implementations of tier.
// A reader follows a miss from GetOrCreate (read.go) to createMissing, then
// waitLease and createHeld (lease.go, create.go).
package engine
