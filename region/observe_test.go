package region_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/region"
)

// obsRecorder is an Observer that keeps everything it is told, per region.
type obsRecorder struct {
	mu       sync.Mutex // protects the fields below
	regions  []string
	events   map[string]map[observe.Event]uint64
	timings  map[string][]string // region → "creator", "lock_wait", "backend:get", ...
	breakers map[string][]string // region → "closed>open", ...
	panicOn  observe.Event       // Event panics for this event, when set
}

func newObsRecorder() *obsRecorder {
	return &obsRecorder{events: map[string]map[observe.Event]uint64{}, timings: map[string][]string{}, breakers: map[string][]string{}}
}

func (rec *obsRecorder) ObserveRegion(name string) observe.RegionObserver {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.regions = append(rec.regions, name)
	if rec.events[name] == nil {
		rec.events[name] = map[observe.Event]uint64{}
	}
	return regionObsRecorder{rec, name}
}

func (rec *obsRecorder) count(name string, e observe.Event) uint64 {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.events[name][e]
}

func (rec *obsRecorder) timingsOf(name string) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.timings[name])
}

func (rec *obsRecorder) breakersOf(name string) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.breakers[name])
}

type regionObsRecorder struct {
	rec  *obsRecorder
	name string
}

func (o regionObsRecorder) Event(e observe.Event, n uint64) {
	o.rec.mu.Lock()
	defer o.rec.mu.Unlock()
	if e == o.rec.panicOn {
		panic("observer bug")
	}
	o.rec.events[o.name][e] += n
}

func (o regionObsRecorder) Timing(t observe.Timing, op string, d time.Duration) {
	o.rec.mu.Lock()
	defer o.rec.mu.Unlock()
	s := t.String()
	if op != "" {
		s += ":" + op
	}
	if d < 0 {
		s += " NEGATIVE"
	}
	o.rec.timings[o.name] = append(o.rec.timings[o.name], s)
}

func (o regionObsRecorder) BreakerChanged(from, to region.BreakerState) {
	o.rec.mu.Lock()
	defer o.rec.mu.Unlock()
	o.rec.breakers[o.name] = append(o.rec.breakers[o.name], from.String()+">"+to.String())
}

// statsEvents pairs each Event with its counter of Stats.
func statsEvents(s region.Stats) map[observe.Event]uint64 {
	return map[observe.Event]uint64{
		observe.EventHit: s.Hits, observe.EventMiss: s.Misses, observe.EventStaleServed: s.StaleServed,
		observe.EventRegeneration: s.Regenerations, observe.EventLockWait: s.LockWaits,
		observe.EventLockWaitTimeout: s.LockWaitTimeouts, observe.EventLockLost: s.LocksLost,
		observe.EventBackendError: s.BackendErrors, observe.EventDecodeError: s.DecodeErrors,
		observe.EventNotCached: s.NotCached, observe.EventSuperseded: s.Superseded,
		observe.EventBackendSkipped: s.BackendSkipped,
		observe.EventEarlyRefresh:   s.EarlyRefreshes,
		observe.EventLockerSkipped:  s.LockerSkipped,
		observe.EventNearHit:        s.NearHits,
		observe.EventNearFlush:      s.NearFlushes,
	}
}

// TestObserverEventsMatchStats: the observer is told of every count of
// Stats as it happens, on both kinds of backend: after a workload that
// makes every cheap-to-provoke counter move, its totals equal Stats, and
// the ones provoked are not zero.
func TestObserverEventsMatchStats(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			rec := newObsRecorder()
			clock := newClock()
			r := newRegion(t, region.Config{
				Backend: newMemory(t, m.serialize), Clock: clock, Expiration: time.Minute, Observer: rec,
				ShouldCache: func(key string, _ any) bool { return key != "uncached" },
			})
			for range 3 {
				_, _ = region.GetOrCreate(ctx, r, "k", constant(1)) // a miss, then hits
			}
			_, _ = region.GetOrCreate(ctx, r, "uncached", constant(2)) // not cached
			_, _, _ = region.Get[string](ctx, r, "k")                  // another type: a decode error, a miss
			clock.Advance(2 * time.Minute)
			_, _ = region.GetOrCreate(ctx, r, "k", constant(3)) // stale: regenerated
			_, _ = region.GetOrCreateMulti(ctx, r, []string{"k", "m1", "m2"}, func(_ context.Context, keys []string) ([]int, error) {
				return make([]int, len(keys)), nil
			})
			want := statsEvents(r.Stats())
			for _, e := range observe.Events() {
				if got := rec.count("test", e); got != want[e] {
					t.Errorf("%s: observer told %d, Stats has %d", e, got, want[e])
				}
			}
			for _, e := range []observe.Event{observe.EventHit, observe.EventMiss, observe.EventRegeneration, observe.EventDecodeError, observe.EventNotCached} {
				if want[e] == 0 {
					t.Errorf("%s: the workload did not provoke it", e)
				}
			}
		})
	}
}

