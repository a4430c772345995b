package memcachestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/memcachestore"
)

// fakeClient is an in-memory memcachestore.Client that enforces memcached's
// key rules, records expirations, hands out CAS values and fails on demand.
// It does not expire items.
type fakeClient struct {
	mu    sync.Mutex // protects the fields below
	items map[string]memcache.Item
	cas   uint64 // the last CAS value handed out
	fail  error  // returned by every call when set
	calls int    // GetMulti calls
	adds  int    // Add calls
	cases int    // CompareAndSwap calls
}

func newFake() *fakeClient { return &fakeClient{items: make(map[string]memcache.Item)} }

func (f *fakeClient) check(key string) error {
	if f.fail != nil {
		return f.fail
	}
	if !legal(key) {
		return memcache.ErrMalformedKey
	}
	return nil
}

func (f *fakeClient) Get(key string) (*memcache.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(key); err != nil {
		return nil, err
	}
	it, ok := f.items[key]
	if !ok {
		return nil, memcache.ErrCacheMiss
	}
	it.Value = bytes.Clone(it.Value)
	return &it, nil
}

func (f *fakeClient) GetMulti(keys []string) (map[string]*memcache.Item, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	m := make(map[string]*memcache.Item)
	for _, k := range keys {
		it, err := f.Get(k)
		if errors.Is(err, memcache.ErrCacheMiss) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m[k] = it
	}
	return m, nil
}

func (f *fakeClient) Set(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(it.Key); err != nil {
		return err
	}
	f.storeLocked(it)
	return nil
}

// storeLocked stores a copy of it with a new CAS value, or deletes the key
// for a negative expiration, which memcached takes as expired at once.
func (f *fakeClient) storeLocked(it *memcache.Item) {
	f.cas++
	if it.Expiration < 0 {
		delete(f.items, it.Key)
		return
	}
	f.items[it.Key] = memcache.Item{Key: it.Key, Value: bytes.Clone(it.Value), Flags: it.Flags, Expiration: it.Expiration, CasID: f.cas}
}

func (f *fakeClient) Add(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adds++
	if err := f.check(it.Key); err != nil {
		return err
	}
	if _, ok := f.items[it.Key]; ok {
		return memcache.ErrNotStored
	}
	f.storeLocked(it)
	return nil
}

func (f *fakeClient) CompareAndSwap(it *memcache.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cases++
	if err := f.check(it.Key); err != nil {
		return err
	}
	old, ok := f.items[it.Key]
	switch {
	case !ok:
		return memcache.ErrCacheMiss
	case old.CasID != it.CasID:
		return memcache.ErrCASConflict
	}
	f.storeLocked(it)
	return nil
}

func (f *fakeClient) Delete(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(key); err != nil {
		return err
	}
	if _, ok := f.items[key]; !ok {
		return memcache.ErrCacheMiss
	}
	delete(f.items, key)
	return nil
}

func newStore(t *testing.T, c memcachestore.Client, o memcachestore.Options) *memcachestore.Store {
	t.Helper()
	s, err := memcachestore.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name   string
		client memcachestore.Client
		opts   memcachestore.Options
	}{
		{"NilClient", nil, memcachestore.Options{}},
		{"NegativeMaxItemSize", newFake(), memcachestore.Options{MaxItemSize: -1}},
		{"NegativeConcurrency", newFake(), memcachestore.Options{Concurrency: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := memcachestore.New(tc.client, tc.opts); !errors.Is(err, memcachestore.ErrInvalidOptions) {
				t.Fatalf("New = %v, want ErrInvalidOptions", err)
			}
		})
	}
	if _, err := memcachestore.NewServers(); !errors.Is(err, memcachestore.ErrInvalidOptions) {
		t.Errorf("NewServers() = %v, want ErrInvalidOptions", err)
	}
	if _, err := memcachestore.NewServers("no port here"); !errors.Is(err, memcachestore.ErrInvalidOptions) {
		t.Errorf("NewServers(bad address) = %v, want ErrInvalidOptions", err)
	}
}

