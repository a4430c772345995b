package memcachereg_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/keyreg/memcachereg"
)

// fakeClient is an in-memory memcachereg.Client that counts round trips.
type fakeClient struct {
	mu    sync.Mutex
	items map[string]memcache.Item
	trips int
}

func newFake() *fakeClient { return &fakeClient{items: make(map[string]memcache.Item)} }

func (f *fakeClient) Get(key string) (*memcache.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trips++
	it, ok := f.items[key]
	if !ok {
		return nil, memcache.ErrCacheMiss
	}
	it.Value = bytes.Clone(it.Value)
	return &it, nil
}

func (f *fakeClient) Add(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trips++
	if _, ok := f.items[it.Key]; ok {
		return memcache.ErrNotStored
	}
	f.items[it.Key] = *it
	return nil
}

func (f *fakeClient) Set(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trips++
	f.items[it.Key] = *it
	return nil
}

func (f *fakeClient) Delete(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trips++
	if _, ok := f.items[key]; !ok {
		return memcache.ErrCacheMiss
	}
	delete(f.items, key)
	return nil
}

func (f *fakeClient) Increment(key string, delta uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trips++
	it, ok := f.items[key]
	if !ok {
		return 0, memcache.ErrCacheMiss
	}
	n, err := strconv.ParseUint(string(it.Value), 10, 64)
	if err != nil {
		return 0, errors.New("memcache: client error: cannot increment or decrement non-numeric value")
	}
	n += delta
	it.Value = strconv.AppendUint(nil, n, 10)
	f.items[key] = it
	return n, nil
}

// roundTrips returns the round trips since the last call.
func (f *fakeClient) roundTrips() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.trips
	f.trips = 0
	return n
}

// clock is a settable time.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func setup(t *testing.T) (*memcachereg.Registry, *fakeClient, *clock) {
	t.Helper()
	f := newFake()
	c := &clock{now: time.UnixMilli(1_700_000_000_000)}
	r, err := memcachereg.New(f, memcachereg.Options{CacheFor: time.Second, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r, f, c
}

func TestNamespaceCostsAndStaleness(t *testing.T) {
	r, f, c := setup(t)
	ctx := context.Background()
	ns := func() string {
		t.Helper()
		s, err := r.Namespace(ctx, "getUser")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got, want := ns(), "getUser#g1700000000000"; got != want {
		t.Fatalf("first Namespace = %q, want %q (a new generation starts at the time in ms)", got, want)
	}
	if n := f.roundTrips(); n != 3 {
		t.Errorf("first Namespace ever: %d round trips, want 3 (get, add, get)", n)
	}
	c.now = c.now.Add(999 * time.Millisecond)
	ns()
	if n := f.roundTrips(); n != 0 {
		t.Errorf("Namespace within CacheFor: %d round trips, want 0", n)
	}
	// Another process bumps the generation; this one sees it once its copy
	// is CacheFor old, with one get.
	other, err := memcachereg.New(f, memcachereg.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ForgetAll(ctx, "getUser"); err != nil {
		t.Fatal(err)
	}
	if n := f.roundTrips(); n != 1 {
		t.Errorf("ForgetAll: %d round trips, want 1 (incr)", n)
	}
	if got := ns(); got != "getUser#g1700000000000" {
		t.Errorf("Namespace within CacheFor of another process's ForgetAll = %q, want the cached generation", got)
	}
	c.now = c.now.Add(time.Millisecond)
	if got := ns(); got != "getUser#g1700000000001" {
		t.Errorf("Namespace after CacheFor = %q, want the new generation", got)
	}
	if n := f.roundTrips(); n != 1 {
		t.Errorf("refreshing Namespace: %d round trips, want 1 (get)", n)
	}
	// ForgetAll in this process is seen here at once, at no extra cost.
	if keys, err := r.ForgetAll(ctx, "getUser"); err != nil || keys != nil {
		t.Fatalf("ForgetAll = %v, %v; want no keys", keys, err)
	}
	if got := ns(); got != "getUser#g1700000000002" {
		t.Errorf("Namespace after this process's ForgetAll = %q", got)
	}
	if n := f.roundTrips(); n != 1 {
		t.Errorf("ForgetAll then Namespace: %d round trips, want 1", n)
	}
}

func TestForgetAllOnMissingGeneration(t *testing.T) {
	r, f, c := setup(t)
	ctx := context.Background()
	if _, err := r.ForgetAll(ctx, "fn"); err != nil {
		t.Fatal(err)
	}
	if n := f.roundTrips(); n != 2 {
		t.Errorf("ForgetAll of a missing generation: %d round trips, want 2 (incr, add)", n)
	}
	ns, err := r.Namespace(ctx, "fn")
	if err != nil {
		t.Fatal(err)
	}
	if want := "fn#g" + strconv.FormatInt(c.now.UnixMilli(), 10); ns != want {
		t.Errorf("Namespace = %q, want %q", ns, want)
	}
}

func TestBadGeneration(t *testing.T) {
	r, f, _ := setup(t)
	ctx := context.Background()
	if _, err := r.Namespace(ctx, "fn"); err != nil {
		t.Fatal(err)
	}
	for k := range f.items {
		f.items[k] = memcache.Item{Key: k, Value: []byte("garbage")}
	}
	r2, err := memcachereg.New(f, memcachereg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Namespace(ctx, "fn"); !errors.Is(err, memcachereg.ErrBadGeneration) {
		t.Errorf("Namespace of a non-numeric generation = %v, want ErrBadGeneration", err)
	}
}

func TestRecords(t *testing.T) {
	r, f, c := setup(t)
	ctx := context.Background()
	recorded := func(fn, key string) bool {
		t.Helper()
		ok, err := r.Recorded(ctx, fn, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := r.Record(ctx, "fn", "fn#g1:42", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.Record(ctx, "fn", "long "+string(make([]byte, 300)), 40*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if !recorded("fn", "fn#g1:42") || !recorded("fn", "long "+string(make([]byte, 300))) {
		t.Fatal("recorded keys not found")
	}
	if recorded("fn", "fn#g1:43") || recorded("other", "fn#g1:42") {
		t.Fatal("an unrecorded (fn, key) pair is reported recorded")
	}
	// (fn, key) pairs whose concatenations agree stay apart.
	if recorded("fn#", "g1:42") {
		t.Fatal("records of different pairs collide")
	}
	var exps []int32
	for _, it := range f.items {
		exps = append(exps, it.Expiration)
		if len(it.Key) > 250 {
			t.Errorf("record key of %d bytes", len(it.Key))
		}
	}
	want := map[int32]bool{3600: true, int32(c.now.Unix() + 40*24*3600): true}
	for _, e := range exps {
		if !want[e] {
			t.Errorf("record expiration %d, want one of %v", e, want)
		}
	}
	if err := r.Forget(ctx, "fn", "fn#g1:42", "never recorded"); err != nil {
		t.Fatal(err)
	}
	if recorded("fn", "fn#g1:42") {
		t.Fatal("forgotten key still recorded")
	}
	if _, err := r.Keys(ctx, "fn"); !errors.Is(err, memcachereg.ErrNotListable) {
		t.Errorf("Keys = %v, want ErrNotListable", err)
	}
}
