package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/breaker"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/observe"
)

// The guarded call.
//
// Every operation on a backend that stores bytes — values, leases,
// generations, the key registry's records when they live in the backend —
// goes through guard, and every operation on a distributed Locker through
// guardLock: breaker admission (a call skips the backend without touching
// the network while its breaker is open), timing for the Observer, the
// outcome fed back to the breaker, and a failure counted, logged and
// wrapped in ErrBackend. No path can forget one of them.

// guard runs op (named for the Observer and the log) on key through the
// backend's breaker. It returns nil, an error wrapping backend.ErrNotFound
// or backend.ErrTooLarge as op returned it (neither is the backend's
// fault), e.skipErr when the breaker is open, or op's failure counted,
// logged and wrapped in ErrBackend (ctx.Err() when the caller gave up).
func (e *Engine) guard(ctx context.Context, op, key string, fn func(context.Context) error) error {
	return e.guardAs(ctx, op, op, key, fn)
}

// guardAs is guard with the operation named op for the Observer and what
// for the log.
func (e *Engine) guardAs(ctx context.Context, op, what, key string, fn func(context.Context) error) error {
	return e.guarded(ctx, op, what, key, true, fn)
}

// guarded is guardAs; a call whose success proves nothing about the
// backend (answered says so: a registry may answer without asking the
// server) feeds the breaker its failures only.
func (e *Engine) guarded(ctx context.Context, op, what, key string, answered bool, fn func(context.Context) error) error {
	if err := e.admit(ctx); err != nil {
		return err
	}
	t0 := e.tick()
	err := fn(ctx)
	e.took(ctx, observe.TimingBackend, op, t0)
	if err != nil || answered {
		e.settle(ctx, err)
	}
	if err == nil || errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrTooLarge) {
		return err
	}
	return e.backendError(ctx, what, key, err)
}

// GuardRegistry runs a key registry operation: through the backend's
// breaker when the registry lives in a server (its failures then open the
// breaker, and an open breaker skips it), directly when it is in-process.
func (e *Engine) GuardRegistry(ctx context.Context, op, name string, fn func(context.Context) error) error {
	if _, local := e.cfg.Registry.(*keyreg.Memory); local || e.cfg.Breaker == nil {
		if err := fn(ctx); err != nil {
			return e.backendError(ctx, op, name, err)
		}
		return nil
	}
	// A registry may answer without asking the server (a set-based one's
	// Namespace does): its successes say nothing of the backend's health.
	return e.guarded(ctx, observe.OpRegistry, op, name, false, fn)
}

// admit reports whether this call may ask the backend: nil, or e.skipErr
// (counted in Stats.BackendSkipped) while the breaker is open. The caller
// that finds the cooldown over sends the breaker's probe in the background
// and skips the backend itself.
func (e *Engine) admit(ctx context.Context) error {
	b := e.cfg.Breaker
	if b == nil || b.Closed() {
		return nil
	}
	ok, probe, t := b.Allow()
	e.logBreaker(ctx, b, backendBreaker, t)
	if ok {
		return nil
	}
	if probe {
		e.probe(ctx)
	}
	e.stats.backendSkipped.Add(ctx, 1)
	return e.skipErr
}

// settle records the outcome of a backend call admit let through. A miss,
// a value too large to store, an invalid argument or the caller's own
// cancellation says nothing about the backend's health.
func (e *Engine) settle(ctx context.Context, err error) {
	b := e.cfg.Breaker
	if b == nil {
		return
	}
	switch {
	case err == nil || errors.Is(err, backend.ErrNotFound):
		e.logBreaker(ctx, b, backendBreaker, b.Done(false))
	case errors.Is(err, backend.ErrTooLarge), errors.Is(err, backend.ErrInvalidArgument), ctx.Err() != nil:
	default:
		e.logBreaker(ctx, b, backendBreaker, b.Done(true))
	}
}

// probe asks the backend, in a goroutine the engine owns, for the shared
// invalidation generations — a read every call needs before it may trust
// the backend again — and settles the breaker with the outcome: an answer
// closes it (and refreshes the generations, so calls use the backend at
// once), a failure opens it for another cooldown. When the engine is closed
// no probe goes out, and the next call after a cooldown sends one.
func (e *Engine) probe(ctx context.Context) {
	e.goOwned(ctx, func(ctx context.Context) {
		keys, views := e.gens.Keys(e.markKey(false), e.markKey(true))
		now := e.Now()
		data, err := e.cfg.Backend.GetMulti(ctx, keys)
		e.settle(ctx, err)
		if err != nil {
			e.stats.backendErrors.Add(ctx, 1)
			return
		}
		gens.Apply(views, data)
		e.gens.Refreshed(now)
	})
}

