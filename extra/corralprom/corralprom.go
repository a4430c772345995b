// Package corralprom exports the metrics of corral regions to Prometheus.
//
// A [Collector] is both a [prometheus.Collector] and a [observe.Observer]:
// register it once, and give it to every region as Config.Observer. Every
// series is labelled by region.
//
//	metrics := corralprom.New(corralprom.Options{})
//	prometheus.MustRegister(metrics)
//	users, err := region.New("users", region.Config{Observer: metrics})
//
// The series (with the default namespace "corral"):
//
//	corral_hits_total{region}                   fresh values read (near-cache hits included)
//	corral_misses_total{region}                 reads that found no usable entry and were not answered by another caller's creation
//	corral_shared_total{region}                 calls that found no usable entry and were answered by another caller's creation
//	corral_stale_served_total{region}           stale values served while one regenerates
//	corral_regenerations_total{region}          creator calls
//	corral_early_refreshes_total{region}        creator calls started early by XFetch (early refresh)
//	corral_lock_waits_total{region}             waits for another caller's creation
//	corral_lock_wait_timeouts_total{region}     waits that ended with ErrLockTimeout
//	corral_locks_lost_total{region}             locks that expired or were taken over while held
//	corral_backend_errors_total{region}         failed backend and locker calls
//	corral_decode_errors_total{region}          entries that could not be decoded
//	corral_not_cached_total{region}             created values not stored (ShouldCache, too large)
//	corral_superseded_total{region}             created values not stored: a write overtook them
//	corral_backend_skipped_total{region}        backend calls skipped (breaker open)
//	corral_locker_skipped_total{region}         lock attempts that took the in-process lock (locker's breaker open)
//	corral_near_hits_total{region}              reads answered by the near cache
//	corral_near_flushes_total{region}           times the near cache was emptied (invalidation stream lost or back)
//	corral_tag_invalidations_total{region}      tags invalidated (InvalidateTags)
//	corral_breaker_state{region}                0 closed, 1 open, 2 half-open
//	corral_breaker_trips_total{region}          times the breaker opened
//	corral_creator_duration_seconds{region}     histogram of creator runs
//	corral_lock_wait_duration_seconds{region}   histogram of lock waits
//	corral_backend_duration_seconds{region,op}  histogram of backend operations, by op (observe.OpGet, ...)
//
// The counters are those of region.Stats, counted as they happen. The
// share of reads a region answered from the cache, over five minutes:
//
//	sum by (region) (rate(corral_hits_total[5m]) + rate(corral_stale_served_total[5m]) + rate(corral_shared_total[5m]))
//	  / sum by (region) (rate(corral_hits_total[5m]) + rate(corral_stale_served_total[5m]) + rate(corral_shared_total[5m]) + rate(corral_misses_total[5m]))
//
// With Options.Exemplar, counts and durations carry exemplars (a trace ID)
// made from the context of the call they belong to.
//
// dashboard.json, beside this file, is a Grafana dashboard of these series
// (hit ratio, creator latency, lock waits and timeouts, stale values,
// breakers, the near cache, superseded stores); its test checks every
// query against the series a Collector exports.
//
// This package is its own Go module, so that corral's core does not depend
// on the Prometheus client.
package corralprom

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/region"
)

// Options configures a Collector. The zero Options is ready to use.
type Options struct {
	// Namespace prefixes every metric name. Default: "corral".
	Namespace string
	// ConstLabels are added to every series (e.g. the service's name).
	ConstLabels prometheus.Labels
	// DurationBuckets are the buckets, in seconds, of the creator and lock
	// wait histograms. Default: prometheus.DefBuckets (5 ms to 10 s).
	DurationBuckets []float64
	// BackendBuckets are the buckets, in seconds, of the backend operation
	// histogram. Default: 100 µs to about 1.6 s, doubling.
	BackendBuckets []float64
	// Exemplar, when set, gives the exemplar labels of a count or duration
	// from the context of the call it belongs to (see
	// observe.ContextObserver): typically the trace ID of the span that
	// context holds, read with your tracing library, which this package
	// does not depend on. With OpenTelemetry:
	//
	//	Exemplar: func(ctx context.Context) prometheus.Labels {
	//		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
	//			return prometheus.Labels{"trace_id": sc.TraceID().String()}
	//		}
	//		return nil
	//	},
	//
	// No labels: no exemplar. It is called on hot paths (every hit): keep
	// it cheap. The labels must total at most 128 runes. Prometheus keeps
	// the last exemplar of each counter and histogram bucket, and serves
	// them only in the OpenMetrics format (promhttp.HandlerOpts
	// EnableOpenMetrics). Default: none, and the regions pass the
	// collector no context.
	Exemplar func(context.Context) prometheus.Labels
}

