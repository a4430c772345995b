package integration_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/integration/internal/faultproxy"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/lock/memcachelocker"
)

// rtCounter counts the round trips to a set of servers, each behind a
// counting proxy.
type rtCounter struct{ proxies []*faultproxy.Proxy }

// newRTServers starts n memcached behind counting proxies and returns the
// proxies' addresses.
func newRTServers(t *testing.T, n int) (*rtCounter, []string) {
	t.Helper()
	c := &rtCounter{}
	var addrs []string
	for range n {
		p := faultproxy.Start(t, mcServer(t).Addr)
		c.proxies = append(c.proxies, p)
		addrs = append(addrs, p.Addr)
	}
	return c, addrs
}

func (c *rtCounter) reset() {
	for _, p := range c.proxies {
		p.ResetRoundTrips()
	}
}

// perServer returns the most round trips one server saw, and the total.
func (c *rtCounter) perServer() (most, total int64) {
	for _, p := range c.proxies {
		n := p.RoundTrips()
		most, total = max(most, n), total+n
	}
	return most, total
}

// roundTrip is one path measured by TestMemcachedRoundTrips.
type roundTrip struct {
	name string
	// meta and text are the round trips per server the path must take on
	// the meta protocol (a Store on a Pool) and on the text protocol (a
	// Store on a gomemcache client), the latter checked on one server only
	// (on a pool, its commands to the lock's and the value's servers
	// overlap in ways that depend on where the keys land).
	meta, text int64
	// setup prepares the path (not counted); run is the path.
	setup, run func(t *testing.T, s *rtStores)
}

// rtStores are the Stores of one run of a path: s the process measured,
// other another process.
type rtStores struct {
	s, other *memcachestore.Store
	key      backend.LeaseKey
	lease    backend.Lease // of s, once taken
	holder   string
}

