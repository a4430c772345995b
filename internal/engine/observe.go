package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/corralcache/corral/internal/breaker"
	"github.com/corralcache/corral/observe"
)

// Stats are a region's counts; package region documents each.
type Stats struct {
	Hits, Misses, StaleServed, Shared, Regenerations, EarlyRefreshes uint64
	LockWaits, LockWaitTimeouts, LocksLost                           uint64
	BackendErrors, DecodeErrors, NotCached, Superseded               uint64
	BackendSkipped, LockerSkipped                                    uint64
	NearHits, NearFlushes, TagInvalidations                          uint64
	BreakerState, LockerBreakerState                                 observe.BreakerState
	BreakerTrips, LockerBreakerTrips                                 uint64
	NearLive                                                         bool
}

// Counters holds the live counts. The ones every hit or stale read bumps
// are striped, so that goroutines on different cores do not fight over one
// cache line.
type Counters struct {
	hits, staleServed, nearHits            striped
	misses, shared, regenerations          counter
	earlyRefreshes                         counter
	lockWaits, lockWaitTimeouts, locksLost counter
	backendErrors, decodeErrors, notCached counter
	superseded, backendSkipped             counter
	lockerSkipped, nearFlushes             counter
	tagInvalidations                       counter
}

// Stats returns the region's counters and its breakers' states.
func (e *Engine) Stats() Stats {
	c := &e.stats
	s := Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), StaleServed: c.staleServed.Load(),
		Shared: c.shared.Load(), Regenerations: c.regenerations.Load(),
		EarlyRefreshes: c.earlyRefreshes.Load(), LockWaits: c.lockWaits.Load(),
		LockWaitTimeouts: c.lockWaitTimeouts.Load(), LocksLost: c.locksLost.Load(),
		BackendErrors: c.backendErrors.Load(), DecodeErrors: c.decodeErrors.Load(),
		NotCached: c.notCached.Load(), Superseded: c.superseded.Load(),
		BackendSkipped: c.backendSkipped.Load(), LockerSkipped: c.lockerSkipped.Load(),
		NearHits: c.nearHits.Load(), NearFlushes: c.nearFlushes.Load(), TagInvalidations: c.tagInvalidations.Load(),
		NearLive: e.near.Live(),
	}
	if b := e.cfg.Breaker; b != nil {
		s.BreakerState, s.BreakerTrips = b.State(), b.Trips()
	}
	if b := e.cfg.LockerBreaker; b != nil {
		s.LockerBreakerState, s.LockerBreakerTrips = b.State(), b.Trips()
	}
	return s
}

// counter is a count that reports what it adds to the region's observer.
type counter struct {
	n   atomic.Uint64
	obs *observer // nil without an Observer
	ev  observe.Event
}

// Add adds n, and reports it with ctx, the context of the call it counts
// (see observe.ContextObserver).
func (c *counter) Add(ctx context.Context, n uint64) {
	c.n.Add(n)
	if c.obs != nil {
		c.obs.event(ctx, c.ev, n)
	}
}

func (c *counter) Load() uint64 { return c.n.Load() }

// stripes is the number of cells of a striped counter: a power of two
// comfortably above the cores of the machines corral runs on.
const stripes = 16

// striped is a counter spread over cache-line-sized cells, so that cores
// do not pass one cache line back and forth; Load sums the cells. A
// goroutine adds to the cell its stack's address picks: goroutines have
// stacks of their own, so those running at once on different cores mostly
// pick different cells, and the pick costs no call (a sync.Pool token cost
// a tenth of a memory hit).
type striped struct {
	cells [stripes]struct {
		n atomic.Uint64
		_ [56]byte // pad to a 64-byte cache line
	}
	obs *observer
	ev  observe.Event
}

// Add adds n, and reports it with ctx, as counter.Add does.
func (s *striped) Add(ctx context.Context, n uint64) {
	var mark byte
	sp := uintptr(unsafe.Pointer(&mark)) // the stack's address: not kept, never dereferenced
	s.cells[(sp>>13^sp>>17)&(stripes-1)].n.Add(n)
	if s.obs != nil {
		s.obs.event(ctx, s.ev, n)
	}
}

func (s *striped) Load() uint64 {
	var sum uint64
	for i := range s.cells {
		sum += s.cells[i].n.Load()
	}
	return sum
}