// Collector collects the metrics of the regions it observes. It is safe
// for concurrent use. Regions of the same name share their series.
type Collector struct {
	events   [numEvents]*prometheus.CounterVec
	state    *prometheus.GaugeVec
	trips    *prometheus.CounterVec
	creator  *prometheus.HistogramVec
	lockWait *prometheus.HistogramVec
	backend  *prometheus.HistogramVec
	exemplar func(context.Context) prometheus.Labels // Options.Exemplar
}

var (
	_ prometheus.Collector = (*Collector)(nil)
	_ observe.Observer     = (*Collector)(nil)
)

// numEvents bounds observe.Event values; events past it are ignored.
const numEvents = 32

// metricNames names the counter of each event.
var metricNames = map[observe.Event]struct{ name, help string }{
	observe.EventHit:             {"hits_total", "Fresh values read."},
	observe.EventMiss:            {"misses_total", "Reads that found no usable entry and were not answered by another caller's creation."},
	observe.EventShared:          {"shared_total", "Calls that found no usable entry and were answered by another caller's creation."},
	observe.EventStaleServed:     {"stale_served_total", "Stale values served while another caller regenerated them."},
	observe.EventRegeneration:    {"regenerations_total", "Creator calls (one per key for multi creators)."},
	observe.EventLockWait:        {"lock_waits_total", "Callers that waited for another caller's creation."},
	observe.EventLockWaitTimeout: {"lock_wait_timeouts_total", "Lock waits that ended with ErrLockTimeout."},
	observe.EventLockLost:        {"locks_lost_total", "Locks that expired or were taken over while held."},
	observe.EventBackendError:    {"backend_errors_total", "Failed backend and locker calls."},
	observe.EventDecodeError:     {"decode_errors_total", "Entries that could not be decoded (treated as misses)."},
	observe.EventNotCached:       {"not_cached_total", "Created values not stored: rejected by ShouldCache or too large."},
	observe.EventSuperseded:      {"superseded_total", "Created values not stored because a write of their key overtook them."},
	observe.EventBackendSkipped:  {"backend_skipped_total", "Backend calls not made because the circuit breaker was open."},
	observe.EventEarlyRefresh:    {"early_refreshes_total", "Regenerations started early by XFetch, before the value expired."},
	observe.EventLockerSkipped:   {"locker_skipped_total", "Lock attempts that took the in-process lock because the distributed locker's circuit breaker was open."},
	observe.EventNearHit:         {"near_hits_total", "Reads answered by the near cache without asking the backend."},
	observe.EventNearFlush:       {"near_flushes_total", "Times the near cache was emptied because its invalidation stream was lost or came back."},
	observe.EventTagInvalidation: {"tag_invalidations_total", "Tags invalidated (InvalidateTags): every value carrying one is retired."},
}

// New returns a Collector configured by o. Register it with a
// prometheus.Registerer and set it as Config.Observer of the regions to
// watch.
func New(o Options) *Collector {
	ns := o.Namespace
	if ns == "" {
		ns = "corral"
	}
	durations := o.DurationBuckets
	if len(durations) == 0 {
		durations = prometheus.DefBuckets
	}
	backend := o.BackendBuckets
	if len(backend) == 0 {
		backend = prometheus.ExponentialBuckets(0.0001, 2, 15)
	}
	c := &Collector{exemplar: o.Exemplar}
	for e, m := range metricNames {
		c.events[e] = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: m.name, Help: m.help, ConstLabels: o.ConstLabels,
		}, []string{"region"})
	}
	c.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Name: "breaker_state", ConstLabels: o.ConstLabels,
		Help: "State of the circuit breaker of the region's backend: 0 closed, 1 open, 2 half-open.",
	}, []string{"region"})
	c.trips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "breaker_trips_total", ConstLabels: o.ConstLabels,
		Help: "Times the circuit breaker of the region's backend opened.",
	}, []string{"region"})
	c.creator = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "creator_duration_seconds", ConstLabels: o.ConstLabels, Buckets: durations,
		Help: "Durations of creator runs.",
	}, []string{"region"})
	c.lockWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "lock_wait_duration_seconds", ConstLabels: o.ConstLabels, Buckets: durations,
		Help: "Durations of waits for another caller's creation.",
	}, []string{"region"})
	c.backend = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "backend_duration_seconds", ConstLabels: o.ConstLabels, Buckets: backend,
		Help: "Durations of backend operations, by operation.",
	}, []string{"region", "op"})
	return c
}