// backendError counts and logs a failed backend or locker call and returns
// it wrapped in ErrBackend; a call whose ctx is done gets ctx's error,
// uncounted.
func (e *Engine) backendError(ctx context.Context, op, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		// The caller gave up: not the backend's failure, and no reason to
		// go on to the creator.
		return cerr
	}
	e.stats.backendErrors.Add(ctx, 1)
	e.warn(ctx, "corral: backend error", "region", e.name, "op", op, "key", key, "err", err)
	return fmt.Errorf("%w: region %q: %s %q: %w", ErrBackend, e.name, op, key, err)
}

// guardLock runs a call of the distributed locker through its breaker:
// taken, or held by another (lock.ErrNotObtained), says it answers; a
// failure counts against it; the caller's cancellation, or the end of a
// wait for another holder (waited), says nothing.
func (e *Engine) settleLock(ctx context.Context, lk lock.Locker, err error, waited bool) {
	b := e.cfg.LockerBreaker
	if b == nil || lk != e.cfg.Locker {
		return
	}
	switch {
	case err == nil || errors.Is(err, lock.ErrNotObtained):
		e.logBreaker(ctx, b, lockerBreaker, b.Done(false))
	case ctx.Err() != nil || waited:
	default:
		e.logBreaker(ctx, b, lockerBreaker, b.Done(true))
	}
}

// locker returns the locker a creation uses now: the distributed one, or
// the in-process one while the locker's breaker is open (counted in
// Stats.LockerSkipped). The caller that finds the cooldown over sends the
// breaker's probe in the background on key's lock.
func (e *Engine) locker(ctx context.Context, key string) lock.Locker {
	b := e.cfg.LockerBreaker
	if b == nil {
		return e.cfg.Locker
	}
	ok, probe, t := b.Allow()
	e.logBreaker(ctx, b, lockerBreaker, t)
	if ok {
		return e.cfg.Locker
	}
	if probe {
		e.goOwned(ctx, func(ctx context.Context) {
			l, err := e.cfg.Locker.TryObtain(ctx, e.LockKey(key), e.cfg.LockTTL)
			e.settleLock(ctx, e.cfg.Locker, err, false)
			if err == nil {
				_ = l.Release(ctx)
			} else if !errors.Is(err, lock.ErrNotObtained) {
				e.stats.backendErrors.Add(ctx, 1)
			}
		})
	}
	e.stats.lockerSkipped.Add(ctx, 1)
	return e.local
}

// breakerKind names what a breaker guards and what calls do while it is
// open, for its log lines.
type breakerKind struct{ guards, whileOpen string }

var (
	backendBreaker = breakerKind{"backend", "calls skip the backend"}
	lockerBreaker  = breakerKind{"locker", "creations take the in-process lock"}
)

// logBreaker logs transition t of b, once: by the call that made it.
func (e *Engine) logBreaker(ctx context.Context, b *breaker.Breaker, k breakerKind, t breaker.Transition) {
	switch t {
	case breaker.Tripped:
		e.log(ctx, slog.LevelWarn, "corral: "+k.guards+" circuit open: "+k.whileOpen+" until a probe succeeds",
			"region", e.name, "failures", b.Threshold(), "cooldown", b.Cooldown())
	case breaker.Probing:
		e.log(ctx, slog.LevelDebug, "corral: "+k.guards+" circuit half-open: probing the "+k.guards, "region", e.name)
	case breaker.Reopened:
		e.log(ctx, slog.LevelDebug, "corral: "+k.guards+" circuit open again: the probe failed", "region", e.name)
	case breaker.Recovered:
		e.log(ctx, slog.LevelWarn, "corral: "+k.guards+" circuit closed: the "+k.guards+" answers again", "region", e.name)
	}
}

// BreakerOpen reports whether the backend's breaker is not closed.
func (e *Engine) breakerOpen() bool {
	b := e.cfg.Breaker
	return b != nil && !b.Closed()
}

// IsTypedNil reports whether v is an interface holding a nil pointer, map,
// slice, func or channel: a value that passes a nil check and panics on
// first use, such as the nil *Store a constructor returns with its error.
func IsTypedNil(v any) bool {
	if v == nil {
		return false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func isTypedNil(v any) bool { return IsTypedNil(v) }

// lockTimeout counts, logs and returns a wait for key's creation that ran
// out of Config.LockWait.
func (e *Engine) lockTimeout(ctx context.Context, key string) error {
	e.stats.lockWaitTimeouts.Add(ctx, 1)
	e.warn(ctx, "corral: timed out waiting for the lock", "region", e.name, "key", key, "wait", e.cfg.LockWait)
	return fmt.Errorf("%w: region %q: key %q after %v", ErrLockTimeout, e.name, key, e.cfg.LockWait)
}

var _ = time.Second
