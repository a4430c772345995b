package region

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/lock"
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

// maxDraw bounds −ln(u) for the u a draw can give: 1 − Rand() with Rand()
// below 1 in float64 is at least 2⁻⁵³, and −ln(2⁻⁵³) ≈ 36.7. An entry
// further than maxDraw·δ·β from its expiry cannot be drawn, so the hit path
// skips the draw.
const maxDraw = 37

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

// due is the freshness of a fresh entry whose read drew an early refresh.
// Only GetOrCreate's first read gives it (see drawn); everywhere else the
// entry is simply fresh.
const due freshness = fresh + 1

// drawn returns due when state is fresh and the read draws an early
// refresh of an entry stored at created with soft expiration exp, whose
// creation took delta, at now; otherwise state.
func (r *Region) drawn(state freshness, created int64, exp, delta time.Duration, now int64) freshness {
	er := &r.cfg.EarlyRefresh
	if state != fresh || !er.Enabled || exp <= 0 || delta <= 0 {
		return state
	}
	left := float64(created + int64(exp) - now) // > 0: the entry is fresh
	scale := float64(delta) * er.Beta
	if left > scale*maxDraw {
		return state
	}
	u := 1 - r.uniform()
	if !(u > 0 && u <= 1) {
		return state
	}
	if -scale*math.Log(u) >= left {
		return due
	}
	return state
}

// uniform calls EarlyRefresh.Rand; a panic gives 1, which draws nothing.
func (r *Region) uniform() (u float64) {
	defer func() {
		if p := recover(); p != nil {
			u = 1
			r.warn(context.Background(), "corral: EarlyRefresh.Rand panicked; no early refresh", "region", r.name, "panic", fmt.Sprint(p))
		}
	}()
	return r.cfg.EarlyRefresh.Rand()
}

// refreshEarly answers a read of the fresh entry e that drew an early
// refresh: it returns e's value at once, as a hit, and starts one
// regeneration of key in a goroutine the region owns if it takes the key's
// lock without waiting. A creation of key already under way in this
// process, or a lock held elsewhere, means someone is on it: nothing is
// started.
func (r *Region) refreshEarly(ctx context.Context, key string, e *backend.Entry, vt valueType, create creator, co callConfig) (any, Outcome, error) {
	r.stats.hits.Add(1)
	f, leader := r.join(key)
	if !leader {
		return e.Value, OutcomeHit, nil
	}
	l, err := r.cfg.Locker.TryObtain(ctx, r.lockKey(key), r.cfg.LockTTL)
	if err != nil {
		if !errors.Is(err, lock.ErrNotObtained) {
			_ = r.backendError(ctx, "try lock", key, err)
		}
		f.stale = true // e was read before the flight began, maybe before a write
		r.land(key, f, e.Value, false, nil)
		return e.Value, OutcomeHit, nil
	}
	co.early, co.earlyOf = true, e.Created
	if !r.regenerateAsync(ctx, key, l, vt, create, co, f) {
		return nil, 0, ErrClosed
	}
	return e.Value, OutcomeHit, nil
}

// stopwatch times a creation, for its entry's Delta.
type stopwatch struct {
	start int64     // r.now() at the start, on an injected clock
	mono  time.Time // time.Now() at the start, on the default clock
}

// startWatch starts timing a creation. On the default clock it uses the
// system's monotonic clock, as the coarse clock would round short creations
// to zero; an injected clock (a test's) is used as it is.
func (r *Region) startWatch() stopwatch {
	if r.sys != nil {
		return stopwatch{mono: time.Now()}
	}
	return stopwatch{start: r.now()}
}

// elapsed returns how long has passed since s started; never negative.
func (r *Region) elapsed(s stopwatch) time.Duration {
	if r.sys != nil {
		return max(time.Since(s.mono), 0)
	}
	return max(time.Duration(r.now()-s.start), 0)
}
