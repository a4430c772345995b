package region

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/backend"
)

// Circuit breaker.
//
// A backend that is down costs every call that asks it a timeout. Two things
// keep a fail-open region fast while it is:
//
//   - Within a call: once a backend step fails (a timeout, a refused
//     connection — not a miss), the call skips every later step that would
//     reach the backend or the distributed lock (no lock, no generation read,
//     no leased read, no store) and goes to the creator under the in-process
//     lock (fail-open) or returns ErrBackend (fail-closed). Nothing is
//     stored: a creation that took no lease stores nothing.
//   - Across calls: a breaker per backend counts consecutive failures; at
//     Config.BreakerThreshold it opens, and calls skip the backend without
//     touching the network. After Config.BreakerCooldown it lets one call
//     through (half-open): its success closes the breaker, its failure
//     opens it again for another cooldown.
//
// Regions that use the same backend value — the same pointer — share its
// breaker: they see one server, so one set of failures. The breakers are
// kept in a registry of this package keyed by that pointer and counted by
// the regions using them; a region's Close (or, for a region never closed,
// the garbage collector) drops its count, and the last one removes the
// breaker. Backends that are not pointers get a breaker per region. A shared
// breaker takes its threshold and cooldown from the first region that made
// it.
//
// Only backends that store bytes have a breaker: an in-process ValueStore
// does not fail, and its hit path must stay a map lookup.

// Breaker defaults, applied by New to zero fields of Config.
const (
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 500 * time.Millisecond
)

// transition is a change of a breaker's state, for the log.
type transition int8

const (
	noTransition transition = iota
	tripped                 // closed → open
	probing                 // open → half-open
	reopened                // half-open → open: the probe failed
	recovered               // half-open (or open) → closed
)

// breaker is a circuit breaker. Its state is read without a lock on every
// call, and so is the end of an open breaker's cooldown; transitions take mu.
type breaker struct {
	threshold int32
	cooldown  int64        // nanoseconds
	now       func() int64 // monotonic nanoseconds; tests replace it

	state atomic.Int32  // a BreakerState
	fails atomic.Int32  // consecutive failures while closed
	trips atomic.Uint64 // closed → open transitions
	// since is when the breaker opened, or when the half-open probe was
	// let out: a probe whose outcome never comes (the region that sent it
	// closed) is replaced after a cooldown. Written under mu.
	since atomic.Int64

	mu sync.Mutex // serialises transitions

	// watchers are told of every transition (see observe.go).
	watchers watchers
}

var monoStart = time.Now()

func monotonic() int64 { return int64(time.Since(monoStart)) }

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	return &breaker{threshold: int32(threshold), cooldown: int64(cooldown), now: monotonic}
}

// allow reports whether a call may use the backend. Closed: yes. Open or
// half-open: no — and once a cooldown has passed since the breaker opened
// (or since its last probe went out without an outcome), probe is true for
// exactly one caller, which must send a probe on the breaker's behalf (see
// Region.probe) while its own call skips the backend like the others: no
// caller waits on a backend that may still be down.
func (b *breaker) allow() (ok, probe bool, t transition) {
	if BreakerState(b.state.Load()) == BreakerClosed {
		return true, false, noTransition
	}
	now := b.now()
	if now-b.since.Load() < b.cooldown {
		return false, false, noTransition
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now-b.since.Load() < b.cooldown { // another caller took the probe
		return BreakerState(b.state.Load()) == BreakerClosed, false, noTransition
	}
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		return true, false, noTransition
	case BreakerOpen:
		b.state.Store(int32(BreakerHalfOpen))
		b.since.Store(now)
		return false, true, probing
	default: // half-open, its probe lost
		b.since.Store(now)
		return false, true, noTransition
	}
}

