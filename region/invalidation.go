package region

import (
	"context"
	"fmt"
)

// Invalidation chooses how Region.Invalidate retires entries.
type Invalidation int

const (
	// Hard makes every entry created before the invalidation a miss: the
	// next caller waits for a new value.
	Hard Invalidation = iota
	// Soft makes every entry created before the invalidation stale: it is
	// served (under ServeStale) while one caller regenerates it.
	Soft
)

// Invalidation counts generations, not time: see the package
// documentation's Consistency section.

// Invalidate retires every entry the region holds, in this process and, on a
// backend shared between processes, in every process: Hard makes them
// misses, Soft makes them stale. Every read that begins after Invalidate
// returns, in this process, sees it; other processes see it within
// Config.InvalidationRefresh. A creation that began before it and ends
// after it stores a value that is retired too. The backend's data is left in
// place and expires by its TTL, so no FLUSH of a shared server is needed.
// Errors wrap ErrBackend, or are ErrClosed or ErrNilContext.
func (r *Region) Invalidate(ctx context.Context, how Invalidation) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	if how != Hard && how != Soft {
		return fmt.Errorf("region: unknown Invalidation %d", how)
	}
	return r.e.Invalidate(ctx, how == Soft)
}