// TestObserverTimings: creator runs and backend operations are timed, by
// op name, on a byte backend; a backend that keeps values has no backend
// timings; no duration is negative.
func TestObserverTimings(t *testing.T) {
	ctx := context.Background()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			rec := newObsRecorder()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Observer: rec})
			_, _ = region.GetOrCreate(ctx, r, "k", constant(1))
			_ = r.Set(ctx, "s", 2)
			_ = r.Delete(ctx, "s")
			got := rec.timingsOf("test")
			want := []string{"creator"}
			if m.serialize {
				// A first read (after the generations), the read under the
				// lock with its lease, the leased store; then Set (which
				// reads the generations first) and Delete.
				want = []string{"backend:read_generations", "backend:get", "backend:read_generations", "backend:get_for_update", "creator", "backend:set_if",
					"backend:read_generations", "backend:set_multi", "backend:delete"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("timings %q, want %q", got, want)
			}
		})
	}
}

// TestObserverLockWaitTiming: a caller that waits for another's creation
// is timed as a lock wait, once, and counted as one.
func TestObserverLockWaitTiming(t *testing.T) {
	ctx := context.Background()
	rec := newObsRecorder()
	r := newRegion(t, region.Config{Observer: rec})
	withWaiter(t, ctx, r, "k", func() { _, _ = region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 2, nil }) })
	got := rec.timingsOf("test")
	slices.Sort(got)
	if want := []string{"creator", "lock_wait"}; !slices.Equal(got, want) {
		t.Errorf("timings %q, want %q", got, want)
	}
	if n := rec.count("test", observe.EventLockWait); n != 1 {
		t.Errorf("lock waits %d, want 1", n)
	}
}

