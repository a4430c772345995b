package corralprom_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/extra/corralprom"
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

func constant(v int) func(context.Context) (int, error) {
	return func(context.Context) (int, error) { return v, nil }
}

// TestCounters: the counters of each region are its Stats, labelled by
// region, and the registry accepts the collector (pedantic checks, lint).
func TestCounters(t *testing.T) {
	ctx := context.Background()
	c := corralprom.New(corralprom.Options{ConstLabels: prometheus.Labels{"service": "test"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	users := newRegion(t, "users", region.Config{Observer: c})
	orders := newRegion(t, "orders", region.Config{Observer: c, ShouldCache: func(string, any) bool { return false }})
	for range 3 {
		_, _ = region.GetOrCreate(ctx, users, "u1", constant(1)) // a miss, then two hits
	}
	_, _ = region.GetOrCreate(ctx, users, "u2", constant(2))
	_, _ = region.GetOrCreate(ctx, orders, "o1", constant(3)) // not cached
	_, _, _ = region.Get[string](ctx, users, "u1")            // another type: a decode error, a miss

	want := `
# HELP corral_hits_total Fresh values read.
# TYPE corral_hits_total counter
corral_hits_total{region="orders",service="test"} 0
corral_hits_total{region="users",service="test"} 2
# HELP corral_misses_total Reads that found no usable entry and were not answered by another caller's creation.
# TYPE corral_misses_total counter
corral_misses_total{region="orders",service="test"} 1
corral_misses_total{region="users",service="test"} 3
# HELP corral_regenerations_total Creator calls (one per key for multi creators).
# TYPE corral_regenerations_total counter
corral_regenerations_total{region="orders",service="test"} 1
corral_regenerations_total{region="users",service="test"} 2
# HELP corral_not_cached_total Created values not stored: rejected by ShouldCache or too large.
# TYPE corral_not_cached_total counter
corral_not_cached_total{region="orders",service="test"} 1
corral_not_cached_total{region="users",service="test"} 0
# HELP corral_decode_errors_total Entries that could not be decoded (treated as misses).
# TYPE corral_decode_errors_total counter
corral_decode_errors_total{region="orders",service="test"} 0
corral_decode_errors_total{region="users",service="test"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"corral_hits_total", "corral_misses_total", "corral_regenerations_total", "corral_not_cached_total", "corral_decode_errors_total"); err != nil {
		t.Error(err)
	}
	s := users.Stats()
	if got := counterValue(t, reg, "corral_hits_total", "users"); got != float64(s.Hits) {
		t.Errorf("hits %v, Stats %d", got, s.Hits)
	}
	if got := testutil.CollectAndCount(c, "corral_creator_duration_seconds"); got != 2 {
		t.Errorf("%d creator histograms, want one per region", got)
	}
	if n := histogramCount(t, reg, "corral_creator_duration_seconds", "users"); n != 2 {
		t.Errorf("users: %d creator runs observed, want 2", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestBackendAndBreaker: backend operations are timed by op on a byte
// backend, and the breaker's state and trips follow the breaker.
func TestBackendAndBreaker(t *testing.T) {
	ctx := context.Background()
	c := corralprom.New(corralprom.Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mem, err := memory.New(memory.Options{Serialize: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	b := &switchable{Backend: mem}
	r := newRegion(t, "users", region.Config{Backend: b, Observer: c, BreakerThreshold: 1, BreakerCooldown: time.Hour})
	_, _ = region.GetOrCreate(ctx, r, "k", constant(1))
	if n := histogramCount(t, reg, "corral_backend_duration_seconds", "users", "op", observe.OpGet); n != 1 {
		t.Errorf("%d gets observed, want 1", n)
	}
	if n := histogramCount(t, reg, "corral_backend_duration_seconds", "users", "op", observe.OpSetIf); n != 1 {
		t.Errorf("%d conditional sets observed, want 1", n)
	}
	b.down = true
	_, _ = region.GetOrCreate(ctx, r, "other", constant(2))
	want := `
# HELP corral_breaker_state State of the circuit breaker of the region's backend: 0 closed, 1 open, 2 half-open.
# TYPE corral_breaker_state gauge
corral_breaker_state{region="users"} 1
# HELP corral_breaker_trips_total Times the circuit breaker of the region's backend opened.
# TYPE corral_breaker_trips_total counter
corral_breaker_trips_total{region="users"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "corral_breaker_state", "corral_breaker_trips_total"); err != nil {
		t.Error(err)
	}
	if got, s := counterValue(t, reg, "corral_backend_errors_total", "users"), r.Stats(); got == 0 || got != float64(s.BackendErrors) {
		t.Errorf("backend errors %v, Stats %d", got, s.BackendErrors)
	}
}

// switchable is a byte backend that fails every call once down is set
// (before the region's calls begin, so no lock is needed).
type switchable struct {
	*memory.Backend
	down bool
}

var errDown = errors.New("connection refused")

func (s *switchable) Get(ctx context.Context, k string) ([]byte, error) {
	if s.down {
		return nil, errDown
	}
	return s.Backend.Get(ctx, k)
}

func (s *switchable) GetMulti(ctx context.Context, k []string) ([][]byte, error) {
	if s.down {
		return nil, errDown
	}
	return s.Backend.GetMulti(ctx, k)
}

func (s *switchable) GetForUpdate(ctx context.Context, k []string, ttl time.Duration) ([][]byte, []backend.Version, error) {
	if s.down {
		return nil, nil, errDown
	}
	return s.Backend.GetForUpdate(ctx, k, ttl)
}

// histogramCount returns the sample count of the histogram series of name
// whose labels include region=regionName and the pairs in more.
func histogramCount(t *testing.T, reg *prometheus.Registry, name, regionName string, more ...string) uint64 {
	t.Helper()
	return series(t, reg, name, regionName, more...).GetHistogram().GetSampleCount()
}

// counterValue returns the value of the counter series of name for the
// region.
func counterValue(t *testing.T, reg *prometheus.Registry, name, regionName string) float64 {
	t.Helper()
	return series(t, reg, name, regionName).GetCounter().GetValue()
}

// series returns the gathered series of name whose labels include
// region=regionName and the pairs in more.
func series(t *testing.T, reg *prometheus.Registry, name, regionName string, more ...string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"region": regionName}
	for i := 0; i+1 < len(more); i += 2 {
		want[more[i]] = more[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok {
					if v != l.GetValue() {
						continue metrics
					}
					matched++
				}
			}
			if matched == len(want) {
				return m
			}
		}
	}
	t.Fatalf("no series %s %v", name, want)
	return nil
}

type traceKey struct{}

// TestExemplars: with Options.Exemplar, counts and durations carry the
// labels it makes of their call's context — the caller's, which holds a
// trace ID here — as exemplars; a call whose context makes none records
// none.
func TestExemplars(t *testing.T) {
	c := corralprom.New(corralprom.Options{Exemplar: func(ctx context.Context) prometheus.Labels {
		if id, ok := ctx.Value(traceKey{}).(string); ok {
			return prometheus.Labels{"trace_id": id}
		}
		return nil
	}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	users := newRegion(t, "users", region.Config{Observer: c})
	ctx := context.WithValue(context.Background(), traceKey{}, "4bf92f3577b34da6a3ce929d0e0e4736")
	_, _ = region.GetOrCreate(ctx, users, "u1", constant(1))
	_, _ = region.GetOrCreate(context.Background(), users, "u1", constant(1)) // a hit, no exemplar

	exemplarOf := func(e *dto.Exemplar) string {
		for _, l := range e.GetLabel() {
			if l.GetName() == "trace_id" {
				return l.GetValue()
			}
		}
		return ""
	}
	if got := exemplarOf(series(t, reg, "corral_misses_total", "users").GetCounter().GetExemplar()); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("the miss's exemplar trace_id %q, want the caller's", got)
	}
	if e := series(t, reg, "corral_hits_total", "users").GetCounter().GetExemplar(); e != nil {
		t.Errorf("the hit without a trace has an exemplar %v", e)
	}
	var found bool
	for _, b := range series(t, reg, "corral_creator_duration_seconds", "users").GetHistogram().GetBucket() {
		if e := b.GetExemplar(); e != nil {
			found = true
			if got := exemplarOf(e); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("the creator run's exemplar trace_id %q, want the caller's", got)
			}
		}
	}
	if !found {
		t.Error("the creator run has no exemplar")
	}
	if n := histogramCount(t, reg, "corral_creator_duration_seconds", "users"); n != 1 {
		t.Errorf("creator runs %d, want 1", n)
	}
}
