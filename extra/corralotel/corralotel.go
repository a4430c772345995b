// Package corralotel reports corral regions to OpenTelemetry: metrics
// through a [Metrics] (a observe.Observer) and spans through a [Tracer] (a
// observe.Tracer).
//
//	metrics, err := corralotel.NewMetrics()   // the global MeterProvider, or WithMeterProvider
//	tracer := corralotel.NewTracer()          // the global TracerProvider, or WithTracerProvider
//	users, err := region.New("users", region.Config{Observer: metrics, Tracer: tracer})
//
// Instruments (every data point has the attribute corral.region):
//
//	corral.hits, corral.misses, corral.stale_served, corral.regenerations,
//	corral.lock_waits, corral.lock_wait_timeouts, corral.locks_lost,
//	corral.backend_errors, corral.decode_errors, corral.not_cached,
//	corral.superseded, corral.backend_skipped    counters: the counts of region.Stats
//	corral.breaker.state                         gauge: 0 closed, 1 open, 2 half-open
//	corral.breaker.trips                         counter: times the breaker opened
//	corral.creator.duration                      histogram, s
//	corral.lock_wait.duration                    histogram, s
//	corral.backend.duration                      histogram, s, with corral.operation (observe.OpGet, ...)
//
// Every count and duration is recorded with the context of the call it
// belongs to (see observe.ContextObserver): with a Tracer set, a creator
// run's duration carries its create span, a lock wait's its lock_wait
// span, so the SDK's exemplars (on by default for sampled spans; see
// OTEL_METRICS_EXEMPLAR_FILTER) link a slow bucket to its trace.
//
// Spans: a call that missed gets a span — "corral.GetOrCreate" for
// GetOrCreate and a cached function's Call, "corral.GetOrCreateMulti" for
// GetOrCreateMulti and a batch function's Call, "corral.Refresh" for a
// Refresh — with the attributes corral.region and corral.outcome (hit, stale,
// created, shared or error), and children "corral.lock_wait" and
// "corral.create"; the creator runs with the create span's context, so its
// own spans nest under it. Hits get no span unless WithHits is given. Keys may be personal data: spans carry none, nor any
// error message (which may quote a key), unless WithKeys is given; a
// failed span's status says only which kind of error it was.
//
// This package is its own Go module, so that corral's core does not depend
// on OpenTelemetry.
package corralotel

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/region"
)

// ScopeName is the instrumentation scope of the meter and tracer.
const ScopeName = "github.com/corralcache/corral/extra/corralotel"

// Attribute keys.
const (
	RegionKey    = attribute.Key("corral.region")
	OutcomeKey   = attribute.Key("corral.outcome")
	OperationKey = attribute.Key("corral.operation")
	KeyKey       = attribute.Key("corral.key")
	ErrorKindKey = attribute.Key("corral.error")
)

// Option configures NewMetrics and NewTracer.
type Option func(*config)

type config struct {
	mp         metric.MeterProvider
	tp         trace.TracerProvider
	keys, hits bool
}

// WithMeterProvider sets the MeterProvider. Default: otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTracerProvider sets the TracerProvider. Default:
// otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithKeys adds the caller's key (attribute corral.key) to every span, and
// records errors with their messages. Keys may be personal data: turn this
// on only where your traces may hold them.
func WithKeys() Option {
	return func(c *config) { c.keys = true }
}

// WithHits gives calls answered by a fresh read a span too.
func WithHits() Option {
	return func(c *config) { c.hits = true }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	return c
}

// instrumentNames names the counter of each event.
var instrumentNames = map[observe.Event]struct{ name, desc string }{
	observe.EventHit:             {"corral.hits", "Fresh values read."},
	observe.EventMiss:            {"corral.misses", "Reads that found no usable entry and were not answered by another caller's creation."},
	observe.EventShared:          {"corral.shared", "Calls that found no usable entry and were answered by another caller's creation."},
	observe.EventStaleServed:     {"corral.stale_served", "Stale values served while another caller regenerated them."},
	observe.EventRegeneration:    {"corral.regenerations", "Creator calls (one per key for multi creators)."},
	observe.EventLockWait:        {"corral.lock_waits", "Callers that waited for another caller's creation."},
	observe.EventLockWaitTimeout: {"corral.lock_wait_timeouts", "Lock waits that ended with ErrLockTimeout."},
	observe.EventLockLost:        {"corral.locks_lost", "Locks that expired or were taken over while held."},
	observe.EventBackendError:    {"corral.backend_errors", "Failed backend and locker calls."},
	observe.EventDecodeError:     {"corral.decode_errors", "Entries that could not be decoded (treated as misses)."},
	observe.EventNotCached:       {"corral.not_cached", "Created values not stored: rejected by ShouldCache or too large."},
	observe.EventSuperseded:      {"corral.superseded", "Created values not stored because a write of their key overtook them."},
	observe.EventBackendSkipped:  {"corral.backend_skipped", "Backend calls not made because the circuit breaker was open."},
	observe.EventEarlyRefresh:    {"corral.early_refreshes", "Regenerations started early by XFetch, before the value expired."},
	observe.EventLockerSkipped:   {"corral.locker_skipped", "Lock attempts that took the in-process lock because the distributed locker's circuit breaker was open."},
	observe.EventNearHit:         {"corral.near_hits", "Reads answered by the near cache without asking the backend."},
	observe.EventNearFlush:       {"corral.near_flushes", "Times the near cache was emptied because its invalidation stream was lost or came back."},
	observe.EventTagInvalidation: {"corral.tag_invalidations", "Tags invalidated (InvalidateTags): every value carrying one is retired."},
}