// TestObserverBreakerTransitions: every region sharing a breaker is told
// of each transition of it, whichever region's call made it; a region
// created while the breaker is open is told so at New.
func TestObserverBreakerTransitions(t *testing.T) {
	ctx := context.Background()
	rec := newObsRecorder()
	b := newFaulty(t)
	shared, err := region.NewBreaker(2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := region.Config{Backend: b, Locker: lock.NewLocal(), Breaker: shared, InvalidationRefresh: time.Hour, Logger: quiet, Observer: rec}
	r1, err := region.New("one", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := region.New("two", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	_, _ = region.GetOrCreate(ctx, r1, "warm", constant(1))
	b.down.Store(true)
	_, _ = region.GetOrCreate(ctx, r1, "a", constant(1))
	_, _ = region.GetOrCreate(ctx, r1, "b", constant(1))
	for _, name := range []string{"one", "two"} {
		if got := rec.breakersOf(name); !slices.Equal(got, []string{"closed>open"}) {
			t.Errorf("region %s told %q, want [closed>open]", name, got)
		}
	}
	r3, err := region.New("three", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if got := rec.breakersOf("three"); !slices.Equal(got, []string{"closed>open"}) {
		t.Errorf("a region created while the breaker is open told %q, want [closed>open]", got)
	}
	if n := rec.count("one", observe.EventBackendError); n == 0 || n != r1.Stats().BackendErrors {
		t.Errorf("backend errors told %d, Stats has %d", n, r1.Stats().BackendErrors)
	}
}

// TestObserverPanics: an observer or tracer that panics loses its reports;
// the calls are answered all the same, and the panic is logged once. One
// that panics in ObserveRegion makes New fail with ErrInvalidConfig.
func TestObserverPanics(t *testing.T) {
	ctx := context.Background()
	rec := newObsRecorder()
	rec.panicOn = observe.EventMiss
	logs := newLogCount()
	r := newRegion(t, region.Config{Observer: rec, Tracer: &fakeTracer{panics: true}, Logger: slog.New(logs)})
	for i := range 3 {
		if v, err := region.GetOrCreate(ctx, r, fmt.Sprint(i), constant(i)); err != nil || v != i {
			t.Fatalf("GetOrCreate = %v, %v despite a panicking observer", v, err)
		}
	}
	if n := logs.Count("observer or tracer panicked"); n != 1 {
		t.Errorf("the panic was logged %d times, want once", n)
	}
	if _, err := region.New("bad", region.Config{Observer: panickingObserver{}}); !errors.Is(err, region.ErrInvalidConfig) {
		t.Errorf("New with an observer that panics: %v, want ErrInvalidConfig", err)
	}
	var nilRec *obsRecorder
	if _, err := region.New("nil", region.Config{Observer: nilRec}); !errors.Is(err, region.ErrInvalidConfig) {
		t.Errorf("New with a nil *obsRecorder: %v, want ErrInvalidConfig", err)
	}
}

type panickingObserver struct{}

func (panickingObserver) ObserveRegion(string) observe.RegionObserver { panic("no") }

// fakeTracer records the spans it starts; a span's parent is the span the
// context held.
type fakeTracer struct {
	hits, panics bool

	mu    sync.Mutex // protects spans
	spans []*fakeSpan
}

type fakeSpan struct {
	t       *fakeTracer
	id      int
	parent  int // 0: a root
	start   observe.SpanStart
	ended   bool
	outcome region.Outcome
	err     error
}

type spanKey struct{}

func (ft *fakeTracer) StartSpan(ctx context.Context, s observe.SpanStart) (context.Context, observe.Span) {
	if ft.panics {
		panic("tracer bug")
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	sp := &fakeSpan{t: ft, id: len(ft.spans) + 1, start: s}
	if p, ok := ctx.Value(spanKey{}).(*fakeSpan); ok {
		sp.parent = p.id
	}
	ft.spans = append(ft.spans, sp)
	return context.WithValue(ctx, spanKey{}, sp), sp
}

func (ft *fakeTracer) TracesHits() bool { return ft.hits }

func (sp *fakeSpan) End(o region.Outcome, err error) {
	sp.t.mu.Lock()
	defer sp.t.mu.Unlock()
	if sp.ended {
		panic("span ended twice")
	}
	sp.ended, sp.outcome, sp.err = true, o, err
}

// tree renders the spans as "kind(outcome)" lines indented by depth, in
// start order, with "!" for a span not ended.
func (ft *fakeTracer) tree() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	depth := map[int]int{}
	var b strings.Builder
	for _, sp := range ft.spans {
		depth[sp.id] = depth[sp.parent] + 1
		if sp.parent == 0 {
			depth[sp.id] = 0
		}
		fmt.Fprintf(&b, "%s%s", strings.Repeat("  ", depth[sp.id]), sp.start.Kind)
		if sp.start.Kind == observe.SpanCall {
			fmt.Fprintf(&b, "(%s)", sp.outcome)
		}
		if sp.err != nil {
			fmt.Fprintf(&b, " err")
		}
		if !sp.ended {
			b.WriteString(" !")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestTracerSpans: a call that missed gets a call span, with the creator as
// a child whose context the creator is given; a waiter's call span has its
// lock wait as a child; a hit gets no span unless the tracer traces hits.
func TestTracerSpans(t *testing.T) {
	ctx := context.Background()
	t.Run("miss and hit", func(t *testing.T) {
		ft := &fakeTracer{}
		r := newRegion(t, region.Config{Tracer: ft})
		var inCreator int
		_, _ = region.GetOrCreate(ctx, r, "k", func(ctx context.Context) (int, error) {
			if sp, ok := ctx.Value(spanKey{}).(*fakeSpan); ok && sp.start.Kind == observe.SpanCreate {
				inCreator = sp.id
			}
			return 1, nil
		})
		_, _ = region.GetOrCreate(ctx, r, "k", constant(1))
		if got, want := ft.tree(), "call(created)\n  create\n"; got != want {
			t.Errorf("spans:\n%swant:\n%s", got, want)
		}
		if inCreator != 2 {
			t.Errorf("the creator's context held span %d, want the create span (2)", inCreator)
		}
		if s := ft.spans[0].start; s.Region != "test" || s.Key != "k" {
			t.Errorf("call span start %+v: want region test, key k", s)
		}
	})
	t.Run("hits traced", func(t *testing.T) {
		ft := &fakeTracer{hits: true}
		r := newRegion(t, region.Config{Tracer: ft})
		var o region.Outcome
		_, _ = region.GetOrCreate(ctx, r, "k", constant(1))
		_, _ = region.GetOrCreate(ctx, r, "k", constant(1), region.ReportOutcome(&o))
		if got, want := ft.tree(), "call(created)\n  create\ncall(hit)\n"; got != want {
			t.Errorf("spans:\n%swant:\n%s", got, want)
		}
		if o != region.OutcomeHit {
			t.Errorf("the caller's ReportOutcome got %v, want hit", o)
		}
	})
	t.Run("creator error", func(t *testing.T) {
		ft := &fakeTracer{}
		r := newRegion(t, region.Config{Tracer: ft})
		_, _ = region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 0, errDown })
		if got, want := ft.tree(), "call(unknown) err\n  create err\n"; got != want {
			t.Errorf("spans:\n%swant:\n%s", got, want)
		}
	})
	t.Run("begins with the first read", func(t *testing.T) {
		for _, m := range modes {
			ft := &fakeTracer{}
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Tracer: ft})
			before := time.Now()
			_, _ = region.GetOrCreate(ctx, r, "k", constant(1))
			call := ft.spans[0].start
			if m.serialize && (call.Time.Before(before) || call.Time.After(time.Now())) {
				t.Errorf("%s: the call span begins at %v, want when the call's first read (a round trip) began", m.name, call.Time)
			}
			if !m.serialize && !call.Time.IsZero() {
				t.Errorf("%s: the call span begins at %v, want now (zero)", m.name, call.Time)
			}
		}
	})
	t.Run("waiter", func(t *testing.T) {
		ft := &fakeTracer{}
		r := newRegion(t, region.Config{Tracer: ft})
		withWaiter(t, ctx, r, "k", func() { _, _ = region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 2, nil }) })
		if got, want := ft.tree(), "call(created)\n  create\ncall(shared)\n  lock_wait\n"; got != want {
			t.Errorf("spans:\n%swant:\n%s", got, want)
		}
	})
}

// nopObserver is an observer that does nothing, to measure the hooks.
type nopObserver struct{}

func (nopObserver) ObserveRegion(string) observe.RegionObserver  { return nopObserver{} }
func (nopObserver) Event(observe.Event, uint64)                  {}
func (nopObserver) Timing(observe.Timing, string, time.Duration) {}
func (nopObserver) BreakerChanged(from, to region.BreakerState)  {}
func (nopObserver) StartSpan(ctx context.Context, _ observe.SpanStart) (context.Context, observe.Span) {
	return ctx, nopSpan{}
}
func (nopObserver) TracesHits() bool { return false }

// nopCtxObserver is nopObserver that also takes the calls' contexts.
type nopCtxObserver struct{ nopObserver }

func (nopCtxObserver) ObserveRegion(string) observe.RegionObserver                          { return nopCtxObserver{} }
func (nopCtxObserver) EventContext(context.Context, observe.Event, uint64)                  {}
func (nopCtxObserver) TimingContext(context.Context, observe.Timing, string, time.Duration) {}

type nopSpan struct{}

func (nopSpan) End(region.Outcome, error) {}

// TestObservedHitAllocs: with an Observer (one that takes the calls'
// contexts or not) and a Tracer that does not trace hits, a hit on a fresh
// value still allocates nothing in the region.
func TestObservedHitAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race; scripts/test.sh runs this without them")
	}
	for _, c := range []struct {
		name string
		obs  observe.Observer
	}{{"observer", nopObserver{}}, {"context observer", nopCtxObserver{}}} {
		t.Run(c.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Observer: c.obs, Tracer: nopObserver{}})
			ctx := context.Background()
			if _, err := region.GetOrCreate(ctx, r, "k", constant(1)); err != nil {
				t.Fatal(err)
			}
			create := constant(2)
			if a := testing.AllocsPerRun(1000, func() { _, _ = region.GetOrCreate(ctx, r, "k", create) }); a != 0 {
				t.Errorf("an observed hit allocates %v times, want 0", a)
			}
		})
	}
}