// observer is the engine's link to its RegionObserver. Counters and
// breakers hold it rather than the engine, so that they do not keep it
// alive.
type observer struct {
	o observe.RegionObserver
	// co is o when it is an observe.ContextObserver (decided once, at
	// New): events and timings then go to it, with their call's context.
	co     observe.ContextObserver
	region string
	logger *slog.Logger
	// panicked is set once a panic of the observer or tracer was logged.
	panicked atomic.Bool
}

// recovered recovers a panic of the observer or tracer and logs the first.
// It must be deferred directly.
func (ob *observer) recovered() {
	if p := recover(); p != nil && !ob.panicked.Swap(true) {
		defer func() { _ = recover() }() // a logger that panics too loses the line
		ob.logger.Warn("corral: observer or tracer panicked; its reports are dropped, the region goes on",
			"region", ob.region, "panic", fmt.Sprint(p))
	}
}

// event reports n occurrences of e, belonging to the call of ctx.
func (ob *observer) event(ctx context.Context, e observe.Event, n uint64) {
	defer ob.recovered()
	if ob.co != nil {
		ob.co.EventContext(ctx, e, n)
		return
	}
	ob.o.Event(e, n)
}

// timing reports a duration of kind t, belonging to the call of ctx.
func (ob *observer) timing(ctx context.Context, t observe.Timing, op string, d time.Duration) {
	defer ob.recovered()
	if ob.co != nil {
		ob.co.TimingContext(ctx, t, op, d)
		return
	}
	ob.o.Timing(t, op, d)
}

func (ob *observer) breakerChanged(from, to observe.BreakerState) {
	defer ob.recovered()
	ob.o.BreakerChanged(from, to)
}

// observe links the engine to Config.Observer and Config.Tracer. An
// observer or tracer that panics here makes New fail.
func (e *Engine) observe() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: region %q: the Observer or Tracer panicked: %v", ErrInvalidConfig, e.name, p)
		}
	}()
	e.ob = &observer{region: e.name, logger: e.cfg.Logger}
	if e.cfg.Tracer != nil {
		e.traceHits = e.cfg.Tracer.TracesHits()
	}
	if e.cfg.Observer == nil {
		return nil
	}
	o := e.cfg.Observer.ObserveRegion(e.name)
	if o == nil || isTypedNil(o) {
		return nil
	}
	e.ob.o = o
	e.ob.co, _ = o.(observe.ContextObserver)
	c := &e.stats
	c.hits.obs, c.hits.ev = e.ob, observe.EventHit
	c.staleServed.obs, c.staleServed.ev = e.ob, observe.EventStaleServed
	c.nearHits.obs, c.nearHits.ev = e.ob, observe.EventNearHit
	for _, x := range []struct {
		c  *counter
		ev observe.Event
	}{
		{&c.misses, observe.EventMiss}, {&c.shared, observe.EventShared},
		{&c.regenerations, observe.EventRegeneration},
		{&c.lockWaits, observe.EventLockWait}, {&c.lockWaitTimeouts, observe.EventLockWaitTimeout},
		{&c.locksLost, observe.EventLockLost}, {&c.backendErrors, observe.EventBackendError},
		{&c.decodeErrors, observe.EventDecodeError}, {&c.notCached, observe.EventNotCached},
		{&c.superseded, observe.EventSuperseded}, {&c.backendSkipped, observe.EventBackendSkipped},
		{&c.earlyRefreshes, observe.EventEarlyRefresh}, {&c.lockerSkipped, observe.EventLockerSkipped},
		{&c.nearFlushes, observe.EventNearFlush}, {&c.tagInvalidations, observe.EventTagInvalidation},
	} {
		x.c.obs, x.c.ev = e.ob, x.ev
	}
	// Only the backend's breaker is reported (RegionObserver.BreakerChanged).
	if b := e.cfg.Breaker; b != nil {
		ob := e.ob
		e.unwatch = append(e.unwatch, b.Watch(ob.breakerChanged))
		if s := b.State(); s != observe.BreakerClosed {
			o.BreakerChanged(observe.BreakerClosed, s)
		}
	}
	return nil
}

// tick returns the monotonic time for a timing, or 0 without an observer
// (no clock read).
func (e *Engine) tick() int64 {
	if e.ob.o == nil {
		return 0
	}
	return breaker.Monotonic()
}

