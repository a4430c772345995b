package corralotel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/extra/corralotel"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/region"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newRegion(t *testing.T, name string, cfg region.Config) *region.Region {
	t.Helper()
	cfg.Logger = quiet
	r, err := region.New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// byteMemory is a memory backend that keeps serialized copies, as Redis
// would: its reads and writes are timed backend operations.
func byteMemory(t *testing.T) *memory.Backend {
	t.Helper()
	mem, err := memory.New(memory.Options{Serialize: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	return mem
}

func constant(v int) func(context.Context) (int, error) {
	return func(context.Context) (int, error) { return v, nil }
}

// collect reads every metric from the reader, by instrument name.
func collect(t *testing.T, rd sdkmetric.Reader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != corralotel.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, corralotel.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// sumOf returns the counter's value for the attribute set attrs.
func sumOf(t *testing.T, data map[string]metricdata.Aggregation, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	s, ok := data[name].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: %T, want an int64 sum", name, data[name])
	}
	want := attribute.NewSet(attrs...)
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	return 0
}

// histogramCount returns the histogram's count for the attribute set attrs.
func histogramCount(t *testing.T, data map[string]metricdata.Aggregation, name string, attrs ...attribute.KeyValue) uint64 {
	t.Helper()
	h, ok := data[name].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T, want a float64 histogram", name, data[name])
	}
	want := attribute.NewSet(attrs...)
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Count
		}
	}
	return 0
}