// BenchmarkGetOrCreateHitObserved measures what the hooks cost a hit on
// the memory backend: none set, a no-op Observer, a no-op ContextObserver,
// a no-op Observer and Tracer (hits not traced).
func BenchmarkGetOrCreateHitObserved(b *testing.B) {
	ctx := context.Background()
	keys := benchKeyNames()
	load := func(context.Context) (payload, error) { return payload{ID: 1}, nil }
	for _, c := range []struct {
		name string
		cfg  region.Config
	}{
		{"unset", region.Config{}},
		{"observer", region.Config{Observer: nopObserver{}}},
		{"context observer", region.Config{Observer: nopCtxObserver{}}},
		{"observer+tracer", region.Config{Observer: nopObserver{}, Tracer: nopObserver{}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.Backend = newMemory(b, false)
			r, err := region.New("bench", c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			for _, k := range keys {
				_, _ = region.GetOrCreate(ctx, r, k, load)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_, _ = region.GetOrCreate(ctx, r, keys[i%benchKeys], load)
				i++
			}
		})
	}
}

// ctxObserver is an observe.ContextObserver that records, for each event
// and timing, the caller's mark its context held and the kind of the span
// it held (none: "-").
type ctxObserver struct {
	mu    sync.Mutex // protects the fields below
	got   []string   // "event:miss mark=a span=call", "timing:creator mark=a span=create", ...
	plain int        // calls of Event or Timing, which a ContextObserver must not get
}

type markKey struct{}

var _ observe.ContextObserver = (*ctxObserver)(nil)

func (o *ctxObserver) ObserveRegion(string) observe.RegionObserver { return o }

func (o *ctxObserver) record(ctx context.Context, what string) {
	mark, _ := ctx.Value(markKey{}).(string)
	span := "-"
	if sp, ok := ctx.Value(spanKey{}).(*fakeSpan); ok {
		span = sp.start.Kind.String()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, fmt.Sprintf("%s mark=%s span=%s", what, mark, span))
}

func (o *ctxObserver) EventContext(ctx context.Context, e observe.Event, _ uint64) {
	o.record(ctx, "event:"+e.String())
}

func (o *ctxObserver) TimingContext(ctx context.Context, t observe.Timing, op string, _ time.Duration) {
	what := "timing:" + t.String()
	if op != "" {
		what += ":" + op
	}
	o.record(ctx, what)
}

func (o *ctxObserver) Event(observe.Event, uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.plain++
}

func (o *ctxObserver) Timing(observe.Timing, string, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.plain++
}

func (o *ctxObserver) BreakerChanged(from, to region.BreakerState) {}

// records returns what the observer recorded, and the number of plain
// Event and Timing calls.
func (o *ctxObserver) records() ([]string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got), o.plain
}

