package region

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Early refresh (XFetch).
//
// Vattani, Chierichetti and Lowenstein ("Optimal Probabilistic Cache
// Stampede Prevention", VLDB 2015) regenerate a value before it expires,
// when a reader draws
//
//	now − δ·β·ln(u) ≥ expiry,   u uniform in (0, 1]
//
// where δ is how long the value took to create. The chance rises
// exponentially as expiry nears — exp(−(expiry − now)/(δβ)) per read — so
// a hot key is regenerated shortly before it expires, by one reader, while
// everyone else, that reader included, keeps getting the fresh value; a
// cold key is left to expire. corral measures δ around the creator call
// and stores it in the entry (serializer.Meta.Delta), so every process
// draws with the same δ; the regeneration takes the key's lock without
// waiting and stores under a lease, like any other, in a goroutine the
// region owns.

// DefaultEarlyRefreshBeta is the β of an enabled EarlyRefresh whose Beta is
// zero: the paper's optimum for a single regeneration.
const DefaultEarlyRefreshBeta = 1.0

// EarlyRefresh configures early refresh (XFetch); see Config.EarlyRefresh.
type EarlyRefresh struct {
	// Enabled turns early refresh on. A read of a fresh value whose
	// creation took δ, expiring in d, then starts its regeneration with
	// probability exp(−d/(δ·Beta)), in the background: the reader (and
	// every other) is served the fresh value meanwhile. Values written with
	// Set (δ zero), values that never go stale and cached "not found"
	// answers (see ErrNotFound) are never refreshed early.
	Enabled bool
	// Beta scales how early: above 1 regenerates earlier (more creator
	// calls, fewer expiries), below 1 later. Zero: DefaultEarlyRefreshBeta.
	// Negative, infinite or NaN is invalid.
	Beta float64
	// Rand returns a uniform float64 in [0, 1), as math/rand/v2.Float64
	// does (the default). It must be safe for concurrent use; tests inject
	// a seeded one. A panic in it, or a value outside [0, 1), counts as no
	// early refresh.
	Rand func() float64
}

// check returns why e is invalid, or nil.
func (e EarlyRefresh) check() error {
	switch {
	case math.IsNaN(e.Beta) || math.IsInf(e.Beta, 0) || e.Beta < 0:
		return fmt.Errorf("EarlyRefresh.Beta %v is not a finite number ≥ 0", e.Beta)
	case !e.Enabled && (e.Beta != 0 || e.Rand != nil):
		return errors.New("EarlyRefresh.Beta or Rand is set but EarlyRefresh.Enabled is not")
	}
	return nil
}

// withDefaults fills in Beta and Rand of an enabled e.
func (e EarlyRefresh) withDefaults() EarlyRefresh {
	if !e.Enabled {
		return e
	}
	if e.Beta == 0 {
		e.Beta = DefaultEarlyRefreshBeta
	}
	if e.Rand == nil {
		e.Rand = rand.Float64
	}
	return e
}
