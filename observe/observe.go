// Package observe is the vocabulary a corral region reports in: the events
// it counts (one per counter of region.Stats), the durations it measures,
// the spans it starts, and the interfaces of the observers and tracers
// that receive them (region.Config.Observer, region.Config.Tracer). The
// modules github.com/corralcache/corral/extra/corralprom (Prometheus) and
// github.com/corralcache/corral/extra/corralotel (OpenTelemetry) implement
// them.
//
// Observers and tracers are called synchronously, on the goroutine that
// does the work (often a hot path): they must be fast and safe for
// concurrent use, and must not call back into the region. A panic in one is
// recovered and logged once; the region goes on as if it had not been
// called.
package observe

import (
	"context"
	"time"
)

// Event is something a region counts: one of the counters of region.Stats.
type Event uint8

// The events, one per counter of region.Stats.
const (
	EventHit             Event = iota + 1 // region.Stats.Hits
	EventMiss                             // region.Stats.Misses
	EventStaleServed                      // region.Stats.StaleServed
	EventRegeneration                     // region.Stats.Regenerations
	EventLockWait                         // region.Stats.LockWaits
	EventLockWaitTimeout                  // region.Stats.LockWaitTimeouts
	EventLockLost                         // region.Stats.LocksLost
	EventBackendError                     // region.Stats.BackendErrors
	EventDecodeError                      // region.Stats.DecodeErrors
	EventNotCached                        // region.Stats.NotCached
	EventSuperseded                       // region.Stats.Superseded
	EventBackendSkipped                   // region.Stats.BackendSkipped
	EventEarlyRefresh                     // region.Stats.EarlyRefreshes
	EventLockerSkipped                    // region.Stats.LockerSkipped
	EventNearHit                          // region.Stats.NearHits
	EventNearFlush                        // region.Stats.NearFlushes
	EventShared                           // region.Stats.Shared
	EventTagInvalidation                  // region.Stats.TagInvalidations
)

var eventNames = [...]string{
	EventHit: "hit", EventMiss: "miss", EventStaleServed: "stale_served",
	EventRegeneration: "regeneration", EventLockWait: "lock_wait",
	EventLockWaitTimeout: "lock_wait_timeout", EventLockLost: "lock_lost",
	EventBackendError: "backend_error", EventDecodeError: "decode_error",
	EventNotCached: "not_cached", EventSuperseded: "superseded",
	EventBackendSkipped: "backend_skipped", EventEarlyRefresh: "early_refresh",
	EventLockerSkipped: "locker_skipped", EventNearHit: "near_hit", EventNearFlush: "near_flush",
	EventShared: "shared", EventTagInvalidation: "tag_invalidation",
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
	OpLease          = "lease"            // Leaser.Lease: the lock and the lease of a creation, in one step
	OpStoreLeased    = "store_leased"     // Leaser.StoreLeased: created values stored under their leases, which it ends
	OpExtendLeases   = "extend_leases"    // Leaser.ExtendLeases: a slow creation keeping its leases
	OpReleaseLeases  = "release_leases"   // Leaser.ReleaseLeases: leases ended without a store
	OpRegistry       = "registry"         // a key registry's operation on the backend
)

// Observer is told what regions do, for metrics. Set it in
// region.Config.Observer; the modules github.com/corralcache/corral/extra/corralprom
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
	// Event reports n occurrences of e, as they are added to region.Stats.
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

