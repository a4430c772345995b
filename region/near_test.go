package region_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/internal/history"
	"github.com/corralcache/corral/internal/history/workload"
	"github.com/corralcache/corral/region"
)

// pushBackend is a byte backend shared by several regions (standing for
// processes) that pushes the keys every write changes to every watcher, as
// Redis's broadcasting tracking does, while push is on. The test delivers
// them synchronously, inside the write, or turns push off to lose them.
type pushBackend struct {
	*memory.Backend
	mu     sync.Mutex
	sinks  map[*watch]struct{}
	noPush bool
}

type watch struct {
	prefix string
	sink   backend.InvalidationSink
}

func newPushBackend(t testing.TB) *pushBackend {
	return &pushBackend{Backend: newMemory(t, true), sinks: map[*watch]struct{}{}}
}

func (b *pushBackend) WatchInvalidations(prefix string, sink backend.InvalidationSink) (func(), error) {
	w := &watch{prefix: prefix, sink: sink}
	b.mu.Lock()
	b.sinks[w] = struct{}{}
	b.mu.Unlock()
	sink.Live(true, nil)
	return func() {
		b.mu.Lock()
		delete(b.sinks, w)
		b.mu.Unlock()
	}, nil
}

// setPush turns delivery on or off.
func (b *pushBackend) setPush(on bool) {
	b.mu.Lock()
	b.noPush = !on
	b.mu.Unlock()
}

// live tells every watcher the stream is lost (false) or back (true).
func (b *pushBackend) live(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.sinks {
		w.sink.Live(on, errors.New("test"))
	}
}

func (b *pushBackend) push(keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.noPush {
		return
	}
	for w := range b.sinks {
		var mine []string
		for _, k := range keys {
			if strings.HasPrefix(k, w.prefix) {
				mine = append(mine, k)
			}
		}
		if len(mine) > 0 {
			w.sink.Invalidate(mine)
		}
	}
}

func (b *pushBackend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	defer b.push(key)
	return b.Backend.Set(ctx, key, value, ttl)
}

func (b *pushBackend) SetMulti(ctx context.Context, items []backend.Item) error {
	defer func() {
		for _, it := range items {
			b.push(it.Key)
		}
	}()
	return b.Backend.SetMulti(ctx, items)
}

func (b *pushBackend) Delete(ctx context.Context, key string) error {
	defer b.push(key)
	return b.Backend.Delete(ctx, key)
}

func (b *pushBackend) DeleteMulti(ctx context.Context, keys []string) error {
	defer b.push(keys...)
	return b.Backend.DeleteMulti(ctx, keys)
}

func (b *pushBackend) SetIf(ctx context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	stored, err := b.Backend.SetIf(ctx, items, versions)
	for i, ok := range stored {
		if ok {
			b.push(items[i].Key)
		}
	}
	return stored, err
}

// gatedGet is one region's view of a shared backend whose Get, once armed,
// reads the value and then waits for the test before answering: a reply in
// flight.
type gatedGet struct {
	backend.Backend
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedGet) arm() {
	g.mu.Lock()
	g.armed, g.entered, g.open = true, make(chan struct{}), make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedGet) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := g.Backend.Get(ctx, key)
	g.mu.Lock()
	armed, entered, open := g.armed, g.entered, g.open
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(entered)
		<-open
	}
	return data, err
}

// The conditional methods and the watch go to the shared backend.
func (g *gatedGet) GetForUpdate(ctx context.Context, keys []string, ttl time.Duration) ([][]byte, []backend.Version, error) {
	return g.Backend.(backend.Conditional).GetForUpdate(ctx, keys, ttl)
}

func (g *gatedGet) SetIf(ctx context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	return g.Backend.(backend.Conditional).SetIf(ctx, items, versions)
}

// gatedPush is a gatedGet of a backend that pushes invalidations.
type gatedPush struct{ *gatedGet }

func (g gatedPush) WatchInvalidations(prefix string, sink backend.InvalidationSink) (func(), error) {
	return g.Backend.(backend.Invalidator).WatchInvalidations(prefix, sink)
}

// nearPair returns two regions ("processes") on one shared backend, each
// with a near cache; b's reads can be held in flight.
func nearPair(t *testing.T, shared backend.Backend, cfg region.Config) (a, b *region.Region, gate *gatedGet) {
	t.Helper()
	if cfg.Near.MaxEntries == 0 {
		cfg.Near.MaxEntries = 1000
	}
	cfg.Backend = shared
	a = newRegion(t, cfg)
	gate = &gatedGet{Backend: shared}
	cfg.Backend = gate
	if _, ok := shared.(backend.Invalidator); ok {
		cfg.Backend = gatedPush{gate}
	}
	b = newRegion(t, cfg)
	return a, b, gate
}