// TestContextObserver: an observer that implements observe.ContextObserver
// is given every event and timing with the context of its call — the
// caller's values in it — and never through Event or Timing; with a Tracer,
// a creator run is timed under its create span, a lock wait under its
// lock_wait span, and a traced call's backend operations under the call's
// span.
func TestContextObserver(t *testing.T) {
	t.Run("the caller's context", func(t *testing.T) {
		for _, m := range modes {
			t.Run(m.name, func(t *testing.T) {
				ctx := context.WithValue(context.Background(), markKey{}, "a")
				o := &ctxObserver{}
				r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Observer: o})
				_, _ = region.GetOrCreate(ctx, r, "k", constant(1)) // a miss, a creation
				_, _ = region.GetOrCreate(ctx, r, "k", constant(1)) // a hit
				_, _, _ = region.Get[int](ctx, r, "absent")
				_, _ = region.GetOrCreateMulti(ctx, r, []string{"k", "m"}, func(_ context.Context, keys []string) ([]int, error) {
					return make([]int, len(keys)), nil
				})
				f, err := region.Cache1(r, func(_ context.Context, n int) (int, error) { return n, nil }, region.Named("double"))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.Refresh(ctx, 1)
				got, plain := o.records()
				if plain != 0 {
					t.Errorf("Event or Timing called %d times on a ContextObserver", plain)
				}
				for _, want := range []string{"event:miss", "event:hit", "event:regeneration", "timing:creator"} {
					if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, want+" ") }) {
						t.Errorf("no %s recorded; got %q", want, got)
					}
				}
				for _, s := range got {
					if !strings.Contains(s, " mark=a ") {
						t.Errorf("%s: recorded without the caller's context", s)
					}
				}
			})
		}
	})
	t.Run("under the spans", func(t *testing.T) {
		ctx := context.WithValue(context.Background(), markKey{}, "a")
		o := &ctxObserver{}
		r := newRegion(t, region.Config{Backend: newMemory(t, true), Observer: o, Tracer: &fakeTracer{}})
		withWaiter(t, ctx, r, "k", func() { _, _ = region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 2, nil }) })
		got, _ := o.records()
		for _, want := range []string{
			"timing:creator mark=a span=create",
			"timing:lock_wait mark=a span=lock_wait",
			"timing:backend:set_if mark=a span=call",
			"event:regeneration mark=a span=call",
		} {
			if !slices.Contains(got, want) {
				t.Errorf("no %q; got:\n%s", want, strings.Join(got, "\n"))
			}
		}
	})
}