// numEvents bounds observe.Event values; events past it are ignored.
const numEvents = 32

// Metrics records regions' metrics with OpenTelemetry instruments. It is
// a observe.Observer: set it as Config.Observer. It is safe for concurrent
// use; regions of the same name share their data points.
type Metrics struct {
	events                      [numEvents]metric.Int64Counter
	state                       metric.Int64Gauge
	trips                       metric.Int64Counter
	creator, lockWait, backends metric.Float64Histogram
}

var _ observe.Observer = (*Metrics)(nil)

// NewMetrics makes the instruments with the MeterProvider of the options.
// Errors are the meter's.
func NewMetrics(opts ...Option) (*Metrics, error) {
	c := newConfig(opts)
	meter := c.mp.Meter(ScopeName)
	m := &Metrics{}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for e, n := range instrumentNames {
		var err error
		m.events[e], err = meter.Int64Counter(n.name, metric.WithDescription(n.desc), metric.WithUnit("{event}"))
		add(err)
	}
	var err error
	m.state, err = meter.Int64Gauge("corral.breaker.state",
		metric.WithDescription("State of the circuit breaker of the region's backend: 0 closed, 1 open, 2 half-open."))
	add(err)
	m.trips, err = meter.Int64Counter("corral.breaker.trips",
		metric.WithDescription("Times the circuit breaker of the region's backend opened."), metric.WithUnit("{trip}"))
	add(err)
	m.creator, err = meter.Float64Histogram("corral.creator.duration",
		metric.WithDescription("Durations of creator runs."), metric.WithUnit("s"))
	add(err)
	m.lockWait, err = meter.Float64Histogram("corral.lock_wait.duration",
		metric.WithDescription("Durations of waits for another caller's creation."), metric.WithUnit("s"))
	add(err)
	m.backends, err = meter.Float64Histogram("corral.backend.duration",
		metric.WithDescription("Durations of backend operations, by operation."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
	add(err)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// backendOps are the backend operations whose attribute sets are made in
// advance.
var backendOps = []string{
	observe.OpGet, observe.OpGetMulti, observe.OpSetMulti, observe.OpSetGrouped,
	observe.OpGetForUpdate, observe.OpSetIf, observe.OpSetIfGrouped, observe.OpDelete,
	observe.OpReadGens, observe.OpBumpGeneration,
}

// ObserveRegion returns the observer of the region called name, with its
// attribute sets made in advance. It is called by region.New, which also
// records the breaker's state as closed.
func (m *Metrics) ObserveRegion(name string) observe.RegionObserver {
	set := attribute.NewSet(RegionKey.String(name))
	o := &regionMetrics{
		m:       m,
		name:    name,
		add:     []metric.AddOption{metric.WithAttributeSet(set)},
		record:  []metric.RecordOption{metric.WithAttributeSet(set)},
		backend: make(map[string][]metric.RecordOption, len(backendOps)),
	}
	for _, op := range backendOps {
		o.backend[op] = o.backendOption(op)
	}
	m.state.Record(context.Background(), int64(region.BreakerClosed), o.record...)
	return o
}

type regionMetrics struct {
	m       *Metrics
	name    string
	add     []metric.AddOption
	record  []metric.RecordOption
	backend map[string][]metric.RecordOption // read-only after ObserveRegion
}

func (o *regionMetrics) backendOption(op string) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(RegionKey.String(o.name), OperationKey.String(op)))}
}

var _ observe.ContextObserver = (*regionMetrics)(nil)

// Event records an event that belongs to no call; see EventContext.
func (o *regionMetrics) Event(e observe.Event, n uint64) {
	o.EventContext(context.Background(), e, n)
}

// EventContext records an event with the context of its call, so that the
// SDK can attach the call's span to it as an exemplar.
func (o *regionMetrics) EventContext(ctx context.Context, e observe.Event, n uint64) {
	if int(e) < len(o.m.events) && o.m.events[e] != nil {
		o.m.events[e].Add(ctx, int64(n), o.add...)
	}
}

