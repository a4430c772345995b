package region

import "sync/atomic"

// Stats counts what a region has done since it was created.
type Stats struct {
	Hits          uint64 // fresh values returned from the backend
	Misses        uint64 // reads that found no usable entry
	StaleServed   uint64 // stale values returned while another caller regenerated
	Regenerations uint64 // creator calls (one per key for multi creators)
	// LockWaits counts callers that waited for another caller's creation,
	// in this process (sharing its attempt) or in another (the lock).
	LockWaits        uint64
	LockWaitTimeouts uint64 // waits that ended with ErrLockTimeout
	LocksLost        uint64 // locks that expired or were taken over while held
	BackendErrors    uint64 // failed backend and locker calls
	DecodeErrors     uint64 // entries that could not be decoded (treated as misses)
	NotCached        uint64 // created values that ShouldCache rejected
}

// counters holds the live counts. Each is its own atomic so that the hit path
// touches one word.
type counters struct {
	hits, misses, staleServed, regenerations atomic.Uint64
	lockWaits, lockWaitTimeouts, locksLost   atomic.Uint64
	backendErrors, decodeErrors, notCached   atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Hits:             c.hits.Load(),
		Misses:           c.misses.Load(),
		StaleServed:      c.staleServed.Load(),
		Regenerations:    c.regenerations.Load(),
		LockWaits:        c.lockWaits.Load(),
		LockWaitTimeouts: c.lockWaitTimeouts.Load(),
		LocksLost:        c.locksLost.Load(),
		BackendErrors:    c.backendErrors.Load(),
		DecodeErrors:     c.decodeErrors.Load(),
		NotCached:        c.notCached.Load(),
	}
}