// TestTracerSpansOfMultiCalls: GetOrCreateMulti, a batch function's Call
// and a cached function's Refresh each get a call span of their own, named
// by their first key in sorted order and ended with how the call was
// answered, with the creator run (or the wait for another caller's) as its
// child; a multi call whose every key is fresh gets none unless the Tracer
// traces hits, on either kind of backend.
func TestTracerSpansOfMultiCalls(t *testing.T) {
	ctx := context.Background()
	zeros := func(_ context.Context, keys []string) ([]int, error) { return make([]int, len(keys)), nil }
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Run("GetOrCreateMulti", func(t *testing.T) {
				ft := &fakeTracer{}
				r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Tracer: ft})
				_, _ = region.GetOrCreateMulti(ctx, r, []string{"b", "a"}, zeros)
				_, _ = region.GetOrCreateMulti(ctx, r, []string{"b", "a"}, zeros) // fresh: no span
				if got, want := ft.tree(), "call(created)\n  create\n"; got != want {
					t.Errorf("spans:\n%swant:\n%s", got, want)
				}
				if s := ft.spans[0].start; s.Kind != observe.SpanCall || s.Call != observe.CallGetOrCreateMulti || s.Key != "a" || s.Region != "test" {
					t.Errorf("call span %+v: want a get_or_create_multi call span of region test, key a", s)
				}
			})
			t.Run("GetOrCreateMulti hits traced", func(t *testing.T) {
				ft := &fakeTracer{hits: true}
				r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Tracer: ft})
				_, _ = region.GetOrCreateMulti(ctx, r, []string{"b", "a"}, zeros)
				_, _ = region.GetOrCreateMulti(ctx, r, []string{"b", "a"}, zeros)
				if got, want := ft.tree(), "call(created)\n  create\ncall(hit)\n"; got != want {
					t.Errorf("spans:\n%swant:\n%s", got, want)
				}
			})
			t.Run("GetOrCreateMulti waiting for another caller", func(t *testing.T) {
				ft := &fakeTracer{}
				r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Tracer: ft})
				withWaiter(t, ctx, r, "a", func() { _, _ = region.GetOrCreateMulti(ctx, r, []string{"a"}, zeros) })
				if got, want := ft.tree(), "call(created)\n  create\ncall(shared)\n  lock_wait\n"; got != want {
					t.Errorf("spans:\n%swant:\n%s", got, want)
				}
			})
			t.Run("CacheBatch", func(t *testing.T) {
				ft := &fakeTracer{}
				r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Tracer: ft})
				f, err := region.CacheBatch(r, func(_ context.Context, ids []int) (map[int]int, error) {
					out := map[int]int{}
					for _, id := range ids {
						out[id] = 2 * id
					}
					return out, nil
				}, region.Named("double"))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.Call(ctx, []int{2, 1})
				_, _ = f.Call(ctx, []int{2, 1}) // fresh: no span
				if got, want := ft.tree(), "call(created)\n  create\n"; got != want {
					t.Errorf("spans:\n%swant:\n%s", got, want)
				}
				k1, _, _ := f.Key(ctx, 1)
				k2, _, _ := f.Key(ctx, 2)
				if s := ft.spans[0].start; s.Kind != observe.SpanCall || s.Call != observe.CallGetOrCreateMulti || s.Key != min(k1, k2) {
					t.Errorf("call span %+v: want a get_or_create_multi call span with key %q", s, min(k1, k2))
				}
			})
			t.Run("Refresh", func(t *testing.T) {
				ft := &fakeTracer{}
				r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Tracer: ft})
				f, err := region.Cache1(r, func(_ context.Context, n int) (int, error) { return 2 * n, nil }, region.Named("double"))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.Call(ctx, 1)
				_, _ = f.Refresh(ctx, 1) // a fresh value, created again all the same
				if got, want := ft.tree(), "call(created)\n  create\ncall(created)\n  create\n"; got != want {
					t.Errorf("spans:\n%swant:\n%s", got, want)
				}
				k, _, _ := f.Key(ctx, 1)
				if s := ft.spans[2].start; s.Kind != observe.SpanCall || s.Call != observe.CallRefresh || s.Key != k {
					t.Errorf("Refresh's span %+v: want a refresh call span with key %q", s, k)
				}
				if s := ft.spans[0].start; s.Call != observe.CallGetOrCreate {
					t.Errorf("the cached function's Call span %+v: want a get_or_create call span", s)
				}
			})
		})
	}
}