func (c *Collector) collectors() []prometheus.Collector {
	out := []prometheus.Collector{c.state, c.trips, c.creator, c.lockWait, c.backend}
	for _, v := range c.events {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

// Describe sends the descriptors of every metric; see prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range c.collectors() {
		x.Describe(ch)
	}
}

// Collect sends every series; see prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, x := range c.collectors() {
		x.Collect(ch)
	}
}

// ObserveRegion returns the observer of the region called name, with its
// series made in advance (at zero), so that reporting to it looks nothing
// up; the backend histogram's series appear with the first operation of
// each kind (a region in memory has none). It is called by region.New.
func (c *Collector) ObserveRegion(name string) observe.RegionObserver {
	o := &regionObserver{
		c:        c,
		name:     name,
		state:    c.state.WithLabelValues(name),
		trips:    c.trips.WithLabelValues(name),
		creator:  c.creator.WithLabelValues(name),
		lockWait: c.lockWait.WithLabelValues(name),
	}
	for e, v := range c.events {
		if v != nil {
			o.events[e] = v.WithLabelValues(name)
		}
	}
	if c.exemplar != nil {
		return &exemplarObserver{regionObserver: o, exemplar: c.exemplar}
	}
	return o
}

type regionObserver struct {
	c                 *Collector
	name              string
	events            [numEvents]prometheus.Counter
	state             prometheus.Gauge
	trips             prometheus.Counter
	creator, lockWait prometheus.Observer
	backend           sync.Map // op → prometheus.Observer
}

func (o *regionObserver) Event(e observe.Event, n uint64) {
	if int(e) < len(o.events) && o.events[e] != nil {
		o.events[e].Add(float64(n))
	}
}

func (o *regionObserver) Timing(t observe.Timing, op string, d time.Duration) {
	if h := o.histogram(t, op); h != nil {
		h.Observe(d.Seconds())
	}
}

// histogram returns the histogram of timings of kind t (and op), or nil.
func (o *regionObserver) histogram(t observe.Timing, op string) prometheus.Observer {
	switch t {
	case observe.TimingCreator:
		return o.creator
	case observe.TimingLockWait:
		return o.lockWait
	case observe.TimingBackend:
		h, ok := o.backend.Load(op)
		if !ok {
			h, _ = o.backend.LoadOrStore(op, o.c.backend.WithLabelValues(o.name, op))
		}
		return h.(prometheus.Observer)
	}
	return nil
}

func (o *regionObserver) BreakerChanged(from, to region.BreakerState) {
	o.state.Set(float64(to))
	if to == region.BreakerOpen && from == region.BreakerClosed {
		o.trips.Inc()
	}
}

// exemplarObserver is a regionObserver that is given each call's context,
// to record exemplars with the labels Options.Exemplar makes of it.
type exemplarObserver struct {
	*regionObserver
	exemplar func(context.Context) prometheus.Labels
}

var _ observe.ContextObserver = (*exemplarObserver)(nil)

// EventContext counts n events of kind e, with an exemplar of ctx.
func (o *exemplarObserver) EventContext(ctx context.Context, e observe.Event, n uint64) {
	if int(e) >= len(o.events) || o.events[e] == nil {
		return
	}
	if l := o.exemplar(ctx); len(l) > 0 {
		if a, ok := o.events[e].(prometheus.ExemplarAdder); ok {
			a.AddWithExemplar(float64(n), l)
			return
		}
	}
	o.events[e].Add(float64(n))
}

// TimingContext observes a duration, with an exemplar of ctx.
func (o *exemplarObserver) TimingContext(ctx context.Context, t observe.Timing, op string, d time.Duration) {
	h := o.histogram(t, op)
	if h == nil {
		return
	}
	if l := o.exemplar(ctx); len(l) > 0 {
		if x, ok := h.(prometheus.ExemplarObserver); ok {
			x.ObserveWithExemplar(d.Seconds(), l)
			return
		}
	}
	h.Observe(d.Seconds())
}