// TestMemcachedRoundTrips counts the round trips of each path of the
// memcached Store, its leases (backend.Leaser) in particular, on one server
// and on a pool of three (where it counts the most any one server saw:
// the servers of one call are reached in parallel), and logs one line per
// path. The text protocol's counts are logged beside, for comparison.
func TestMemcachedRoundTrips(t *testing.T) {
	o := func(holder string) backend.LeaseOptions {
		return backend.LeaseOptions{Holder: holder, LockTTL: 10 * time.Second, PlaceholderTTL: time.Minute}
	}
	leaseOne := func(t *testing.T, s *memcachestore.Store, k backend.LeaseKey, holder string, want backend.LeaseStatus) backend.Lease {
		t.Helper()
		ls, _, err := s.Lease(t.Context(), []backend.LeaseKey{k}, o(holder))
		if err != nil || ls[0].Status != want {
			t.Fatalf("Lease = %v, %v; want %v", ls, err, want)
		}
		return ls[0]
	}
	set := func(t *testing.T, s *memcachestore.Store, k string) {
		t.Helper()
		if err := s.Set(t.Context(), k, []byte("value"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	takeA := func(t *testing.T, s *rtStores) { s.lease = leaseOne(t, s.s, s.key, "A", backend.LeaseTaken) }
	paths := []roundTrip{
		{name: "hit (Get)", meta: 1, text: 1,
			setup: func(t *testing.T, s *rtStores) { set(t, s.other, s.key.Key) },
			run: func(t *testing.T, s *rtStores) {
				if _, err := s.s.Get(t.Context(), s.key.Key); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "invalidate (Delete)", meta: 1, text: 1,
			setup: func(t *testing.T, s *rtStores) { set(t, s.other, s.key.Key) },
			run: func(t *testing.T, s *rtStores) {
				if err := s.s.Delete(t.Context(), s.key.Key); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "lease (missing key)", meta: 1, text: 4,
			run: takeA},
		{name: "lease (stale value)", meta: 2, text: 4,
			setup: func(t *testing.T, s *rtStores) { set(t, s.other, s.key.Key) },
			run:   takeA},
		{name: "lease (held by another process)", meta: 1, text: 2,
			setup: func(t *testing.T, s *rtStores) { leaseOne(t, s.other, s.key, "B", backend.LeaseTaken) },
			run:   func(t *testing.T, s *rtStores) { leaseOne(t, s.s, s.key, "A", backend.LeaseHeld) }},
		{name: "lease poll (still held)", meta: 1, text: 1,
			setup: func(t *testing.T, s *rtStores) {
				leaseOne(t, s.other, s.key, "B", backend.LeaseTaken)
				s.lease = leaseOne(t, s.s, s.key, "A", backend.LeaseHeld)
			},
			run: func(t *testing.T, s *rtStores) {
				k := s.key
				k.Version = s.lease.Version
				leaseOne(t, s.s, k, "A", backend.LeaseHeld)
			}},
		{name: "store leased", meta: 1, text: 3,
			setup: takeA,
			run: func(t *testing.T, s *rtStores) {
				k := s.key
				k.Version = s.lease.Version
				stored, _, err := s.s.StoreLeased(t.Context(), []backend.Item{{Key: k.Key, Value: []byte("v"), TTL: time.Hour}}, []backend.LeaseKey{k}, "A", backend.Group{})
				if err != nil || !stored[0] {
					t.Fatalf("StoreLeased = %v, %v", stored, err)
				}
			}},
		{name: "store leased (lock taken by another Store)", meta: 2, text: 3,
			setup: func(t *testing.T, s *rtStores) { s.lease = leaseOne(t, s.other, s.key, "A", backend.LeaseTaken) },
			run: func(t *testing.T, s *rtStores) {
				k := s.key
				k.Version = s.lease.Version
				stored, _, err := s.s.StoreLeased(t.Context(), []backend.Item{{Key: k.Key, Value: []byte("v")}}, []backend.LeaseKey{k}, "A", backend.Group{})
				if err != nil || !stored[0] {
					t.Fatalf("StoreLeased = %v, %v", stored, err)
				}
			}},
		{name: "extend leases", meta: 1, text: 2,
			setup: takeA,
			run: func(t *testing.T, s *rtStores) {
				ok, err := s.s.ExtendLeases(t.Context(), []backend.LeaseKey{s.key}, "A", time.Minute)
				if err != nil || !ok[0] {
					t.Fatalf("ExtendLeases = %v, %v", ok, err)
				}
			}},
		{name: "release leases", meta: 1, text: 2,
			setup: takeA,
			run: func(t *testing.T, s *rtStores) {
				if err := s.s.ReleaseLeases(t.Context(), []backend.LeaseKey{s.key}, "A"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "creation (miss, lease, store)", meta: 3, text: 8,
			run: func(t *testing.T, s *rtStores) {
				if _, err := s.s.Get(t.Context(), s.key.Key); err == nil {
					t.Fatal("a hit")
				}
				l := leaseOne(t, s.s, s.key, "A", backend.LeaseTaken)
				k := s.key
				k.Version = l.Version
				if _, _, err := s.s.StoreLeased(t.Context(), []backend.Item{{Key: k.Key, Value: []byte("v")}}, []backend.LeaseKey{k}, "A", backend.Group{}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "get for update (missing key)", meta: 1, text: 3,
			run: func(t *testing.T, s *rtStores) {
				if _, _, err := s.s.GetForUpdate(t.Context(), []string{s.key.Key}, time.Minute); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "get for update (value)", meta: 2, text: 3,
			setup: func(t *testing.T, s *rtStores) { set(t, s.other, s.key.Key) },
			run: func(t *testing.T, s *rtStores) {
				if _, _, err := s.s.GetForUpdate(t.Context(), []string{s.key.Key}, time.Minute); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "set if", meta: 1, text: 1,
			setup: func(t *testing.T, s *rtStores) {
				_, v, err := s.s.GetForUpdate(t.Context(), []string{s.key.Key}, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				s.lease.Version = v[0]
			},
			run: func(t *testing.T, s *rtStores) {
				if _, err := s.s.SetIf(t.Context(), []backend.Item{{Key: s.key.Key, Value: []byte("v")}}, []backend.Version{s.lease.Version}); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, servers := range []int{1, 3} {
		t.Run(fmt.Sprintf("servers=%d", servers), func(t *testing.T) {
			rt, addrs := newRTServers(t, servers)
			newStore := func(meta bool) *memcachestore.Store {
				p := mcPool(t, addrs...)
				if err := p.CheckVersions(); err != nil { // not counted
					t.Fatal(err)
				}
				var c memcachestore.Client = p
				if !meta {
					c = mcClient(t, addrs...)
				}
				s, err := memcachestore.New(c, memcachestore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			meta, text, other := newStore(true), newStore(false), newStore(true)
			for i, p := range paths {
				for _, proto := range []string{"meta", "text"} {
					s := &rtStores{s: meta, other: other, key: backend.LeaseKey{
						Key:  fmt.Sprintf("rt:%d:%s:{%d}:v", servers, proto, i),
						Lock: fmt.Sprintf("rt:%d:%s:{%d}:l", servers, proto, i),
					}}
					want := p.meta
					if proto == "text" {
						s.s, want = text, p.text
						if servers > 1 {
							want = -1
						}
					}
					if p.setup != nil {
						p.setup(t, s)
					}
					rt.reset()
					p.run(t, s)
					most, total := rt.perServer()
					plural := "s"
					if most == 1 {
						plural = ""
					}
					line := fmt.Sprintf("memcached %s: %d round trip%s", p.name, most, plural)
					if servers > 1 {
						line += fmt.Sprintf(" per server (%d servers, %d in all)", servers, total)
					}
					if proto == "text" {
						line += " [text protocol]"
					}
					t.Log(line)
					if want >= 0 && most != want {
						t.Errorf("%s on the %s protocol: %d round trips per server, want %d", p.name, proto, most, want)
					}
				}
			}
		})
	}
}

// TestMemcachedLockerRoundTrips counts the round trips of the memcached
// locker's paths on both protocols, and logs one line per path.
func TestMemcachedLockerRoundTrips(t *testing.T) {
	rt, addrs := newRTServers(t, 1)
	p := mcPool(t, addrs...)
	if err := p.CheckVersions(); err != nil { // once per server: not counted
		t.Fatal(err)
	}
	for _, tc := range []struct {
		proto                   string
		client                  memcachestore.Client
		obtain, extend, release int64
	}{
		{"meta", p, 1, 1, 1},
		{"text", mcClient(t, addrs...), 1, 2, 2},
	} {
		l, err := memcachelocker.New(tc.client, memcachelocker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		suffix := ""
		if tc.proto == "text" {
			suffix = " [text protocol]"
		}
		ctx := t.Context()
		count := func(name string, want int64, fn func() error) {
			t.Helper()
			rt.reset()
			if err := fn(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			n, _ := rt.perServer()
			t.Logf("memcached locker %s: %d round trip(s)%s", name, n, suffix)
			if n != want {
				t.Errorf("locker %s on the %s protocol: %d round trips, want %d", name, tc.proto, n, want)
			}
		}
		var lk interface {
			Extend(context.Context, time.Duration) error
			Release(context.Context) error
		}
		count("obtain", tc.obtain, func() error {
			var err error
			lk, err = l.TryObtain(ctx, "rt-lock-"+tc.proto, time.Minute)
			return err
		})
		count("extend", tc.extend, func() error { return lk.Extend(ctx, time.Minute) })
		count("release", tc.release, func() error { return lk.Release(ctx) })
	}
}

// TestMemcachedRegistryRoundTrips counts the round trips of the memcached
// registry's paths on both protocols, and logs one line per path.
func TestMemcachedRegistryRoundTrips(t *testing.T) {
	rt, addrs := newRTServers(t, 1)
	p := mcPool(t, addrs...)
	if err := p.CheckVersions(); err != nil { // once per server: not counted
		t.Fatal(err)
	}
	for _, tc := range []struct {
		proto                     string
		client                    memcachereg.Client
		first, forgetAll, forget3 int64
	}{
		{"meta", p, 1, 1, 1},
		{"text", mcClient(t, addrs...), 3, 1, 3},
	} {
		r, err := memcachereg.New(tc.client, memcachereg.Options{CacheFor: -1})
		if err != nil {
			t.Fatal(err)
		}
		suffix := ""
		if tc.proto == "text" {
			suffix = " [text protocol]"
		}
		ctx := t.Context()
		fn := "rt-fn-" + tc.proto
		count := func(name string, want int64, fn func() error) {
			t.Helper()
			rt.reset()
			if err := fn(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			n, _ := rt.perServer()
			t.Logf("memcached registry %s: %d round trip(s)%s", name, n, suffix)
			if n != want {
				t.Errorf("registry %s on the %s protocol: %d round trips, want %d", name, tc.proto, n, want)
			}
		}
		count("first namespace of a function", tc.first, func() error {
			_, err := r.Namespace(ctx, fn)
			return err
		})
		count("namespace", 1, func() error {
			_, err := r.Namespace(ctx, fn)
			return err
		})
		count("forget all", tc.forgetAll, func() error {
			_, err := r.ForgetAll(ctx, fn)
			return err
		})
		for _, k := range []string{"a", "b", "c"} {
			if err := r.Record(ctx, fn, k, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		count("forget of 3 keys", tc.forget3, func() error { return r.Forget(ctx, fn, "a", "b", "c") })
	}
}
