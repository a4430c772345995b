// Package breaker is the circuit breaker that keeps a fail-open region fast
// while a backend (or a distributed locker) is down.
//
// A Breaker counts consecutive failures; at its threshold it opens, and
// callers skip what it guards without touching the network. Once a cooldown
// has passed, exactly one caller is told to send a probe on the breaker's
// behalf (in the background: no caller waits on a backend that may still be
// down); the probe's success closes the breaker, its failure opens it for
// another cooldown. Its state is read without a lock on every call;
// transitions take a mutex.
//
// A Breaker is a value its owner passes explicitly: regions given the same
// one share it (they see one server, hence one set of failures); there is
// no registry of breakers.
package breaker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/observe"
)

// Transition is a change of a breaker's state, reported once, by the call
// that made it.
type Transition int8

const (
	None      Transition = iota
	Tripped              // closed → open
	Probing              // open → half-open
	Reopened             // half-open → open: the probe failed
	Recovered            // half-open → closed
)

// States returns the states a transition goes from and to; ok is false for
// None.
func (t Transition) States() (from, to observe.BreakerState, ok bool) {
	switch t {
	case Tripped:
		return observe.BreakerClosed, observe.BreakerOpen, true
	case Probing:
		return observe.BreakerOpen, observe.BreakerHalfOpen, true
	case Reopened:
		return observe.BreakerHalfOpen, observe.BreakerOpen, true
	case Recovered:
		return observe.BreakerHalfOpen, observe.BreakerClosed, true
	}
	return 0, 0, false
}

// Breaker is a circuit breaker. It is safe for concurrent use.
type Breaker struct {
	threshold int32
	cooldown  int64 // nanoseconds
	// Now returns monotonic nanoseconds; tests replace it before use.
	Now func() int64

	state atomic.Int32  // an observe.BreakerState
	fails atomic.Int32  // consecutive failures while closed
	trips atomic.Uint64 // closed → open transitions
	// since is when the breaker opened, or when the half-open probe was
	// let out: a probe whose outcome never comes is replaced after a
	// cooldown. Written under mu.
	since atomic.Int64

	mu sync.Mutex // serialises transitions

	wmu      sync.Mutex // protects watchers
	watchers map[*watcher]struct{}
}

type watcher struct {
	fn func(from, to observe.BreakerState)
}

var monoStart = time.Now()

// Monotonic returns nanoseconds on the monotonic clock.
func Monotonic() int64 { return int64(time.Since(monoStart)) }

// New returns a closed breaker that opens after threshold consecutive
// failures and probes once per cooldown while open.
func New(threshold int, cooldown time.Duration) *Breaker {
	return &Breaker{threshold: int32(max(threshold, 1)), cooldown: int64(cooldown), Now: Monotonic}
}

// Threshold and Cooldown are the breaker's settings.
func (b *Breaker) Threshold() int              { return int(b.threshold) }
func (b *Breaker) Cooldown() time.Duration     { return time.Duration(b.cooldown) }
func (b *Breaker) State() observe.BreakerState { return observe.BreakerState(b.state.Load()) }
func (b *Breaker) Trips() uint64               { return b.trips.Load() }

// Closed reports whether calls may use what the breaker guards, without
// any other work: the hit path's check.
func (b *Breaker) Closed() bool { return b.state.Load() == int32(observe.BreakerClosed) }

// Allow reports whether a call may use what the breaker guards. Closed:
// yes. Open or half-open: no — and once a cooldown has passed since the
// breaker opened (or since its last probe went out without an outcome),
// probe is true for exactly one caller, which must send a probe on the
// breaker's behalf while its own call skips, like the others.
func (b *Breaker) Allow() (ok, probe bool, t Transition) {
	if b.Closed() {
		return true, false, None
	}
	now := b.Now()
	if now-b.since.Load() < b.cooldown {
		return false, false, None
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now-b.since.Load() < b.cooldown { // another caller took the probe
		return b.Closed(), false, None
	}
	switch b.State() {
	case observe.BreakerClosed:
		return true, false, None
	case observe.BreakerOpen:
		b.state.Store(int32(observe.BreakerHalfOpen))
		b.since.Store(now)
		return false, true, b.notify(Probing)
	default: // half-open, its probe lost
		b.since.Store(now)
		return false, true, None
	}
}

// Done records the outcome of a call Allow let through (or of a probe):
// failed when it failed, false when it was answered.
func (b *Breaker) Done(failed bool) Transition {
	s := b.State()
	if !failed {
		switch s {
		case observe.BreakerClosed:
			if b.fails.Load() != 0 { // no write on the common path
				b.fails.Store(0)
			}
		case observe.BreakerHalfOpen:
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.State() != observe.BreakerHalfOpen {
				return None
			}
			b.fails.Store(0)
			b.state.Store(int32(observe.BreakerClosed))
			return b.notify(Recovered)
		}
		return None // open: a late answer to a call let in before; wait for the probe
	}
	switch s {
	case observe.BreakerClosed:
		if b.fails.Add(1) < b.threshold {
			return None
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.State() != observe.BreakerClosed {
			return None
		}
		b.state.Store(int32(observe.BreakerOpen))
		b.since.Store(b.Now())
		b.fails.Store(0)
		b.trips.Add(1)
		return b.notify(Tripped)
	case observe.BreakerHalfOpen:
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.State() != observe.BreakerHalfOpen {
			return None
		}
		b.state.Store(int32(observe.BreakerOpen))
		b.since.Store(b.Now())
		return b.notify(Reopened)
	}
	return None
}

// Watch calls fn with every transition from now on, until the returned
// cancel is called. fn is called synchronously by the caller that made the
// transition, with the breaker's mutex held: it must be fast and must not
// call the breaker.
func (b *Breaker) Watch(fn func(from, to observe.BreakerState)) (cancel func()) {
	w := &watcher{fn: fn}
	b.wmu.Lock()
	if b.watchers == nil {
		b.watchers = make(map[*watcher]struct{})
	}
	b.watchers[w] = struct{}{}
	b.wmu.Unlock()
	return func() {
		b.wmu.Lock()
		delete(b.watchers, w)
		b.wmu.Unlock()
	}
}

// notify tells every watcher of t, and returns t.
func (b *Breaker) notify(t Transition) Transition {
	from, to, ok := t.States()
	if !ok {
		return t
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	for w := range b.watchers {
		w.fn(from, to)
	}
	return t
}
