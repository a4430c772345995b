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
	"github.com/corralcache/corral/backend/memcachestore"
)

// fakeClient is an in-memory memcachestore.Client that enforces memcached's
// key rules, records expirations and fails on demand.
type fakeClient struct {
	mu    sync.Mutex
	items map[string]memcache.Item
	fail  error // returned by every call when set
	calls int   // GetMulti calls
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
	f.items[it.Key] = memcache.Item{Key: it.Key, Value: bytes.Clone(it.Value), Expiration: it.Expiration}
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
