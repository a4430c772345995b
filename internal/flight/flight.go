// Package flight shares work between the goroutines of one process that
// need the same key at the same moment — backend reads ([Reads]) and
// creations ([Creations]) — without ever answering a caller with work that
// began before a write it may have seen complete.
//
// It enforces these rows of the consistency table:
//
//   - A read that begins after a write, Delete or Invalidate of its key
//     completed — in any process — never returns an older value: a caller
//     joins only a backend read that is sent after it began (the next one,
//     never the one in flight), so the read it shares is ordered after the
//     write on the server. [Reads] does this.
//   - A caller never joins a creation that began before a write of its key
//     completed in this process: [Epochs] counts this process's completed
//     writes per key, and [Creations] starts a new creation in place of an
//     older one. (Writes of other processes reach a creation through its
//     lease: a creation overtaken by a write does not store, and the
//     callers that joined it late read again.)
package flight

import (
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// epochStripes is the number of per-key write counters; keys share them by
// hash.
const epochStripes = 64

// Epochs count the writes and invalidations this process has completed, so
// that no caller joins a creation that began before one of them. stripes
// count the writes of the keys that hash to them, all the region-wide ones
// (Invalidate, InvalidateAll, a tag's invalidation).
type Epochs struct {
	all     atomic.Uint64
	stripes [epochStripes]atomic.Uint64
}

// Of returns key's epoch: it changes whenever a write of key, or a
// region-wide invalidation, completes.
func (e *Epochs) Of(key string) uint64 {
	return e.all.Load() + e.stripes[xxhash.Sum64String(key)%epochStripes].Load()
}

// Wrote records a completed write of each key.
func (e *Epochs) Wrote(keys ...string) {
	for _, k := range keys {
		e.stripes[xxhash.Sum64String(k)%epochStripes].Add(1)
	}
}

// WroteAll records a completed region-wide invalidation.
func (e *Epochs) WroteAll() { e.all.Add(1) }
