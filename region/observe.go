package region

import (
	"context"
	"fmt"
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

// Event is something a region counts: one of the counters of Stats.
type Event uint8

// The events, one per counter of Stats.
const (
	EventHit             Event = iota + 1 // Stats.Hits
	EventMiss                             // Stats.Misses
	EventStaleServed                      // Stats.StaleServed
	EventRegeneration                     // Stats.Regenerations
	EventLockWait                         // Stats.LockWaits
	EventLockWaitTimeout                  // Stats.LockWaitTimeouts
	EventLockLost                         // Stats.LocksLost
	EventBackendError                     // Stats.BackendErrors
	EventDecodeError                      // Stats.DecodeErrors
	EventNotCached                        // Stats.NotCached
	EventSuperseded                       // Stats.Superseded
	EventBackendSkipped                   // Stats.BackendSkipped
	EventEarlyRefresh                     // Stats.EarlyRefreshes
	EventLockerSkipped                    // Stats.LockerSkipped
	EventNearHit                          // Stats.NearHits
	EventNearFlush                        // Stats.NearFlushes
)

var eventNames = [...]string{
	EventHit: "hit", EventMiss: "miss", EventStaleServed: "stale_served",
	EventRegeneration: "regeneration", EventLockWait: "lock_wait",
	EventLockWaitTimeout: "lock_wait_timeout", EventLockLost: "lock_lost",
	EventBackendError: "backend_error", EventDecodeError: "decode_error",
	EventNotCached: "not_cached", EventSuperseded: "superseded",
	EventBackendSkipped: "backend_skipped", EventEarlyRefresh: "early_refresh",
	EventLockerSkipped: "locker_skipped", EventNearHit: "near_hit", EventNearFlush: "near_flush",
}

// String names the event in snake case ("stale_served"), as metric names
// use it.
func (e Event) String() string {
	if int(e) < len(eventNames) && eventNames[e] != "" {
		return eventNames[e]
	}
	return "unknown"
}

// Events returns every Event, in order, for observers that make one
// instrument per event.
func Events() []Event {
	out := make([]Event, 0, len(eventNames)-1)
	for e := EventHit; int(e) < len(eventNames); e++ {
		out = append(out, e)
	}
	return out
}

// Timing is a kind of duration a region measures.
type Timing uint8

const (
	// TimingCreator is a run of a creator (or of a cached function),
	// from the call to its return, error or panic included.
	TimingCreator Timing = iota + 1
	// TimingLockWait is a wait for another caller's creation: for the
	// key's lock held elsewhere, or for the creation of a goroutine of this
	// process that the caller joined. Each is also an EventLockWait.
	TimingLockWait
	// TimingBackend is one operation on a backend that stores bytes
	// (Redis, memcached, ...), named by op; see RegionObserver.Timing. An
	// in-process backend that keeps values is not timed.
	TimingBackend
)

// String names the timing in snake case ("lock_wait").
func (t Timing) String() string {
	switch t {
	case TimingCreator:
		return "creator"
	case TimingLockWait:
		return "lock_wait"
	case TimingBackend:
		return "backend"
	}
	return "unknown"
}

// The op names of TimingBackend, one per kind of backend call.
const (
	OpGet            = "get"              // Backend.Get: a first read
	OpGetMulti       = "get_multi"        // Backend.GetMulti: reads of several keys
	OpSetMulti       = "set_multi"        // Backend.SetMulti: Set, SetMulti, and stores without a lease
	OpSetGrouped     = "set_grouped"      // Grouper.SetMultiGrouped: a store that records keys in the same round trip
	OpGetForUpdate   = "get_for_update"   // Conditional.GetForUpdate: the read under the lock that takes a lease
	OpSetIf          = "set_if"           // Conditional.SetIf: a created value stored under its lease
	OpSetIfGrouped   = "set_if_grouped"   // ConditionalGrouper.SetIfGrouped: the same, recording the keys
	OpDelete         = "delete"           // Backend.Delete and DeleteMulti
	OpReadGens       = "read_generations" // the shared invalidation generations, read
	OpBumpGeneration = "bump_generation"  // Invalidate and InvalidateAll raising a generation
)

// Observer is told what regions do, for metrics. Set it in
// Config.Observer; the modules github.com/corralcache/corral/extra/corralprom
// and .../extra/corralotel implement it. One Observer may serve many
// regions.
type Observer interface {
	// ObserveRegion is called once by New with the region's name; the
	// region reports to the RegionObserver it returns (nil: to none).
	// Regions of the same name may be given the same one.
	ObserveRegion(name string) RegionObserver
}

// RegionObserver receives one region's events. Its methods are called
// synchronously, from many goroutines at once, on hot paths: they must be
// fast, must not block, and must not call the region.
type RegionObserver interface {
	// Event reports n occurrences of e, as they are added to Stats.
	Event(e Event, n uint64)
	// Timing reports how long something took. op names the backend
	// operation of TimingBackend (one of the Op constants) and is empty
	// otherwise.
	Timing(t Timing, op string, d time.Duration)
	// BreakerChanged reports a transition of the circuit breaker of the
	// region's backend. Regions on the same backend share its breaker, and
	// each is told of every transition. A region created while the breaker
	// is not closed is told at New, as a change from BreakerClosed.
	BreakerChanged(from, to BreakerState)
}

// SpanKind says what a span traces.
type SpanKind uint8

const (
	// SpanCall is one call of GetOrCreate (or of a cached function's
	// Call) that did more than read a fresh value — or every call, when
	// the Tracer traces hits. Its Span ends with the call's Outcome.
	SpanCall SpanKind = iota + 1
	// SpanLockWait is a wait for another caller's creation (see
	// TimingLockWait); a child of the call's span.
	SpanLockWait
	// SpanCreate is a run of the creator; a child of the call's span,
	// whose context the creator is given, so its own spans nest under it.
	SpanCreate
)

// String names the span kind in snake case.
func (k SpanKind) String() string {
	switch k {
	case SpanCall:
		return "call"
	case SpanLockWait:
		return "lock_wait"
	case SpanCreate:
		return "create"
	}
	return "unknown"
}

// SpanStart describes a span a region starts.
type SpanStart struct {
	Kind   SpanKind
	Region string
	// Key is the caller's key (not the backend's). Keys may hold
	// personal data: a tracer should leave them out unless told.
	Key string
	// Time is when the span began; zero means now.
	Time time.Time
}

// Span is a span a Tracer started; the region ends it once.
type Span interface {
	// End ends the span. outcome is how a SpanCall was answered (zero
	// when err is not nil, and for the other kinds); err is the error the
	// call, wait or creator returned, if any.
	End(outcome Outcome, err error)
}

// Tracer starts spans for a region's calls. Set it in Config.Tracer;
// github.com/corralcache/corral/extra/corralotel implements it with
// OpenTelemetry.
//
// By default a call that reads a fresh value gets no span: only calls that
// miss, serve a stale value or wait do. Their span begins with the first
// read on a backend that stores bytes (a round trip), after it on one that
// keeps values (a map lookup). A Tracer whose TracesHits is true
// gets a span for every call of GetOrCreate, begun before the first read.
// GetOrCreateMulti and a cached function's Refresh start no call span: their
// lock waits and creator runs are spans under whatever span ctx holds.
type Tracer interface {
	// StartSpan starts a span as a child of the span ctx holds, if any,
	// and returns a context holding it, which the region passes on to
	// what the span covers. The returned Span must not be nil.
	StartSpan(ctx context.Context, s SpanStart) (context.Context, Span)
	// TracesHits reports whether calls answered by a fresh read get a
	// span too. New asks once.
	TracesHits() bool
}

// observer is a region's link to its RegionObserver. Counters and breakers
// hold it rather than the region, so that they do not keep a region alive.
type observer struct {
	o      RegionObserver
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

func (ob *observer) event(e Event, n uint64) {
	defer ob.recovered()
	ob.o.Event(e, n)
}

func (ob *observer) timing(t Timing, op string, d time.Duration) {
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
			err = fmt.Errorf("%w: region %q: the Observer or Tracer panicked: %v", ErrInvalidConfig, r.name, p)
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
	c.hits.obs, c.hits.ev = ob, EventHit
	c.staleServed.obs, c.staleServed.ev = ob, EventStaleServed
	c.nearHits.obs, c.nearHits.ev = ob, EventNearHit
	for _, x := range []struct {
		c  *counter
		ev Event
	}{
		{&c.misses, EventMiss}, {&c.regenerations, EventRegeneration},
		{&c.lockWaits, EventLockWait}, {&c.lockWaitTimeouts, EventLockWaitTimeout},
		{&c.locksLost, EventLockLost}, {&c.backendErrors, EventBackendError},
		{&c.decodeErrors, EventDecodeError}, {&c.notCached, EventNotCached},
		{&c.superseded, EventSuperseded}, {&c.backendSkipped, EventBackendSkipped},
		{&c.earlyRefreshes, EventEarlyRefresh}, {&c.lockerSkipped, EventLockerSkipped},
		{&c.nearFlushes, EventNearFlush},
	} {
		x.c.obs, x.c.ev = ob, x.ev
	}
}

// counter is a count of Stats that reports what it adds to the region's
// observer, if any.
type counter struct {
	n   atomic.Uint64
	obs *observer // nil without an Observer
	ev  Event
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
func (r *Region) took(t Timing, op string, start int64) {
	if r.ob.o != nil {
		r.ob.timing(t, op, time.Duration(monotonic()-start))
	}
}

// step is a timed, traced piece of a call: a lock wait or a creator run.
type step struct {
	r     *Region
	t     Timing
	start int64
	span  Span
}

// startStep begins a step of kind k (timing t) for key: it starts a span
// when the region has a Tracer, whose context it returns, and notes the
// time when it has an Observer. Without either it costs two nil checks.
func (r *Region) startStep(ctx context.Context, k SpanKind, t Timing, key string) (context.Context, step) {
	s := step{r: r, t: t, start: r.tick()}
	if r.cfg.Tracer != nil {
		ctx, s.span = r.startSpan(ctx, SpanStart{Kind: k, Region: r.name, Key: key})
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
func (r *Region) startSpan(ctx context.Context, s SpanStart) (c context.Context, sp Span) {
	c = ctx
	defer r.ob.recovered()
	if nc, nsp := r.cfg.Tracer.StartSpan(ctx, s); nc != nil && nsp != nil {
		c, sp = nc, nsp
	}
	return c, sp
}

// endSpan ends sp, recovering a panic of the tracer.
func (r *Region) endSpan(sp Span, o Outcome, err error) {
	defer r.ob.recovered()
	sp.End(o, err)
}

// traceCall is getOrCreate for a region with a Tracer, for a call whose
// first read found no fresh value: the call runs under a SpanCall that
// ends with its outcome, and begins when the first read did (on a byte
// backend, where it is a round trip) or now.
func (r *Region) traceCall(ctx context.Context, key string, vt valueType, create creator, co callConfig, first loaded) (any, error) {
	ctx, sp := r.startSpan(ctx, SpanStart{Kind: SpanCall, Region: r.name, Key: key, Time: first.began})
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
	ctx, sp := r.startSpan(ctx, SpanStart{Kind: SpanCall, Region: r.name, Key: key, Time: time.Now()})
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