func mustGet(t *testing.T, r *region.Region, key string) string {
	t.Helper()
	v, ok, err := region.Get[string](context.Background(), r, key)
	if err != nil || !ok {
		t.Fatalf("Get(%q) = %q, %v, %v", key, v, ok, err)
	}
	return v
}

func mustSet(t *testing.T, r *region.Region, key, v string) {
	t.Helper()
	if err := r.Set(context.Background(), key, v); err != nil {
		t.Fatal(err)
	}
}

// readers are the two first reads the near cache serves.
var readers = []struct {
	name string
	get  func(ctx context.Context, r *region.Region, key string) (string, error)
}{
	{"Get", func(ctx context.Context, r *region.Region, key string) (string, error) {
		v, ok, err := region.Get[string](ctx, r, key)
		if !ok && err == nil {
			err = errors.New("not found")
		}
		return v, err
	}},
	{"GetOrCreate", func(ctx context.Context, r *region.Region, key string) (string, error) {
		return region.GetOrCreate(ctx, r, key, func(context.Context) (string, error) { return "created", nil })
	}},
}

// readHeld starts read of key in b, waits until its backend read has taken
// the value and is held, and returns a channel with what the read returns
// once the gate opens.
func readHeld(t *testing.T, b *region.Region, gate *gatedGet, key string, read func(context.Context, *region.Region, string) (string, error)) <-chan string {
	t.Helper()
	gate.arm()
	got := make(chan string, 1)
	go func() {
		v, err := read(context.Background(), b, key)
		if err != nil {
			v = "error: " + err.Error()
		}
		got <- v
	}()
	select {
	case <-gate.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the read never reached the backend")
	}
	return got
}

// TestNearInvalidationBeforeInsert is the classic race: process B reads k
// from the backend and gets v1; before B keeps it, A writes v2 and the
// invalidation reaches B. B must not keep v1: its next read returns v2.
func TestNearInvalidationBeforeInsert(t *testing.T) {
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			checkGoroutines(t)
			a, b, gate := nearPair(t, newPushBackend(t), region.Config{})
			mustSet(t, a, "k", "v1")
			got := readHeld(t, b, gate, "k", rd.get) // B's read has v1 in flight
			mustSet(t, a, "k", "v2")                 // A writes; B hears of it
			close(gate.open)
			if v := <-got; v != "v1" {
				t.Fatalf("the held read returned %q, want v1 (it began before the write)", v)
			}
			for range 3 {
				if v, _ := rd.get(context.Background(), b, "k"); v != "v2" {
					t.Fatalf("B read %q after A's write returned and was pushed, want v2", v)
				}
			}
			if s := b.Stats(); s.NearHits < 2 {
				t.Errorf("NearHits = %d, want at least 2 (v2 kept after one remote read)", s.NearHits)
			}
		})
	}
}

// TestNearOwnWrite checks read-your-writes with no push at all: the writer
// drops its copy before Set or Delete returns, and a read of its own that
// was in flight during the write keeps nothing.
func TestNearOwnWrite(t *testing.T) {
	checkGoroutines(t)
	shared := newPushBackend(t)
	shared.setPush(false)
	_, b, gate := nearPair(t, shared, region.Config{Near: region.NearConfig{MaxStaleness: time.Hour}})
	mustSet(t, b, "k", "v1")
	mustGet(t, b, "k")
	if mustGet(t, b, "k") != "v1" || b.Stats().NearHits != 1 {
		t.Fatalf("no near hit: %+v", b.Stats())
	}
	mustSet(t, b, "k", "v2")
	if v := mustGet(t, b, "k"); v != "v2" {
		t.Fatalf("after its own Set, B read %q", v)
	}
	// A read of B's in flight across B's own write keeps nothing.
	mustSet(t, b, "j", "j1")
	got := readHeld(t, b, gate, "j", readers[0].get)
	mustSet(t, b, "j", "j2")
	close(gate.open)
	<-got
	if v := mustGet(t, b, "j"); v != "j2" {
		t.Fatalf("after its own Set, with a read in flight, B read %q", v)
	}
	if err := b.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := region.Get[string](context.Background(), b, "k"); ok {
		t.Fatalf("after its own Delete, B read %q", v)
	}
}