func TestTooLarge(t *testing.T) {
	f := newFake()
	s := newStore(t, f, memcachestore.Options{MaxItemSize: 1000})
	ctx := context.Background()
	fits := make([]byte, 1000-memcachestore.ItemOverhead-len("k"))
	if err := s.Set(ctx, "k", fits, 0); err != nil {
		t.Fatalf("Set of a value that fits: %v", err)
	}
	err := s.Set(ctx, "k", append(fits, 0), 0)
	if !errors.Is(err, memcachestore.ErrTooLarge) {
		t.Fatalf("Set over the limit = %v, want ErrTooLarge", err)
	}
	want := fmt.Sprintf("memcachestore: value of %d bytes exceeds the item limit", len(fits)+1)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	err = s.SetMulti(ctx, []backend.Item{{Key: "a", Value: []byte("a")}, {Key: "b", Value: make([]byte, 2000)}})
	if !errors.Is(err, memcachestore.ErrTooLarge) {
		t.Fatalf("SetMulti with one item over the limit = %v, want ErrTooLarge", err)
	}
	if got, err := s.Get(ctx, "a"); err != nil || string(got) != "a" {
		t.Errorf("the item that fits was not written by SetMulti: %q, %v", got, err)
	}
}

func TestServerTooLarge(t *testing.T) {
	f := newFake()
	f.fail = errors.New(`memcache: unexpected response line from "set": "SERVER_ERROR object too large for cache\r\n"`)
	s := newStore(t, f, memcachestore.Options{})
	if err := s.Set(context.Background(), "k", []byte("v"), 0); !errors.Is(err, memcachestore.ErrTooLarge) {
		t.Fatalf("Set refused by the server as too large = %v, want ErrTooLarge", err)
	}
}

