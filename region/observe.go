package region

import (
	"context"
	"fmt"
	"github.com/corralcache/corral/observe"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Observation.
//
// A region reports what it does to an Observer (metrics) and a Tracer
// (spans), both optional Config fields. Neither costs anything when unset:
// every hook is behind a nil check, and a hit on a fresh value stays free of
// allocations. The events are the counts of Stats, reported as they happen,
// so an observer's totals and Stats always agree.
//
// Observers and tracers are called synchronously, on the goroutine that
// does the work (often a hot path): they must be fast and safe for
// concurrent use, and must not call back into the region. A panic in one is
// recovered and logged once; the region goes on as if it had not been
// called.

// observer is a region's link to its RegionObserver. Counters and breakers
// hold it rather than the region, so that they do not keep a region alive.
type observer struct {
	o      observe.RegionObserver
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

func (ob *observer) event(e observe.Event, n uint64) {
	defer ob.recovered()
	ob.o.Event(e, n)
}

func (ob *observer) timing(t observe.Timing, op string, d time.Duration) {
	defer ob.recovered()
	ob.o.Timing(t, op, d)
}

func (ob *observer) breakerChanged(from, to BreakerState) {
	defer ob.recovered()
	ob.o.BreakerChanged(from, to)
}

// observe links the region to Config.Observer and Config.Tracer, after
// its breaker is set up. An observer or tracer that panics here makes New
// fail with ErrInvalidConfig.
func (r *Region) observe() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: region %q: the observe.Observer or observe.Tracer panicked: %v", ErrInvalidConfig, r.name, p)
		}
	}()
	r.ob = &observer{region: r.name, logger: r.cfg.Logger}
	if r.cfg.Tracer != nil {
		r.traceHits = r.cfg.Tracer.TracesHits()
	}
	if r.cfg.Observer == nil {
		return nil
	}
	o := r.cfg.Observer.ObserveRegion(r.name)
	if o == nil || isTypedNil(o) {
		return nil
	}
	r.ob.o = o
	r.stats.observe(r.ob)
	if r.brk != nil {
		r.brkRef.obs = r.ob
		r.brk.watchers.add(r.ob)
		if s := BreakerState(r.brk.state.Load()); s != BreakerClosed {
			o.BreakerChanged(BreakerClosed, s)
		}
	}
	return nil
}

// observe makes every counter report to ob.
func (c *counters) observe(ob *observer) {
	c.hits.obs, c.hits.ev = ob, observe.EventHit
	c.staleServed.obs, c.staleServed.ev = ob, observe.EventStaleServed
	c.nearHits.obs, c.nearHits.ev = ob, observe.EventNearHit
	for _, x := range []struct {
		c  *counter
		ev observe.Event
	}{
		{&c.misses, observe.EventMiss}, {&c.regenerations, observe.EventRegeneration},
		{&c.lockWaits, observe.EventLockWait}, {&c.lockWaitTimeouts, observe.EventLockWaitTimeout},
		{&c.locksLost, observe.EventLockLost}, {&c.backendErrors, observe.EventBackendError},
		{&c.decodeErrors, observe.EventDecodeError}, {&c.notCached, observe.EventNotCached},
		{&c.superseded, observe.EventSuperseded}, {&c.backendSkipped, observe.EventBackendSkipped},
		{&c.earlyRefreshes, observe.EventEarlyRefresh}, {&c.lockerSkipped, observe.EventLockerSkipped},
		{&c.nearFlushes, observe.EventNearFlush},
	} {
		x.c.obs, x.c.ev = ob, x.ev
	}
}

// counter is a count of Stats that reports what it adds to the region's
// observer, if any.
type counter struct {
	n   atomic.Uint64
	obs *observer // nil without an observe.Observer
	ev  observe.Event
}

func (c *counter) Add(n uint64) {
	c.n.Add(n)
	if c.obs != nil {
		c.obs.event(c.ev, n)
	}
}

func (c *counter) Load() uint64 { return c.n.Load() }

// watchers are the observers of the regions that share a breaker, told of
// its transitions.
type watchers struct {
	mu   sync.Mutex // protects list
	list []*observer
}

func (w *watchers) add(ob *observer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, ob)
}

func (w *watchers) remove(ob *observer) {
	if ob == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.list {
		if x == ob {
			w.list = append(w.list[:i:i], w.list[i+1:]...)
			return
		}
	}
}