// took reports the time since start (from tick) as a timing of kind t,
// belonging to the call of ctx.
func (e *Engine) took(ctx context.Context, t observe.Timing, op string, start int64) {
	if e.ob.o != nil {
		e.ob.timing(ctx, t, op, time.Duration(breaker.Monotonic()-start))
	}
}

// step is a timed, traced piece of a call: a lock wait or a creator run.
type step struct {
	e *Engine
	// ctx is the step's context: the one holding its span, when the
	// region has a Tracer; its timing is reported with it.
	ctx   context.Context
	t     observe.Timing
	start int64
	span  observe.Span
}

// startStep begins a step of kind k (timing t) for key: it starts a span
// when the region has a Tracer, whose context it returns, and notes the
// time when it has an Observer. Without either it costs two nil checks.
func (e *Engine) startStep(ctx context.Context, k observe.SpanKind, t observe.Timing, key string) (context.Context, step) {
	s := step{e: e, t: t, start: e.tick()}
	if e.cfg.Tracer != nil {
		ctx, s.span = e.startSpan(ctx, observe.SpanStart{Kind: k, Region: e.name, Key: key})
	}
	s.ctx = ctx
	return ctx, s
}

// end ends the step, with err its outcome.
func (s step) end(err error) {
	s.e.took(s.ctx, s.t, "", s.start)
	if s.span != nil {
		s.e.endSpan(s.span, 0, err)
	}
}

// startSpan starts a span with the Tracer; a tracer that panics or returns
// nothing gives no span.
func (e *Engine) startSpan(ctx context.Context, s observe.SpanStart) (c context.Context, sp observe.Span) {
	c = ctx
	defer e.ob.recovered()
	if nc, nsp := e.cfg.Tracer.StartSpan(ctx, s); nc != nil && nsp != nil {
		c, sp = nc, nsp
	}
	return c, sp
}

// endSpan ends sp, recovering a panic of the tracer.
func (e *Engine) endSpan(sp observe.Span, o observe.Outcome, err error) {
	defer e.ob.recovered()
	sp.End(o, err)
}

// TraceHits reports whether the Tracer traces calls answered by a fresh
// read.
func (e *Engine) TraceHits() bool { return e.traceHits }

// TraceStart returns the time a traced call's first read begins, or the
// zero time without a Tracer (no clock read).
func (e *Engine) TraceStart() time.Time {
	if e.cfg.Tracer == nil {
		return time.Time{}
	}
	return time.Now()
}

// Span runs fn under a span of kind SpanCall of call (one of observe's
// Call constants) for key (a call of GetOrCreateMulti or a batch, named by
// its first key; a Refresh; a GetOrCreate whose hits are traced), begun at
// began (zero: now), and ends it with fn's outcome. Without a Tracer it
// calls fn.
func (e *Engine) Span(ctx context.Context, call, key string, began time.Time, fn func(context.Context) (observe.Outcome, error)) error {
	if e.cfg.Tracer == nil {
		_, err := fn(ctx)
		return err
	}
	if began.IsZero() {
		began = time.Now()
	}
	ctx, sp := e.startSpan(ctx, observe.SpanStart{Kind: observe.SpanCall, Call: call, Region: e.name, Key: key, Time: began})
	o, err := fn(ctx)
	if sp != nil {
		e.endSpan(sp, o, err)
	}
	return err
}

// warn logs at Warn level. A logger whose handler panics loses the line,
// not the process.
func (e *Engine) warn(ctx context.Context, msg string, args ...any) {
	e.log(ctx, slog.LevelWarn, msg, args...)
}

// log logs at level, as warn does.
func (e *Engine) log(ctx context.Context, level slog.Level, msg string, args ...any) {
	defer func() { _ = recover() }()
	e.cfg.Logger.Log(ctx, level, msg, args...)
}

// Warn is warn, for the façade.
func (e *Engine) Warn(ctx context.Context, msg string, args ...any) { e.warn(ctx, msg, args...) }

// panicked turns a recovered panic value into a *PanicError.
func panicked(p any) *PanicError {
	return &PanicError{Value: p, Stack: debug.Stack()}
}

// safely runs body, turning a panic into a logged *PanicError.
func (e *Engine) safely(ctx context.Context, key string, body func() (any, bool, error)) (v any, created bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, created, err = nil, false, panicked(p)
			e.warn(ctx, "corral: panic in a region goroutine; returned to the callers as an error", "region", e.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	return body()
}