// done records the outcome of a call that allow let through: failed when
// the backend failed, false when it answered.
func (b *breaker) done(failed bool) transition {
	s := BreakerState(b.state.Load())
	if !failed {
		switch {
		case s == BreakerClosed:
			if b.fails.Load() != 0 { // no write on the common path
				b.fails.Store(0)
			}
			return noTransition
		case s == BreakerHalfOpen:
			b.mu.Lock()
			defer b.mu.Unlock()
			if BreakerState(b.state.Load()) != BreakerHalfOpen {
				return noTransition
			}
			b.fails.Store(0)
			b.state.Store(int32(BreakerClosed))
			return recovered
		}
		return noTransition // open: a late answer to a call let in before; wait for the probe
	}
	switch s {
	case BreakerClosed:
		if b.fails.Add(1) < b.threshold {
			return noTransition
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if BreakerState(b.state.Load()) != BreakerClosed {
			return noTransition
		}
		b.state.Store(int32(BreakerOpen))
		b.since.Store(b.now())
		b.fails.Store(0)
		b.trips.Add(1)
		return tripped
	case BreakerHalfOpen:
		b.mu.Lock()
		defer b.mu.Unlock()
		if BreakerState(b.state.Load()) != BreakerHalfOpen {
			return noTransition
		}
		b.state.Store(int32(BreakerOpen))
		b.since.Store(b.now())
		return reopened
	}
	return noTransition
}

// breakers is the registry of shared breakers, keyed by backend pointer.
// An entry lives while a region holds a reference to it.
var breakers struct {
	mu sync.Mutex // protects m
	m  map[any]*sharedBreaker
}

type sharedBreaker struct {
	b    *breaker
	refs int
}

// breakerRef is one region's hold on a breaker; release drops it, once.
type breakerRef struct {
	b        *breaker
	key      any // the registry key; nil for a breaker of its own
	released atomic.Bool
	obs      *observer // the region's observer among b's watchers, if any
}

// acquireBreaker returns a hold on the breaker of be (a backend or a
// locker): the shared one when be is a pointer, otherwise one of its own.
func acquireBreaker(be any, threshold int, cooldown time.Duration) *breakerRef {
	if reflect.TypeOf(be).Kind() != reflect.Pointer {
		return &breakerRef{b: newBreaker(threshold, cooldown)}
	}
	breakers.mu.Lock()
	defer breakers.mu.Unlock()
	if breakers.m == nil {
		breakers.m = make(map[any]*sharedBreaker)
	}
	sb := breakers.m[be]
	if sb == nil {
		sb = &sharedBreaker{b: newBreaker(threshold, cooldown)}
		breakers.m[be] = sb
	}
	sb.refs++
	return &breakerRef{b: sb.b, key: be}
}

// release drops the hold; the last one removes the breaker from the
// registry. Calls after the first do nothing.
func (h *breakerRef) release() {
	if h.key == nil || h.released.Swap(true) {
		return
	}
	h.b.watchers.remove(h.obs)
	breakers.mu.Lock()
	defer breakers.mu.Unlock()
	if sb := breakers.m[h.key]; sb != nil {
		if sb.refs--; sb.refs == 0 {
			delete(breakers.m, h.key)
		}
	}
}

// sharedBreakers returns how many backends have a shared breaker, for tests.
func sharedBreakers() int {
	breakers.mu.Lock()
	defer breakers.mu.Unlock()
	return len(breakers.m)
}

// ErrBreakerOpen is wrapped, with ErrBackend, by the errors of calls that
// skipped the backend because its circuit breaker is open (or half-open
// with its probe out), or because the invalidation generations could not
// be read lately; see Config.BreakerThreshold.
var ErrBreakerOpen = errors.New("region: backend circuit open")

// useBreaker gives the region its breaker, when it has a byte backend and
// the breaker is not disabled.
func (r *Region) useBreaker() {
	if r.values != nil || r.cfg.BreakerThreshold < 0 {
		return
	}
	ref := acquireBreaker(r.cfg.Backend, r.cfg.BreakerThreshold, r.cfg.BreakerCooldown)
	r.brk = ref.b
	r.brkRef = ref
	// A region dropped without Close gives its hold back when collected.
	runtime.AddCleanup(r, func(h *breakerRef) { h.release() }, ref)
}

// admit reports whether this call may ask the backend: nil, or r.skipErr
// (counted in Stats.BackendSkipped) while the breaker is open. The caller
// that finds the cooldown over sends the breaker's probe in the background
// and skips the backend itself.
func (r *Region) admit(ctx context.Context) error {
	if r.brk == nil {
		return nil
	}
	ok, probe, t := r.brk.allow()
	r.logTransition(ctx, t)
	if ok {
		return nil
	}
	if probe {
		r.probe(ctx)
	}
	r.stats.backendSkipped.Add(1)
	return r.skipErr
}

// probe asks the backend, in a goroutine the region owns, for the shared
// invalidation generations — a read every call needs before it may trust
// the backend again — and settles the breaker with the outcome: an answer
// closes it (and refreshes the generations, so calls use the backend at
// once), a failure opens it for another cooldown. A failure is counted but
// not logged: the breaker logs its transitions. When the region is closed
// no probe goes out, and the next call after a cooldown sends one.
func (r *Region) probe(ctx context.Context) {
	r.goOwned(ctx, func(ctx context.Context) {
		keys, views := r.genKeys()
		now := r.now()
		data, err := r.cfg.Backend.GetMulti(ctx, keys)
		r.settle(ctx, err)
		if err != nil {
			r.stats.backendErrors.Add(1)
			return
		}
		for i, d := range data {
			if g, ok := decodeGen(d); ok && i < len(views) {
				views[i].raise(g)
			}
		}
		r.gens.refreshed(now)
	})
}

// settle records the outcome of a backend call admit let through. A miss,
// a value too large to store, an invalid argument or the caller's own
// cancellation says nothing about the backend's health; a success closes a
// half-open breaker.
func (r *Region) settle(ctx context.Context, err error) {
	if r.brk == nil {
		return
	}
	switch {
	case err == nil || errors.Is(err, backend.ErrNotFound):
		r.logTransition(ctx, r.brk.done(false))
	case errors.Is(err, backend.ErrTooLarge), errors.Is(err, backend.ErrInvalidArgument), ctx.Err() != nil:
	default:
		r.logTransition(ctx, r.brk.done(true))
	}
}

// logTransition logs a change of the breaker's state, once: by the call
// that made it.
func (r *Region) logTransition(ctx context.Context, t transition) {
	if t != noTransition {
		r.brk.watchers.notify(t)
	}
	r.logBreaker(ctx, r.brk, backendBreaker, t)
}

// breakerKind names what a breaker guards and what calls do while it is
// open, for its log lines.
type breakerKind struct{ guards, whileOpen string }

var (
	backendBreaker = breakerKind{"backend", "calls skip the backend"}
	lockerBreaker  = breakerKind{"locker", "creations take the in-process lock"}
)

// logBreaker logs transition t of b, a breaker of kind k.
func (r *Region) logBreaker(ctx context.Context, b *breaker, k breakerKind, t transition) {
	switch t {
	case tripped:
		r.log(ctx, slog.LevelWarn, "corral: "+k.guards+" circuit open: "+k.whileOpen+" until a probe succeeds",
			"region", r.name, "failures", b.threshold, "cooldown", time.Duration(b.cooldown))
	case probing:
		r.log(ctx, slog.LevelDebug, "corral: "+k.guards+" circuit half-open: probing the "+k.guards, "region", r.name)
	case reopened:
		r.log(ctx, slog.LevelDebug, "corral: "+k.guards+" circuit open again: the probe failed", "region", r.name)
	case recovered:
		r.log(ctx, slog.LevelWarn, "corral: "+k.guards+" circuit closed: the "+k.guards+" answers again", "region", r.name)
	}
}

// breakerState is the breaker's state, for Stats.
func (r *Region) breakerState() (BreakerState, uint64) {
	if r.brk == nil {
		return BreakerClosed, 0
	}
	return BreakerState(r.brk.state.Load()), r.brk.trips.Load()
}
