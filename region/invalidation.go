package region

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"
)

// Invalidation chooses how Region.Invalidate retires entries.
type Invalidation int

const (
	// Hard makes every entry written before the invalidation a miss: the
	// next caller waits for a new value.
	Hard Invalidation = iota
	// Soft makes every entry written before the invalidation stale: it is
	// served (under ServeStale) while one caller regenerates it.
	Soft
)

// marks holds the region-wide invalidation times, in Unix nanoseconds: an
// entry created at or before hard is missing, at or before soft is stale.
type marks struct {
	hard, soft atomic.Int64
	// checked is when the marks were last read from a byte backend;
	// refreshing lets one reader at a time do that.
	checked    atomic.Int64
	refreshing atomic.Bool
}

func (m *marks) mark(how Invalidation) *atomic.Int64 {
	if how == Soft {
		return &m.soft
	}
	return &m.hard
}

// raise sets mark to t unless it is already later.
func raise(mark *atomic.Int64, t int64) {
	for {
		old := mark.Load()
		if t <= old || mark.CompareAndSwap(old, t) {
			return
		}
	}
}

// Invalidate retires every entry the region holds, in this process and, on a
// backend shared between processes, in every process: Hard makes them
// misses, Soft makes them stale. Other processes see it within
// Config.InvalidationRefresh. The backend's own data is left in place and
// expires by its TTL, so no FLUSH of a shared server is needed.
//
// Invalidation compares creation times written by different processes, so
// clocks that disagree by more than a creation's duration blur its edge.
// Errors wrap ErrBackend or ErrClosed.
func (r *Region) Invalidate(ctx context.Context, how Invalidation) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	if how != Hard && how != Soft {
		return fmt.Errorf("region: unknown Invalidation %d", how)
	}
	// Read the system clock precisely: stamps from coarse clocks lag real
	// time, so every entry created before this instant, in any process whose
	// clock agrees, is stamped at or before it.
	now := r.now()
	if r.sys != nil {
		now = time.Now().UnixNano()
	}
	raise(r.marks.mark(how), now)
	if r.values != nil {
		return nil
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(now))
	if err := r.cfg.Backend.Set(ctx, r.markKey(how), buf[:], 0); err != nil {
		return r.backendError(ctx, "invalidate", r.markKey(how), err)
	}
	return nil
}

// refreshMarks reads the shared invalidation marks from a byte backend when
// the local copy is older than Config.InvalidationRefresh. One caller at a
// time refreshes; the others go on with the marks they have.
func (r *Region) refreshMarks(ctx context.Context) {
	now := r.now()
	if now-r.marks.checked.Load() < int64(r.cfg.InvalidationRefresh) ||
		!r.marks.refreshing.CompareAndSwap(false, true) {
		return
	}
	defer r.marks.refreshing.Store(false)
	data, err := r.cfg.Backend.GetMulti(ctx, []string{r.markKey(Hard), r.markKey(Soft)})
	r.marks.checked.Store(now)
	if err != nil {
		_ = r.backendError(ctx, "read invalidation marks", r.markKey(Hard), err)
		return
	}
	for i, d := range data {
		if len(d) == 8 && i < len(markSuffixes) {
			raise(r.marks.mark(Invalidation(i)), int64(binary.BigEndian.Uint64(d)))
		}
	}
}

// markKey is the backend key of the region-wide mark of kind how.
func (r *Region) markKey(how Invalidation) string {
	return r.mangle(markKey(r.cfg.Namespace, how))
}