// TestNearStreamLost checks that losing the invalidation stream empties the
// near cache and keeps it off until the stream is back, and that a read in
// flight across the loss keeps nothing.
func TestNearStreamLost(t *testing.T) {
	checkGoroutines(t)
	shared := newPushBackend(t)
	a, b, gate := nearPair(t, shared, region.Config{})
	mustSet(t, a, "k", "v1")
	mustSet(t, a, "j", "j1")
	mustGet(t, b, "k")
	got := readHeld(t, b, gate, "j", readers[0].get) // a read in flight
	shared.live(false)
	flushes := b.Stats().NearFlushes
	shared.setPush(false) // the writes of the outage are lost
	mustSet(t, a, "k", "v2")
	mustSet(t, a, "j", "j2")
	if v := mustGet(t, b, "k"); v != "v2" {
		t.Fatalf("stream lost: B read %q, want v2", v)
	}
	mustGet(t, b, "k")
	if b.Stats().NearHits != 0 {
		t.Fatalf("the near cache served while its stream was lost: %+v", b.Stats())
	}
	shared.setPush(true)
	shared.live(true)
	close(gate.open)
	<-got
	if v := mustGet(t, b, "j"); v != "j2" {
		t.Fatalf("a read in flight across the outage was kept: B read %q, want j2", v)
	}
	if s := b.Stats(); s.NearFlushes != flushes+1 {
		t.Errorf("NearFlushes %d, want %d", s.NearFlushes, flushes+1)
	}
	mustGet(t, b, "k")
	mustGet(t, b, "k")
	if s := b.Stats(); s.NearHits == 0 {
		t.Errorf("the near cache serves nothing after the stream came back: %+v", s)
	}
}

// TestNearMaxStaleness checks the bound of a backend without push: a copy
// is served for MaxStaleness after the read that fetched it began, not
// after it was kept.
func TestNearMaxStaleness(t *testing.T) {
	checkGoroutines(t)
	clock := newClock()
	shared := newMemory(t, true) // no push
	a, b, gate := nearPair(t, shared, region.Config{Clock: clock, Near: region.NearConfig{MaxStaleness: 100 * time.Millisecond}})
	mustSet(t, a, "k", "v1")
	got := readHeld(t, b, gate, "k", readers[1].get)
	clock.Advance(100 * time.Millisecond) // the reply took the whole bound
	close(gate.open)
	<-got
	mustSet(t, a, "k", "v2")
	if v := mustGet(t, b, "k"); v != "v2" {
		t.Fatalf("B served %q, kept past the bound counted from its read", v)
	}
	mustSet(t, a, "k", "v3")
	clock.Advance(99 * time.Millisecond)
	if v := mustGet(t, b, "k"); v != "v2" {
		t.Fatalf("within the bound B read %q, want its copy v2", v)
	}
	clock.Advance(time.Millisecond)
	if v := mustGet(t, b, "k"); v != "v3" {
		t.Fatalf("at the bound B read %q, want v3", v)
	}
}

// TestNearGenerations checks that region-wide invalidation retires near
// copies: at once in the process that invalidated (the copies carry their
// generations), and in another process as soon as the push of the
// generation's key arrives, well before InvalidationRefresh.
func TestNearGenerations(t *testing.T) {
	for _, how := range []region.Invalidation{region.Hard, region.Soft} {
		t.Run(map[region.Invalidation]string{region.Hard: "hard", region.Soft: "soft"}[how], func(t *testing.T) {
			checkGoroutines(t)
			ctx := context.Background()
			a, b, _ := nearPair(t, newPushBackend(t), region.Config{InvalidationRefresh: time.Hour, Stale: region.BlockOnStale})
			n := 0
			create := func(context.Context) (int, error) { n++; return n, nil }
			for _, r := range []*region.Region{a, b} {
				for range 3 {
					if _, err := region.GetOrCreate(ctx, r, "k", create); err != nil {
						t.Fatal(err)
					}
				}
			}
			if a.Stats().NearHits == 0 || b.Stats().NearHits == 0 {
				t.Fatalf("no near hits: %+v %+v", a.Stats(), b.Stats())
			}
			if n != 1 {
				t.Fatalf("created %d times, want 1", n)
			}
			if err := a.Invalidate(ctx, how); err != nil {
				t.Fatal(err)
			}
			// b first: a's new value would be pushed to b.
			for _, r := range []*region.Region{b, a} {
				before := n
				v, err := region.GetOrCreate(ctx, r, "k", create)
				if err != nil {
					t.Fatal(err)
				}
				if v <= 1 || (r == b && v != before+1) {
					t.Fatalf("after Invalidate, read %d (created %d)", v, n)
				}
			}
		})
	}
}

// TestNearLostLease checks that a creation overtaken by a write stores
// nothing and keeps nothing in the near cache: the next read returns the
// write.
func TestNearLostLease(t *testing.T) {
	checkGoroutines(t)
	ctx := context.Background()
	a, b, _ := nearPair(t, newPushBackend(t), region.Config{})
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan string, 1)
	go func() {
		v, _ := region.GetOrCreate(ctx, b, "k", func(context.Context) (string, error) {
			close(started)
			<-release
			return "created-before-the-write", nil
		})
		done <- v
	}()
	<-started
	mustSet(t, a, "k", "written")
	close(release)
	<-done
	for range 2 {
		if v := mustGet(t, b, "k"); v != "written" {
			t.Fatalf("B read %q after the write, want written", v)
		}
	}
	if s := b.Stats(); s.Superseded != 1 {
		t.Errorf("Superseded = %d, want 1", s.Superseded)
	}
}