// TestMetrics: the counters are the regions' Stats, by corral.region;
// creator runs and backend operations land in their histograms; the
// breaker gauge starts closed.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { _ = mp.Shutdown(ctx) })
	m, err := corralotel.NewMetrics(corralotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	mem := byteMemory(t)
	users := newRegion(t, "users", region.Config{Observer: m, Backend: mem})
	orders := newRegion(t, "orders", region.Config{Observer: m})
	for range 3 {
		_, _ = region.GetOrCreate(ctx, users, "u1", constant(1))
	}
	_, _ = region.GetOrCreate(ctx, orders, "o1", constant(2))

	data := collect(t, rd)
	u, o := corralotel.RegionKey.String("users"), corralotel.RegionKey.String("orders")
	s := users.Stats()
	for name, want := range map[string]int64{"corral.hits": int64(s.Hits), "corral.misses": int64(s.Misses), "corral.regenerations": int64(s.Regenerations)} {
		if got := sumOf(t, data, name, u); got != want {
			t.Errorf("%s{users} = %d, Stats %d", name, got, want)
		}
	}
	if s.Hits != 2 || s.Misses != 1 {
		t.Errorf("users Stats %+v, want 2 hits and 1 miss", s)
	}
	if got := sumOf(t, data, "corral.misses", o); got != 1 {
		t.Errorf("corral.misses{orders} = %d, want 1", got)
	}
	if got := histogramCount(t, data, "corral.creator.duration", u); got != 1 {
		t.Errorf("creator runs of users %d, want 1", got)
	}
	if got := histogramCount(t, data, "corral.backend.duration", u, corralotel.OperationKey.String(observe.OpGet)); got != 3 {
		t.Errorf("gets of users %d, want one per call (3)", got)
	}
	if got := histogramCount(t, data, "corral.backend.duration", o, corralotel.OperationKey.String(observe.OpGet)); got != 0 {
		t.Errorf("gets of the in-memory orders %d, want none", got)
	}
	g, ok := data["corral.breaker.state"].(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 2 {
		t.Fatalf("breaker state %+v, want a gauge per region", data["corral.breaker.state"])
	}
	for _, dp := range g.DataPoints {
		if dp.Value != int64(region.BreakerClosed) {
			t.Errorf("breaker state %v = %d, want closed", dp.Attributes, dp.Value)
		}
	}
}

// TestExemplars: counts and durations are recorded with their call's
// context, so the SDK attaches the call's span to them as exemplars: the
// creator's duration carries its create span, and the miss and the leased
// store carry spans of the caller's trace.
func TestExemplars(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd), sdkmetric.WithExemplarFilter(exemplar.TraceBasedFilter))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()); _ = tp.Shutdown(context.Background()) })
	m, err := corralotel.NewMetrics(corralotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	mem := byteMemory(t)
	r := newRegion(t, "users", region.Config{Observer: m, Tracer: corralotel.NewTracer(corralotel.WithTracerProvider(tp)), Backend: mem})

	ctx, request := tp.Tracer("test").Start(context.Background(), "request")
	var create trace.SpanContext
	_, err = region.GetOrCreate(ctx, r, "u1", func(ctx context.Context) (int, error) {
		create = trace.SpanContextFromContext(ctx)
		return 1, nil
	})
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	traceID := request.SpanContext().TraceID()

	data := collect(t, rd)
	u := corralotel.RegionKey.String("users")
	h, ok := data["corral.creator.duration"].(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 1 {
		t.Fatalf("corral.creator.duration %+v, want one data point", data["corral.creator.duration"])
	}
	if ex := h.DataPoints[0].Exemplars; len(ex) != 1 || [16]byte(ex[0].TraceID) != traceID || [8]byte(ex[0].SpanID) != create.SpanID() {
		t.Errorf("creator duration exemplars %+v, want one in trace %s, span %s (the create span)", ex, traceID, create.SpanID())
	}
	misses, ok := data["corral.misses"].(metricdata.Sum[int64])
	if !ok || len(misses.DataPoints) != 1 {
		t.Fatalf("corral.misses %+v, want one data point", data["corral.misses"])
	}
	if ex := misses.DataPoints[0].Exemplars; len(ex) != 1 || [16]byte(ex[0].TraceID) != traceID {
		t.Errorf("miss exemplars %+v, want one in trace %s", ex, traceID)
	}
	backend, ok := data["corral.backend.duration"].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("corral.backend.duration %T", data["corral.backend.duration"])
	}
	want := attribute.NewSet(u, corralotel.OperationKey.String(observe.OpSetIf))
	found := false
	for _, dp := range backend.DataPoints {
		if dp.Attributes.Equals(&want) {
			found = true
			if len(dp.Exemplars) != 1 || [16]byte(dp.Exemplars[0].TraceID) != traceID {
				t.Errorf("set_if exemplars %+v, want one in trace %s", dp.Exemplars, traceID)
			}
		}
	}
	if !found {
		t.Errorf("no set_if timing")
	}
}

// spans runs fn on a region traced into a span recorder and returns the
// ended spans.
func spans(t *testing.T, opts []corralotel.Option, fn func(r *region.Region)) []sdktrace.ReadOnlySpan {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := corralotel.NewTracer(append(opts, corralotel.WithTracerProvider(tp))...)
	fn(newRegion(t, "users", region.Config{Tracer: tr}))
	return sr.Ended()
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) (string, bool) {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value.Emit(), true
		}
	}
	return "", false
}