// ContextObserver is a RegionObserver that is also given the context of
// the call each event or timing belongs to, so that it can attach
// exemplars (a slow creator run's trace beside its histogram bucket) or
// otherwise tie what it records to the call.
//
// New checks once whether ObserveRegion's RegionObserver is a
// ContextObserver; if so, the region calls EventContext and TimingContext
// in place of Event and Timing, never both. ctx is the context of the call
// the event belongs to: the caller's, or, inside a span the region started
// (with a Tracer set), the context holding that span — a creator run is
// timed under its create span, a lock wait under its lock_wait span, a
// backend operation of a traced call under the call's span. Events that
// belong to no call (a near cache flushed because its invalidation stream
// was lost) come with context.Background(). ctx may be done by then: it is
// there for its values, not to be waited on. BreakerChanged has no
// context: a transition belongs to no one call.
//
// An observer that does not implement it costs the region nothing more.
type ContextObserver interface {
	RegionObserver
	// EventContext is Event, with the context of the call.
	EventContext(ctx context.Context, e Event, n uint64)
	// TimingContext is Timing, with the context of the call.
	TimingContext(ctx context.Context, t Timing, op string, d time.Duration)
}

// SpanKind says what a span traces.
type SpanKind uint8

const (
	// SpanCall is one call of GetOrCreate, GetOrCreateMulti, a cached
	// function's Call or Refresh, or a batch function's Call, that did more
	// than read fresh values — or every call, when the Tracer traces hits.
	// Its Span ends with the call's Outcome; a call of several keys ends
	// with the costliest way one of them was answered (created, then
	// shared, then stale, then hit).
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

// The calls a SpanCall is of (SpanStart.Call).
const (
	CallGetOrCreate      = "get_or_create"       // GetOrCreate, Get, Typed's, a cached function's Call
	CallGetOrCreateMulti = "get_or_create_multi" // GetOrCreateMulti, Typed's, a batch function's Call
	CallRefresh          = "refresh"             // Refresh, of a key or of a cached function
)

// SpanStart describes a span a region starts.
type SpanStart struct {
	Kind SpanKind
	// Call is the call a SpanCall is of (one of the Call constants); empty
	// for the other kinds.
	Call   string
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

// Tracer starts spans for a region's calls. Set it in region.Config.Tracer;
// github.com/corralcache/corral/extra/corralotel implements it with
// OpenTelemetry.
//
// By default a call that reads a fresh value gets no span: only calls that
// miss, serve a stale value or wait do. Their span begins with the first
// read on a backend that stores bytes (a round trip), after it on one that
// keeps values (a map lookup). A Tracer whose TracesHits is true
// gets a span for every call of GetOrCreate, begun before the first read.
// GetOrCreateMulti and a batch function's Call get one span for all their
// keys, named by the first key in sorted order (SpanStart.Key), on the same
// terms; a cached function's Refresh always creates, so always gets one.
type Tracer interface {
	// StartSpan starts a span as a child of the span ctx holds, if any,
	// and returns a context holding it, which the region passes on to
	// what the span covers. The returned Span must not be nil.
	StartSpan(ctx context.Context, s SpanStart) (context.Context, Span)
	// TracesHits reports whether calls answered by a fresh read get a
	// span too. New asks once.
	TracesHits() bool
}

// Outcome tells how a call of GetOrCreate (or of a cached function) was
// answered; see region.ReportOutcome.
type Outcome int

const (
	// OutcomeHit: a fresh value was read.
	OutcomeHit Outcome = iota + 1
	// OutcomeStale: a stale value was served while another caller
	// regenerates it (or, with BackgroundRegeneration, while the region
	// does).
	OutcomeStale
	// OutcomeCreated: this call's creator ran and produced the value.
	OutcomeCreated
	// OutcomeShared: the value was created by another caller, in this process
	// (waited for) or in another (found when reading again under the lock).
	OutcomeShared
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case OutcomeHit:
		return "hit"
	case OutcomeStale:
		return "stale"
	case OutcomeCreated:
		return "created"
	case OutcomeShared:
		return "shared"
	}
	return "unknown"
}

// BreakerState is the state of a circuit breaker (see region.Breaker).
type BreakerState int32

const (
	// BreakerClosed: calls use the backend.
	BreakerClosed BreakerState = iota
	// BreakerOpen: calls skip the backend until the cooldown ends.
	BreakerOpen
	// BreakerHalfOpen: one call probes the backend; the others skip it.
	BreakerHalfOpen
)

// String names the state.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}