// TestNearConfig checks that a near cache that cannot work is refused.
func TestNearConfig(t *testing.T) {
	for name, cfg := range map[string]region.Config{
		"negative entries":   {Backend: newMemory(t, true), Near: region.NearConfig{MaxEntries: -1}},
		"negative staleness": {Backend: newMemory(t, true), Near: region.NearConfig{MaxEntries: 1, MaxStaleness: -1}},
		"value backend":      {Near: region.NearConfig{MaxEntries: 1}},
		"key mangler":        {Backend: newMemory(t, true), KeyMangler: strings.ToUpper, Near: region.NearConfig{MaxEntries: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := region.New("x", cfg)
			if !errors.Is(err, region.ErrInvalidConfig) {
				if r != nil {
					_ = r.Close()
				}
				t.Fatalf("err %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestNearHitAllocs checks that a near hit of GetOrCreate allocates nothing
// (without the race detector, as TestGetOrCreateHitAllocs).
func TestNearHitAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race; scripts/test.sh runs this without them")
	}
	r := newRegion(t, region.Config{Backend: newPushBackend(t), Near: region.NearConfig{MaxEntries: 10}})
	ctx := context.Background()
	const key = "a key longer than the tiny allocator"
	create := func(context.Context) (payload, error) { return payload{ID: 1}, nil }
	for range 2 {
		if _, err := region.GetOrCreate(ctx, r, key, create); err != nil {
			t.Fatal(err)
		}
	}
	hits := r.Stats().NearHits
	if a := testing.AllocsPerRun(1000, func() { _, _ = region.GetOrCreate(ctx, r, key, create) }); a != 0 {
		t.Errorf("a near hit allocates %v times, want 0", a)
	}
	if r.Stats().NearHits < hits+1000 {
		t.Errorf("the reads were not near hits: %+v", r.Stats())
	}
}

// TestHistoryNear runs the randomized coherence workload through a region
// with a near cache, and checks the history as TestHistoryInProcess does:
// one process, no lag allowed.
func TestHistoryNear(t *testing.T) {
	checkGoroutines(t)
	// No push: in one process, the drops of its own writes must suffice.
	shared := newPushBackend(t)
	shared.setPush(false)
	r := newRegion(t, region.Config{
		Backend:    shared,
		Near:       region.NearConfig{MaxEntries: 100},
		Expiration: time.Minute, // fresh copies: the near cache answers most reads
		LockWait:   5 * time.Second,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	log := &history.Log{}
	err := workload.Run(ctx, workload.Config{
		Region: r, DB: &workload.MemDB{}, Log: log,
		Goroutines: 8, Ops: 400, Duration: 3 * time.Second,
		Keys: 4, Seed: *historySeed, MaxDelay: 2 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, log.Ops(), history.Options{})
	if r.Stats().NearHits == 0 {
		t.Errorf("the near cache served nothing: %+v", r.Stats())
	}
}

// TestNearNegative: a cached "not found" read from the backend is kept in
// the near cache as a not-found answer (never as a zero value), answered
// from there without the creator, and dropped when another process writes
// the key.
func TestNearNegative(t *testing.T) {
	checkGoroutines(t)
	ctx := context.Background()
	shared := newPushBackend(t)
	a, b, _ := nearPair(t, shared, region.Config{NegativeExpiration: time.Hour, Near: region.NearConfig{MaxStaleness: time.Hour}})
	var calls atomic.Int32
	notFound := func(context.Context) (string, error) {
		calls.Add(1)
		return "", fmt.Errorf("no user 7: %w", region.ErrNotFound)
	}
	if _, err := region.GetOrCreate(ctx, a, "u7", notFound); !errors.Is(err, region.ErrNotFound) {
		t.Fatalf("A's first call: %v, want ErrNotFound", err)
	}
	for i := range 3 { // B: from the backend, then from its near cache
		v, err := region.GetOrCreate(ctx, b, "u7", notFound)
		if !errors.Is(err, region.ErrNotFound) || v != "" {
			t.Fatalf("B's call %d = %q, %v; want the cached ErrNotFound", i, v, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d creator calls, want 1: the not-found answer is cached", n)
	}
	if s := b.Stats(); s.NearHits == 0 {
		t.Fatalf("B never answered from its near cache: %+v", s)
	}
	mustSet(t, a, "u7", "ada")
	waitFor(t, "B to see A's write", func() bool {
		v, err := region.GetOrCreate(ctx, b, "u7", notFound)
		return err == nil && v == "ada"
	})
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d creator calls after the write, want 1", n)
	}
}