// notify tells every watcher of the transition t, outside the lock.
func (w *watchers) notify(t transition) {
	var from, to BreakerState
	switch t {
	case tripped:
		from, to = BreakerClosed, BreakerOpen
	case probing:
		from, to = BreakerOpen, BreakerHalfOpen
	case reopened:
		from, to = BreakerHalfOpen, BreakerOpen
	case recovered:
		from, to = BreakerHalfOpen, BreakerClosed
	default:
		return
	}
	w.mu.Lock()
	list := w.list
	w.mu.Unlock()
	for _, ob := range list {
		ob.breakerChanged(from, to)
	}
}

// traceStart returns the time a traced call's first read begins, or the
// zero time without a Tracer (no clock read).
func (r *Region) traceStart() time.Time {
	if r.cfg.Tracer == nil {
		return time.Time{}
	}
	return time.Now()
}

// tick returns the monotonic time for a timing, or 0 without an observer
// (no clock read).
func (r *Region) tick() int64 {
	if r.ob.o == nil {
		return 0
	}
	return monotonic()
}

// took reports the time since start (from tick) as a timing of kind t.
func (r *Region) took(t observe.Timing, op string, start int64) {
	if r.ob.o != nil {
		r.ob.timing(t, op, time.Duration(monotonic()-start))
	}
}

// step is a timed, traced piece of a call: a lock wait or a creator run.
type step struct {
	r     *Region
	t     observe.Timing
	start int64
	span  observe.Span
}

// startStep begins a step of kind k (timing t) for key: it starts a span
// when the region has a Tracer, whose context it returns, and notes the
// time when it has an Observer. Without either it costs two nil checks.
func (r *Region) startStep(ctx context.Context, k observe.SpanKind, t observe.Timing, key string) (context.Context, step) {
	s := step{r: r, t: t, start: r.tick()}
	if r.cfg.Tracer != nil {
		ctx, s.span = r.startSpan(ctx, observe.SpanStart{Kind: k, Region: r.name, Key: key})
	}
	return ctx, s
}

// end ends the step, with err its outcome.
func (s step) end(err error) {
	s.r.took(s.t, "", s.start)
	if s.span != nil {
		s.r.endSpan(s.span, 0, err)
	}
}

// startSpan starts a span with the Tracer; a tracer that panics or returns
// nothing gives no span.
func (r *Region) startSpan(ctx context.Context, s observe.SpanStart) (c context.Context, sp observe.Span) {
	c = ctx
	defer r.ob.recovered()
	if nc, nsp := r.cfg.Tracer.StartSpan(ctx, s); nc != nil && nsp != nil {
		c, sp = nc, nsp
	}
	return c, sp
}

// endSpan ends sp, recovering a panic of the tracer.
func (r *Region) endSpan(sp observe.Span, o Outcome, err error) {
	defer r.ob.recovered()
	sp.End(o, err)
}

// traceCall is getOrCreate for a region with a Tracer, for a call whose
// first read found no fresh value: the call runs under a SpanCall that
// ends with its outcome, and begins when the first read did (on a byte
// backend, where it is a round trip) or now.
func (r *Region) traceCall(ctx context.Context, key string, vt valueType, create creator, co callConfig, first loaded) (any, error) {
	ctx, sp := r.startSpan(ctx, observe.SpanStart{Kind: observe.SpanCall, Region: r.name, Key: key, Time: first.began})
	co.traced = true
	var o Outcome
	asked := co.outcome
	co.outcome = &o
	v, err := r.getOrCreate(ctx, key, vt, create, co, first)
	if asked != nil && err == nil {
		*asked = o
	}
	if sp != nil {
		r.endSpan(sp, o, err)
	}
	return v, err
}

// traceHit answers GetOrCreate for a Tracer that traces hits: the whole
// call, first read included, runs under one SpanCall.
func traceHit[T any](ctx context.Context, r *Region, key string, vt valueType, create func(context.Context) (T, error), opts []CallOption) (T, error) {
	ctx, sp := r.startSpan(ctx, observe.SpanStart{Kind: observe.SpanCall, Region: r.name, Key: key, Time: time.Now()})
	var o Outcome
	v, err := getOrCreate(ctx, r, key, vt, create, append(slices.Clip(opts), ReportOutcome(&o), CallOption{kind: optTraced}))
	spanErr := err
	if o != 0 {
		// The call was answered: with a value, or with a cached "not
		// found" (err wraps ErrNotFound), which is an answer, not a
		// failure, as it is for traceCall.
		spanErr = nil
		if asked := makeCallConfig(opts).outcome; asked != nil {
			*asked = o
		}
	}
	if sp != nil {
		r.endSpan(sp, o, spanErr)
	}
	return v, err
}

// tracedAlready reports whether opts hold the mark traceHit adds.
func tracedAlready(opts []CallOption) bool {
	for i := range opts {
		if opts[i].kind == optTraced {
			return true
		}
	}
	return false
}