func TestErrors(t *testing.T) {
	f := newFake()
	s := newStore(t, f, memcachestore.Options{})
	ctx := context.Background()
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want backend.ErrNotFound", err)
	}
	boom := errors.New("connection refused")
	f.fail = boom
	if _, err := s.Get(ctx, "k"); !errors.Is(err, boom) || errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get on a failing server = %v, want the server error", err)
	}
	if _, err := s.GetMulti(ctx, []string{"a", "b"}); !errors.Is(err, boom) {
		t.Errorf("GetMulti on a failing server = %v, want the server error", err)
	}
	if err := s.Set(ctx, "k", nil, 0); !errors.Is(err, boom) {
		t.Errorf("Set on a failing server = %v, want the server error", err)
	}
	if err := s.DeleteMulti(ctx, []string{"a", "b", "c"}); !errors.Is(err, boom) {
		t.Errorf("DeleteMulti on a failing server = %v, want the server error", err)
	}
	f.fail = nil
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(cancelled, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled ctx = %v, want context.Canceled", err)
	}
	if err := s.SetMulti(cancelled, []backend.Item{{Key: "a"}, {Key: "b"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("SetMulti with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestKeysAreMangledEverywhere(t *testing.T) {
	f := newFake()
	s := newStore(t, f, memcachestore.Options{})
	ctx := context.Background()
	bad := "a key with spaces and " + strings.Repeat("x", 300)
	if err := s.Set(ctx, bad, []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if _, ok := f.items[memcachestore.MangleKey(bad)]; !ok {
		t.Fatalf("the value is not stored under MangleKey(key); items: %v", f.items)
	}
	vs, err := s.GetMulti(ctx, []string{bad, "missing", bad})
	if err != nil || string(vs[0]) != "v" || vs[1] != nil || string(vs[2]) != "v" {
		t.Fatalf("GetMulti = %q, %v", vs, err)
	}
	if f.calls != 1 {
		t.Errorf("GetMulti made %d client calls, want 1", f.calls)
	}
	vs[0][0] = 'X'
	if string(vs[2]) != "v" {
		t.Errorf("duplicate keys share one slice")
	}
	if err := s.Delete(ctx, bad); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, bad); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
}

func TestExpirationsSent(t *testing.T) {
	f := newFake()
	now := time.Unix(1_700_000_000, 0)
	s := newStore(t, f, memcachestore.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	err := s.SetMulti(ctx, []backend.Item{
		{Key: "none", Value: []byte("v")},
		{Key: "sub", Value: []byte("v"), TTL: time.Millisecond},
		{Key: "long", Value: []byte("v"), TTL: 60 * 24 * time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"none": 0, "sub": 1, "long": int32(now.Unix() + 60*24*3600)}
	for k, exp := range want {
		if got := f.items[k].Expiration; got != exp {
			t.Errorf("%s: expiration %d, want %d", k, got, exp)
		}
	}
}

// TestConformanceFake runs the backend suite, the conditional subtests
// included, on the fake client (which does not expire items); the
// integration tests run it on memcached.
func TestConformanceFake(t *testing.T) {
	backendtest.RunWith(t, backendtest.RunOptions{SkipTTL: true}, func(t *testing.T) backend.Backend {
		return newStore(t, newFake(), memcachestore.Options{})
	})
}

// TestStaleSetRejected is the interleaving the conditional methods exist
// for: a creator reads a key for update, a writer then writes or deletes it,
// and the creator's SetIf fails, leaving the writer's result.
func TestStaleSetRejected(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	reader, writer := newStore(t, f, memcachestore.Options{}), newStore(t, f, memcachestore.Options{})
	for _, tc := range []struct {
		name  string
		write func(k string) error
		want  string // "": missing
	}{
		{"Set", func(k string) error { return writer.Set(ctx, k, []byte("writer"), 0) }, "writer"},
		{"Delete", func(k string) error { return writer.Delete(ctx, k) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := "stale " + tc.name // mangled
			_, versions, err := reader.GetForUpdate(ctx, []string{k}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.write(k); err != nil {
				t.Fatal(err)
			}
			stored, err := reader.SetIf(ctx, []backend.Item{{Key: k, Value: []byte("reader")}}, versions)
			if err != nil || stored[0] {
				t.Fatalf("reader's SetIf = %v, %v; want not stored", stored, err)
			}
			got, err := reader.Get(ctx, k)
			if tc.want == "" && !errors.Is(err, backend.ErrNotFound) || tc.want != "" && string(got) != tc.want {
				t.Fatalf("Get = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestGetForUpdateCommands: a lease is a gets, one write per distinct key
// (a cas of the same value under a new tag, with the value's remaining TTL,
// or an add of a placeholder under the mangled key, with PlaceholderFlags
// and a second more than the TTL), and a gets that finds the tag.
func TestGetForUpdateCommands(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	now := time.Unix(1_700_000_000, 0)
	s := newStore(t, f, memcachestore.Options{Now: func() time.Time { return now }})
	if err := s.Set(ctx, "hit", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	before := f.items["hit"]
	now = now.Add(10*time.Minute + 30*time.Second + 500*time.Millisecond)
	values, versions, err := s.GetForUpdate(ctx, []string{"hit", "hit"}, time.Minute)
	if err != nil || string(values[0]) != "v" || string(values[1]) != "v" || versions[0] != versions[1] {
		t.Fatalf("GetForUpdate of a hit = %q, %v, %v", values, versions, err)
	}
	if f.calls != 2 || f.adds != 0 || f.cases != 1 {
		t.Fatalf("a hit took %d gets, %d adds and %d cas, want 2, 0 and 1", f.calls, f.adds, f.cases)
	}
	values[0][0] = 'X'
	if string(values[1]) != "v" {
		t.Fatal("a key named twice shares one slice")
	}
	after := f.items["hit"]
	if backend.Version(after.CasID) != versions[0] || after.CasID == before.CasID {
		t.Fatalf("version %d, want the CAS value %d of the re-stored item (was %d)", versions[0], after.CasID, before.CasID)
	}
	// Same value, flags and deadline; the TTL left: 49m29.5s, rounded up.
	if !bytes.Equal(after.Value[:9], before.Value[:9]) || !bytes.Equal(after.Value[17:], before.Value[17:]) ||
		bytes.Equal(after.Value[9:17], before.Value[9:17]) || after.Flags != before.Flags || after.Expiration != 49*60+30 {
		t.Fatalf("re-stored item %+v, was %+v; want the same value and deadline under a new tag, expiration 2970", after, before)
	}
	if v, err := s.Get(ctx, "hit"); err != nil || string(v) != "v" {
		t.Fatalf("Get after a lease = %q, %v", v, err)
	}

	f.calls, f.cases = 0, 0
	miss := "a missing key " + strings.Repeat("x", 300)
	values, versions, err = s.GetForUpdate(ctx, []string{miss, "hit", miss}, 1500*time.Millisecond)
	if err != nil || values[0] != nil || values[2] != nil || versions[0] != versions[2] || string(values[1]) != "v" {
		t.Fatalf("GetForUpdate of a miss = %q, %v, %v", values, versions, err)
	}
	if f.calls != 2 || f.adds != 1 || f.cases != 1 {
		t.Fatalf("a miss and a hit took %d gets, %d adds and %d cas, want 2, 1 and 1", f.calls, f.adds, f.cases)
	}
	it, ok := f.items[memcachestore.MangleKey(miss)]
	if !ok || it.Flags != memcachestore.PlaceholderFlags || len(it.Value) != 17 || it.Value[0] != 0xF6 || it.Expiration != 3 {
		t.Fatalf("placeholder item %+v, %t; want a header alone, PlaceholderFlags, expiration 3 (1.5s rounded up, plus 1)", it, ok)
	}
	if backend.Version(it.CasID) != versions[0] {
		t.Fatalf("version %d, want the placeholder's CAS value %d", versions[0], it.CasID)
	}
	// Reads do not see it.
	if _, err := s.Get(ctx, miss); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of a placeholder = %v, want backend.ErrNotFound", err)
	}
	if vs, err := s.GetMulti(ctx, []string{miss}); err != nil || vs[0] != nil {
		t.Fatalf("GetMulti of a placeholder = %q, %v", vs, err)
	}
	// A second lease replaces it by a new placeholder.
	_, again, err := s.GetForUpdate(ctx, []string{miss}, time.Minute)
	if it := f.items[memcachestore.MangleKey(miss)]; err != nil || again[0] == versions[0] || it.Expiration != 61 {
		t.Fatalf("second lease of a placeholder = %v, %v, item %+v; want a new version, expiration 61", again, err, it)
	}
	stored, err := s.SetIf(ctx, []backend.Item{{Key: miss, Value: []byte("v"), TTL: time.Hour}}, versions[:1])
	if err != nil || stored[0] {
		t.Fatalf("SetIf with the first lease = %v, %v; want not stored", stored, err)
	}
	// SetIf replaces it by a value with flags 0.
	stored, err = s.SetIf(ctx, []backend.Item{{Key: miss, Value: []byte("v"), TTL: time.Hour}}, again)
	if err != nil || !stored[0] {
		t.Fatalf("SetIf = %v, %v", stored, err)
	}
	if it := f.items[memcachestore.MangleKey(miss)]; it.Flags != 0 || string(it.Value[17:]) != "v" || it.Value[0] != 0xF5 || it.Expiration != 3600 {
		t.Fatalf("stored item %+v", it)
	}
}

// TestLeaseTTL: a lease keeps a value's deadline; a value whose deadline has
// passed (memcached may keep it up to a second longer) is leased as a
// missing key; a value without a TTL keeps none.
func TestLeaseTTL(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	now := time.Unix(1_700_000_000, 0)
	s := newStore(t, f, memcachestore.Options{Now: func() time.Time { return now }})
	for k, ttl := range map[string]time.Duration{"forever": 0, "short": 2 * time.Second, "long": 40 * 24 * time.Hour} {
		if err := s.Set(ctx, k, []byte(k), ttl); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Second)
	values, _, err := s.GetForUpdate(ctx, []string{"forever", "short", "long"}, time.Minute)
	if err != nil || string(values[0]) != "forever" || values[1] != nil || string(values[2]) != "long" {
		t.Fatalf("GetForUpdate = %q, %v; want the short value, at its deadline, missing", values, err)
	}
	if it := f.items["forever"]; it.Expiration != 0 {
		t.Fatalf("a value without TTL was re-stored with expiration %d", it.Expiration)
	}
	if it := f.items["short"]; it.Flags != memcachestore.PlaceholderFlags {
		t.Fatalf("a value past its deadline became %+v, want a placeholder", it)
	}
	// Over 30 days: memcached's absolute Unix time, of the same deadline.
	if it, want := f.items["long"], int32(time.Unix(1_700_000_000, 0).Add(40*24*time.Hour).Unix()); it.Expiration != want {
		t.Fatalf("a value of 40 days re-stored with expiration %d, want %d", it.Expiration, want)
	}
}

// overtakingClient lets another lease's cas land between every cas it
// sends and the gets that follows, as a concurrent GetForUpdate can.
type overtakingClient struct {
	*fakeClient
	other *memcachestore.Store
	armed bool
}

func (c *overtakingClient) CompareAndSwap(it *memcache.Item) error {
	if err := c.fakeClient.CompareAndSwap(it); err != nil {
		return err
	}
	if c.armed {
		c.armed = false
		if _, _, err := c.other.GetForUpdate(context.Background(), []string{it.Key}, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// TestLeaseOvertaken: a lease whose write another lease overtakes before it
// is read back gets a version that no longer matches, and the other lease
// stores.
func TestLeaseOvertaken(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	other := newStore(t, f, memcachestore.Options{})
	c := &overtakingClient{fakeClient: f, other: other}
	s := newStore(t, c, memcachestore.Options{})
	if err := s.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	c.armed = true
	values, mine, err := s.GetForUpdate(ctx, []string{"k"}, time.Minute)
	if err != nil || string(values[0]) != "v" {
		t.Fatalf("GetForUpdate = %q, %v", values, err)
	}
	if backend.Version(f.items["k"].CasID) == mine[0] {
		t.Fatalf("an overtaken lease got the live version %d", mine[0])
	}
	if stored, err := s.SetIf(ctx, []backend.Item{{Key: "k", Value: []byte("mine")}}, mine); err != nil || stored[0] {
		t.Fatalf("SetIf of the overtaken lease = %v, %v; want not stored", stored, err)
	}
}

// vanishingClient loses every placeholder right after it is added, as if a
// delete always came between the add and the gets.
type vanishingClient struct{ *fakeClient }

func (c vanishingClient) Add(it *memcache.Item) error {
	if err := c.fakeClient.Add(it); err != nil {
		return err
	}
	return c.fakeClient.Delete(it.Key)
}

// noCASClient hands out no CAS values, as memcached -C does.
type noCASClient struct{ *fakeClient }

func (c noCASClient) GetMulti(keys []string) (map[string]*memcache.Item, error) {
	m, err := c.fakeClient.GetMulti(keys)
	for _, it := range m {
		it.CasID = 0
	}
	return m, err
}

func TestConditionalErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("PlaceholderVanishes", func(t *testing.T) {
		f := newFake()
		s := newStore(t, vanishingClient{f}, memcachestore.Options{})
		if _, _, err := s.GetForUpdate(ctx, []string{"k"}, time.Minute); err == nil {
			t.Fatal("GetForUpdate of a key that never keeps a placeholder succeeded")
		}
		if f.adds != 3 {
			t.Fatalf("%d adds, want 3", f.adds)
		}
	})
	t.Run("NoCAS", func(t *testing.T) {
		s := newStore(t, noCASClient{newFake()}, memcachestore.Options{})
		if _, _, err := s.GetForUpdate(ctx, []string{"k"}, time.Minute); !errors.Is(err, memcachestore.ErrNoCAS) {
			t.Fatalf("GetForUpdate without CAS values = %v, want ErrNoCAS", err)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		s := newStore(t, newFake(), memcachestore.Options{MaxItemSize: 1000})
		_, versions, err := s.GetForUpdate(ctx, []string{"a", "b"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := s.SetIf(ctx, []backend.Item{{Key: "a", Value: make([]byte, 1000)}, {Key: "b", Value: []byte("b")}}, versions)
		if !errors.Is(err, memcachestore.ErrTooLarge) || stored[0] || !stored[1] {
			t.Fatalf("SetIf with one item over the limit = %v, %v; want ErrTooLarge and the other stored", stored, err)
		}
	})
	t.Run("ServerFails", func(t *testing.T) {
		f := newFake()
		s := newStore(t, f, memcachestore.Options{})
		_, versions, err := s.GetForUpdate(ctx, []string{"a"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("connection refused")
		f.fail = boom
		if _, _, err := s.GetForUpdate(ctx, []string{"a"}, time.Minute); !errors.Is(err, boom) {
			t.Errorf("GetForUpdate on a failing server = %v, want its error", err)
		}
		if stored, err := s.SetIf(ctx, []backend.Item{{Key: "a"}}, versions); !errors.Is(err, boom) || stored[0] {
			t.Errorf("SetIf on a failing server = %v, %v; want its error", stored, err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		f.fail = nil
		if _, _, err := s.GetForUpdate(cancelled, []string{"a"}, time.Minute); !errors.Is(err, context.Canceled) {
			t.Errorf("GetForUpdate with a cancelled ctx = %v, want context.Canceled", err)
		}
		if _, err := s.SetIf(cancelled, []backend.Item{{Key: "a"}}, versions); !errors.Is(err, context.Canceled) {
			t.Errorf("SetIf with a cancelled ctx = %v, want context.Canceled", err)
		}
	})
}
