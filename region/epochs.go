package region

import (
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// epochStripes is the number of per-key write counters; keys share them by
// hash.
const epochStripes = 64

// epochs count the writes and invalidations this process has completed, so
// that no read or creation joins work that began before one of them: a read
// that begins after the caller's own Set, Delete or Invalidate returned must
// not be answered by a backend read, or a creation, issued before it
// (read-your-writes). stripes count the writes of the keys that hash to
// them, all the region-wide ones (Invalidate, InvalidateAll).
type epochs struct {
	all     atomic.Uint64
	stripes [epochStripes]atomic.Uint64
}

// of returns key's epoch: it changes whenever a write of key, or a
// region-wide invalidation, completes.
func (e *epochs) of(key string) uint64 {
	return e.all.Load() + e.stripes[xxhash.Sum64String(key)%epochStripes].Load()
}

// bump records a completed write of each key.
func (e *epochs) bump(keys ...string) {
	for _, k := range keys {
		e.stripes[xxhash.Sum64String(k)%epochStripes].Add(1)
	}
}

// bumpAll records a completed region-wide invalidation.
func (e *epochs) bumpAll() { e.all.Add(1) }
