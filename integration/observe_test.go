package integration_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/region"
)

// obsRecorder is a observe.Observer that keeps what one region tells it.
type obsRecorder struct {
	mu       sync.Mutex // protects the fields below
	events   map[observe.Event]uint64
	ops      map[string]int // backend op → count
	creators int
	breaker  []string
}

func newObsRecorder() *obsRecorder {
	return &obsRecorder{events: map[observe.Event]uint64{}, ops: map[string]int{}}
}

func (o *obsRecorder) ObserveRegion(string) observe.RegionObserver { return o }

func (o *obsRecorder) Event(e observe.Event, n uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events[e] += n
}

func (o *obsRecorder) Timing(t observe.Timing, op string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch t {
	case observe.TimingBackend:
		o.ops[op]++
	case observe.TimingCreator:
		o.creators++
	}
}

func (o *obsRecorder) BreakerChanged(from, to region.BreakerState) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.breaker = append(o.breaker, from.String()+">"+to.String())
}

// TestObserverOnServers: on Redis and memcached, a cached function's miss
// is timed as the backend operations it makes (a read, a leased read, a
// conditional store), every count of Stats reaches the observer, and when
// the server stops the breaker's opening is reported.
func TestObserverOnServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack func(t *testing.T) (func(t *testing.T, cfg region.Config) *region.Region, func())
	}{
		{"redis", func(t *testing.T) (func(*testing.T, region.Config) *region.Region, func()) {
			srv := servers.Redis(t)
			s := newRedisStack(t, redisClient(t, srv.Addr))
			return func(t *testing.T, cfg region.Config) *region.Region { return s.region(t, "obs", cfg) }, srv.Stop
		}},
		{"memcached", func(t *testing.T) (func(*testing.T, region.Config) *region.Region, func()) {
			srv := mcServer(t)
			s := newMCStack(t, memcachereg.Options{}, srv.Addr)
			return func(t *testing.T, cfg region.Config) *region.Region { return s.region(t, "obs", cfg) }, srv.Stop
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			open, stop := tc.stack(t)
			rec := newObsRecorder()
			r := open(t, region.Config{Observer: rec, BreakerThreshold: 2, BreakerCooldown: time.Hour})
			load, err := region.Cache1(r, func(_ context.Context, id int) (int, error) { return id * 10, nil }, region.Named("load"))
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if v, err := load.Call(ctx, 4); err != nil || v != 40 {
					t.Fatalf("Call = %d, %v", v, err)
				}
			}
			rec.mu.Lock()
			ops, creators := rec.ops, rec.creators
			rec.mu.Unlock()
			// A leased read is the Locker's path (GetForUpdate) or the
			// store's lease, which is the lock (Lease); the store under the
			// lease is SetIf, SetIfGrouped or StoreLeased.
			if ops[observe.OpGet] != 2 || ops[observe.OpGetForUpdate]+ops[observe.OpLease] != 1 ||
				ops[observe.OpSetIf]+ops[observe.OpSetIfGrouped]+ops[observe.OpStoreLeased] != 1 || creators != 1 {
				t.Errorf("timed ops %v and %d creator runs; want 2 gets, 1 leased read, 1 conditional store, 1 run", ops, creators)
			}
			stop()
			for i := range 3 {
				_, _ = load.Call(ctx, 100+i) // fail open: the creator's value, uncached
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if !slices.Contains(rec.breaker, "closed>open") {
				t.Errorf("breaker transitions %q, want closed>open once the server stopped", rec.breaker)
			}
			s := r.Stats()
			for e, want := range map[observe.Event]uint64{
				observe.EventHit: s.Hits, observe.EventMiss: s.Misses, observe.EventRegeneration: s.Regenerations,
				observe.EventBackendError: s.BackendErrors, observe.EventBackendSkipped: s.BackendSkipped,
			} {
				if rec.events[e] != want {
					t.Errorf("%s: observer told %d, Stats %d", e, rec.events[e], want)
				}
			}
			if s.BackendErrors == 0 {
				t.Error("no backend error counted after the server stopped")
			}
		})
	}
}