// Timing records a duration that belongs to no call; see TimingContext.
func (o *regionMetrics) Timing(t observe.Timing, op string, d time.Duration) {
	o.TimingContext(context.Background(), t, op, d)
}

// TimingContext records a duration with the context of its call, so that
// the SDK can attach the call's span (a creator run's: its create span) to
// it as an exemplar.
func (o *regionMetrics) TimingContext(ctx context.Context, t observe.Timing, op string, d time.Duration) {
	switch t {
	case observe.TimingCreator:
		o.m.creator.Record(ctx, d.Seconds(), o.record...)
	case observe.TimingLockWait:
		o.m.lockWait.Record(ctx, d.Seconds(), o.record...)
	case observe.TimingBackend:
		opts, ok := o.backend[op]
		if !ok {
			opts = o.backendOption(op)
		}
		o.m.backends.Record(ctx, d.Seconds(), opts...)
	}
}

func (o *regionMetrics) BreakerChanged(from, to region.BreakerState) {
	ctx := context.Background()
	o.m.state.Record(ctx, int64(to), o.record...)
	if from == region.BreakerClosed && to == region.BreakerOpen {
		o.m.trips.Add(ctx, 1, o.add...)
	}
}

// Tracer starts OpenTelemetry spans for regions' calls. It is a
// observe.Tracer: set it as Config.Tracer.
type Tracer struct {
	tracer     trace.Tracer
	keys, hits bool
}

var _ observe.Tracer = (*Tracer)(nil)

// NewTracer returns a Tracer on the TracerProvider of the options.
func NewTracer(opts ...Option) *Tracer {
	c := newConfig(opts)
	return &Tracer{tracer: c.tp.Tracer(ScopeName), keys: c.keys, hits: c.hits}
}

// Span names, by kind, and for a call by the call it is of.
const (
	CallSpanName      = "corral.GetOrCreate"
	MultiCallSpanName = "corral.GetOrCreateMulti"
	RefreshSpanName   = "corral.Refresh"
	LockWaitSpanName  = "corral.lock_wait"
	CreateSpanName    = "corral.create"
)

// StartSpan starts a span for s; see observe.Tracer.
func (t *Tracer) StartSpan(ctx context.Context, s observe.SpanStart) (context.Context, observe.Span) {
	name := CallSpanName
	switch {
	case s.Kind == observe.SpanLockWait:
		name = LockWaitSpanName
	case s.Kind == observe.SpanCreate:
		name = CreateSpanName
	case s.Call == observe.CallGetOrCreateMulti:
		name = MultiCallSpanName
	case s.Call == observe.CallRefresh:
		name = RefreshSpanName
	}
	attrs := []attribute.KeyValue{RegionKey.String(s.Region)}
	if t.keys {
		attrs = append(attrs, KeyKey.String(s.Key))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...)}
	if !s.Time.IsZero() {
		opts = append(opts, trace.WithTimestamp(s.Time))
	}
	ctx, sp := t.tracer.Start(ctx, name, opts...)
	return ctx, span{sp: sp, call: s.Kind == observe.SpanCall, messages: t.keys}
}

// TracesHits reports whether WithHits was given.
func (t *Tracer) TracesHits() bool { return t.hits }

type span struct {
	sp       trace.Span
	call     bool
	messages bool // errors are recorded with their messages
}

func (s span) End(o region.Outcome, err error) {
	if err != nil {
		kind := ErrorKind(err)
		s.sp.SetAttributes(ErrorKindKey.String(kind))
		if s.messages {
			s.sp.RecordError(err)
			s.sp.SetStatus(codes.Error, err.Error())
		} else {
			s.sp.SetStatus(codes.Error, kind)
		}
	}
	if s.call {
		outcome := "error"
		if err == nil {
			outcome = o.String()
		}
		s.sp.SetAttributes(OutcomeKey.String(outcome))
	}
	s.sp.End()
}

// ErrorKind names the kind of a region's error without its message (which
// may quote a key): "lock_timeout", "backend", "closed", "panic",
// "canceled", "deadline_exceeded", "type_mismatch", or "creator" for any
// other (the creator's own errors).
func ErrorKind(err error) string {
	var pe *region.PanicError
	switch {
	case errors.Is(err, region.ErrLockTimeout):
		return "lock_timeout"
	case errors.Is(err, region.ErrBackend):
		return "backend"
	case errors.Is(err, region.ErrClosed):
		return "closed"
	case errors.As(err, &pe):
		return "panic"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, region.ErrTypeMismatch):
		return "type_mismatch"
	}
	return "creator"
}