// TestTracingCallNames: GetOrCreateMulti and Refresh name their spans
// apart from GetOrCreate's.
func TestTracingCallNames(t *testing.T) {
	ctx := context.Background()
	got := spans(t, nil, func(r *region.Region) {
		_, _ = region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, func(_ context.Context, keys []string) ([]int, error) {
			return make([]int, len(keys)), nil
		})
		f, err := region.Cache1(r, func(_ context.Context, n int) (int, error) { return n, nil }, region.Named("f"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Refresh(ctx, 1)
	})
	var calls []string
	for _, s := range got {
		if s.Name() != corralotel.CreateSpanName {
			calls = append(calls, s.Name())
		}
	}
	if want := []string{corralotel.MultiCallSpanName, corralotel.RefreshSpanName}; !slices.Equal(calls, want) {
		t.Errorf("call spans %v, want %v", calls, want)
	}
}

// TestTracing: a call that missed has a span with the region and outcome,
// and a create child under which the creator's own spans nest; no key by
// default; a hit has no span unless WithHits; WithKeys adds the key.
func TestTracing(t *testing.T) {
	ctx := context.Background()
	t.Run("miss then hit", func(t *testing.T) {
		var inCreator trace.SpanID
		got := spans(t, nil, func(r *region.Region) {
			_, _ = region.GetOrCreate(ctx, r, "user:42", func(ctx context.Context) (int, error) {
				inCreator = trace.SpanFromContext(ctx).SpanContext().SpanID()
				return 1, nil
			})
			_, _ = region.GetOrCreate(ctx, r, "user:42", constant(1))
		})
		if len(got) != 2 {
			t.Fatalf("%d spans, want the call and its create child: %v", len(got), names(got))
		}
		create, call := got[0], got[1]
		if call.Name() != corralotel.CallSpanName || create.Name() != corralotel.CreateSpanName {
			t.Fatalf("spans %v", names(got))
		}
		if create.Parent().SpanID() != call.SpanContext().SpanID() {
			t.Error("the create span is not a child of the call span")
		}
		if inCreator != create.SpanContext().SpanID() {
			t.Error("the creator's context does not hold the create span: its own spans would not nest under it")
		}
		if v, _ := attr(call, corralotel.RegionKey); v != "users" {
			t.Errorf("region %q", v)
		}
		if v, _ := attr(call, corralotel.OutcomeKey); v != "created" {
			t.Errorf("outcome %q, want created", v)
		}
		for _, s := range got {
			if _, ok := attr(s, corralotel.KeyKey); ok {
				t.Errorf("span %s holds the key without WithKeys", s.Name())
			}
		}
	})
	t.Run("hits and keys", func(t *testing.T) {
		got := spans(t, []corralotel.Option{corralotel.WithHits(), corralotel.WithKeys()}, func(r *region.Region) {
			_, _ = region.GetOrCreate(ctx, r, "user:42", constant(1))
			_, _ = region.GetOrCreate(ctx, r, "user:42", constant(1))
		})
		if len(got) != 3 {
			t.Fatalf("%d spans, want 3: %v", len(got), names(got))
		}
		hit := got[2]
		if v, _ := attr(hit, corralotel.OutcomeKey); v != "hit" {
			t.Errorf("outcome %q, want hit", v)
		}
		if v, _ := attr(hit, corralotel.KeyKey); v != "user:42" {
			t.Errorf("key %q, want user:42 with WithKeys", v)
		}
	})
	t.Run("error without message", func(t *testing.T) {
		secret := errors.New("no row for alice@example.com")
		got := spans(t, nil, func(r *region.Region) {
			_, _ = region.GetOrCreate(ctx, r, "k", func(context.Context) (int, error) { return 0, secret })
		})
		call := got[len(got)-1]
		if call.Status().Code != codes.Error || call.Status().Description != "creator" {
			t.Errorf("status %+v, want an error described only as creator", call.Status())
		}
		if v, _ := attr(call, corralotel.OutcomeKey); v != "error" {
			t.Errorf("outcome %q, want error", v)
		}
		for _, s := range got {
			if len(s.Events()) != 0 {
				t.Errorf("span %s recorded %v: error messages may hold personal data", s.Name(), s.Events())
			}
		}
	})
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func TestErrorKind(t *testing.T) {
	for err, want := range map[error]string{
		region.ErrLockTimeout:    "lock_timeout",
		region.ErrBackend:        "backend",
		context.Canceled:         "canceled",
		errors.New("not found"):  "creator",
		&region.PanicError{}:     "panic",
		region.ErrTypeMismatch:   "type_mismatch",
		context.DeadlineExceeded: "deadline_exceeded",
	} {
		if got := corralotel.ErrorKind(err); got != want {
			t.Errorf("ErrorKind(%v) = %q, want %q", err, got, want)
		}
	}
}
