package region

import "github.com/corralcache/corral/internal/engine"

// Stats counts what a region has done since it was created.
type Stats struct {
	Hits uint64 // fresh values returned from the backend
	// Misses counts reads that found no usable entry and were not
	// answered by another caller's creation: calls that created the value
	// (or failed to), and Get and GetMulti's misses.
	Misses      uint64
	StaleServed uint64 // stale values returned while another caller regenerated
	// Shared counts calls that found no usable entry and were answered by
	// another caller's creation: in this process (they waited for it) or
	// in another (found when taking the lease). A stampede that cost one
	// creator call counts one miss and the rest shared, so the hit ratio
	// (Hits + StaleServed + Shared) / (all four) says how much the cache
	// spared the backend behind it.
	Shared        uint64
	Regenerations uint64 // creator calls (one per key for multi creators)
	// EarlyRefreshes counts creator calls made before expiry by early
	// refresh (see Config.EarlyRefresh); each is counted in Regenerations
	// too once the creator has returned. A regeneration that found, under
	// the lock, that another caller had refreshed the value meanwhile calls
	// no creator and is not counted.
	EarlyRefreshes uint64
	// LockWaits counts callers that waited for another caller's creation,
	// in this process (sharing its attempt) or in another (the lock).
	LockWaits        uint64
	LockWaitTimeouts uint64 // waits that ended with ErrLockTimeout
	LocksLost        uint64 // locks that expired or were taken over while held
	BackendErrors    uint64 // failed backend and locker calls
	DecodeErrors     uint64 // entries that could not be decoded (treated as misses)
	NotCached        uint64 // created values not stored: ShouldCache, WithShouldCache or WithExpirationFunc rejected them, or the backend refused them as too large
	// Superseded counts created values not stored because their key was
	// written, deleted or invalidated — or created anew after a lost lock —
	// while they were being created: the newer state stands. The values
	// still go back to the callers that asked for them.
	Superseded uint64
	// BackendSkipped counts backend calls not made because the backend's
	// circuit breaker was open, or the invalidation generations could not
	// be read lately (see Config.BreakerThreshold).
	BackendSkipped uint64
	// BreakerState is the state of the backend's circuit breaker now;
	// BreakerTrips counts the times it opened. Regions given the same
	// Breaker report the same state and trips.
	BreakerState BreakerState
	BreakerTrips uint64
	// LockerSkipped counts lock attempts that took the in-process lock
	// because the distributed locker's breaker was open.
	// LockerBreakerState is that breaker's state now (closed for an
	// in-process locker, which has none) and LockerBreakerTrips the times
	// it opened.
	LockerSkipped      uint64
	LockerBreakerState BreakerState
	LockerBreakerTrips uint64
	// NearHits counts reads answered by the near cache without asking the
	// backend (see NearConfig); Hits, StaleServed and Misses count them by
	// freshness as any read, so Hits - NearHits are remote hits at most.
	// NearFlushes counts the times the near cache was emptied because its
	// invalidation stream was lost, came back, or the server was flushed.
	NearHits, NearFlushes uint64
	// TagInvalidations counts the tags this region invalidated
	// (InvalidateTags; its counter raised, or, when the backend failed,
	// in this region only).
	TagInvalidations uint64
	// NearLive reports whether the near cache serves copies now: false
	// without one, and while its invalidation stream is down.
	NearLive bool
}

func statsOf(s engine.Stats) Stats {
	return Stats{
		Hits: s.Hits, Misses: s.Misses, StaleServed: s.StaleServed, Shared: s.Shared,
		Regenerations: s.Regenerations, EarlyRefreshes: s.EarlyRefreshes,
		LockWaits: s.LockWaits, LockWaitTimeouts: s.LockWaitTimeouts, LocksLost: s.LocksLost,
		BackendErrors: s.BackendErrors, DecodeErrors: s.DecodeErrors, NotCached: s.NotCached,
		Superseded: s.Superseded, BackendSkipped: s.BackendSkipped,
		BreakerState: s.BreakerState, BreakerTrips: s.BreakerTrips,
		LockerSkipped: s.LockerSkipped, LockerBreakerState: s.LockerBreakerState, LockerBreakerTrips: s.LockerBreakerTrips,
		NearHits: s.NearHits, NearFlushes: s.NearFlushes, NearLive: s.NearLive, TagInvalidations: s.TagInvalidations,
	}
}
