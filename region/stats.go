package region

import (
	"github.com/corralcache/corral/observe"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Stats counts what a region has done since it was created.
type Stats struct {
	Hits          uint64 // fresh values returned from the backend
	Misses        uint64 // reads that found no usable entry
	StaleServed   uint64 // stale values returned while another caller regenerated
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
	// BreakerTrips counts the times it opened. Regions on the same backend
	// share the breaker, so they report the same state and trips.
	BreakerState BreakerState
	BreakerTrips uint64
	// LockerSkipped counts lock attempts that took the in-process lock
	// because the distributed locker's breaker was open.
	// LockerBreakerState is that breaker's state now (closed for an
	// in-process locker, which has none) and LockerBreakerTrips the times
	// it opened; regions on the same locker share it.
	LockerSkipped      uint64
	LockerBreakerState BreakerState
	LockerBreakerTrips uint64
	// NearHits counts reads answered by the near cache without asking the
	// backend (see NearConfig); Hits, StaleServed and Misses count them by
	// freshness as any read, so Hits - NearHits are remote hits at most.
	// NearFlushes counts the times the near cache was emptied because its
	// invalidation stream was lost, came back, or the server was flushed.
	NearHits, NearFlushes uint64
	// NearLive reports whether the near cache serves copies now: false
	// without one, and while its invalidation stream is down.
	NearLive bool
}

// counters holds the live counts. The two that every hit or stale read
// bumps are striped, so that goroutines on different cores do not fight
// over one cache line.
type counters struct {
	hits, staleServed, nearHits            striped
	misses, regenerations, earlyRefreshes  counter
	lockWaits, lockWaitTimeouts, locksLost counter
	backendErrors, decodeErrors, notCached counter
	superseded, backendSkipped             counter
	lockerSkipped, nearFlushes             counter
}

func (c *counters) snapshot() Stats {
	return Stats{
		Hits:             c.hits.Load(),
		Misses:           c.misses.Load(),
		StaleServed:      c.staleServed.Load(),
		Regenerations:    c.regenerations.Load(),
		EarlyRefreshes:   c.earlyRefreshes.Load(),
		LockWaits:        c.lockWaits.Load(),
		LockWaitTimeouts: c.lockWaitTimeouts.Load(),
		LocksLost:        c.locksLost.Load(),
		BackendErrors:    c.backendErrors.Load(),
		DecodeErrors:     c.decodeErrors.Load(),
		NotCached:        c.notCached.Load(),
		Superseded:       c.superseded.Load(),
		BackendSkipped:   c.backendSkipped.Load(),
		LockerSkipped:    c.lockerSkipped.Load(),
		NearHits:         c.nearHits.Load(),
		NearFlushes:      c.nearFlushes.Load(),
	}
}

// stripes is the number of cells of a striped counter: a power of two
// comfortably above the cores of the machines corral runs on.
const stripes = 16

// striped is a counter spread over cache-line-sized cells. Each processor
// keeps adding to the cell of a token it takes from a sync.Pool (whose Get
// and Put stay on the current processor), so cores do not pass cache lines
// back and forth; Load sums the cells.
type striped struct {
	cells [stripes]struct {
		n atomic.Uint64
		_ [56]byte // pad to a 64-byte cache line
	}
	tokens sync.Pool // of *uint32: a cell index
	// obs, when set, is told of every Add as ev (see observe.go).
	obs *observer
	ev  observe.Event
}

func (s *striped) Add(n uint64) {
	t, _ := s.tokens.Get().(*uint32)
	if t == nil {
		t = new(uint32)
		*t = rand.Uint32() & (stripes - 1)
	}
	s.cells[*t].n.Add(n)
	s.tokens.Put(t)
	if s.obs != nil {
		s.obs.event(s.ev, n)
	}
}

func (s *striped) Load() uint64 {
	var sum uint64
	for i := range s.cells {
		sum += s.cells[i].n.Load()
	}
	return sum
}
