package region

import (
	"context"
	"errors"
	"runtime"

	"github.com/corralcache/corral/lock"
)

// The locker's circuit breaker.
//
// A distributed locker can fail while the backend answers (a lock server of
// its own, or a partition between them). Without a breaker every creation
// would then wait for a failed lock attempt. The locker gets a breaker of
// its own, built like the backend's (Config.BreakerThreshold failures in a
// row open it, Config.BreakerCooldown later a probe goes out in the
// background) and shared, like it, by the regions that use the same locker
// value. While it is open, creations take the in-process lock instead: each
// process still creates a key once at a time, several processes may create
// it at once, and the backend is used as usual — reads, leases and
// conditional stores keep every write and invalidation standing, since
// they never depended on the lock. The in-process Locker (lock.Local) has
// no breaker: it does not fail.

// useLockerBreaker gives the region its locker's breaker, when the locker
// is a distributed one and breakers are not disabled.
func (r *Region) useLockerBreaker() {
	if _, local := r.cfg.Locker.(*lock.Local); local || r.cfg.BreakerThreshold < 0 {
		return
	}
	ref := acquireBreaker(r.cfg.Locker, r.cfg.BreakerThreshold, r.cfg.BreakerCooldown)
	r.lbrk = ref.b
	r.lbrkRef = ref
	runtime.AddCleanup(r, func(h *breakerRef) { h.release() }, ref)
}

// locker returns the locker a creation uses now: the distributed one, or
// the in-process one while the locker's breaker is open (counted in
// Stats.LockerSkipped). The caller that finds the cooldown over sends the
// breaker's probe in the background (see probeLocker) on key.
func (r *Region) locker(ctx context.Context, key string) lock.Locker {
	if r.lbrk == nil {
		return r.cfg.Locker
	}
	ok, probe, t := r.lbrk.allow()
	r.logLockerTransition(ctx, t)
	if ok {
		return r.cfg.Locker
	}
	if probe {
		r.probeLocker(ctx, key)
	}
	r.stats.lockerSkipped.Add(1)
	return r.local
}

// settleLock records the outcome of a call to the distributed locker lk:
// taken, or held by another (lock.ErrNotObtained), says it answers; a
// failure counts against its breaker; the caller's own cancellation, or
// the end of a wait for another holder (waited), says nothing.
func (r *Region) settleLock(ctx context.Context, lk lock.Locker, err error, waited bool) {
	if r.lbrk == nil || lk != r.cfg.Locker {
		return
	}
	switch {
	case err == nil || errors.Is(err, lock.ErrNotObtained):
		r.logLockerTransition(ctx, r.lbrk.done(false))
	case ctx.Err() != nil || waited:
	default:
		r.logLockerTransition(ctx, r.lbrk.done(true))
	}
}

// probeLocker tries, in a goroutine the region owns, to take key's lock in
// the distributed locker and releases it at once; taken or held by
// another, the locker answers and its breaker closes. The lock is held for
// no longer than the probe, and never longer than LockTTL.
func (r *Region) probeLocker(ctx context.Context, key string) {
	r.goOwned(ctx, func(ctx context.Context) {
		l, err := r.cfg.Locker.TryObtain(ctx, r.lockKey(key), r.cfg.LockTTL)
		r.settleLock(ctx, r.cfg.Locker, err, false)
		if err == nil {
			_ = l.Release(ctx)
		} else if !errors.Is(err, lock.ErrNotObtained) {
			r.stats.backendErrors.Add(1)
		}
	})
}

// tryLock takes key's lock without waiting, from the locker in use now
// (see locker), recording the outcome for the locker's breaker.
func (r *Region) tryLock(ctx context.Context, key string) (lock.Lock, error) {
	lk := r.locker(ctx, key)
	l, err := lk.TryObtain(ctx, r.lockKey(key), r.cfg.LockTTL)
	r.settleLock(ctx, lk, err, false)
	return l, err
}

// logLockerTransition logs a change of the locker breaker's state, once.
func (r *Region) logLockerTransition(ctx context.Context, t transition) {
	r.logBreaker(ctx, r.lbrk, lockerBreaker, t)
}

// lockerBreakerState is the locker breaker's state, for Stats.
func (r *Region) lockerBreakerState() (BreakerState, uint64) {
	if r.lbrk == nil {
		return BreakerClosed, 0
	}
	return BreakerState(r.lbrk.state.Load()), r.lbrk.trips.Load()
}
