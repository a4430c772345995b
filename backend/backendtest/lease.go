package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
)

// leaseTTL is the lock and placeholder TTL of the Leaser subtests that do
// not wait for them to pass.
const leaseTTL = time.Minute

// leaseSuite is the state of one subtest of a backend.Leaser.
type leaseSuite struct {
	*suite
	l backend.Leaser
	// run tells the holders of this subtest from those of other runs on a
	// shared server.
	run string
}

// runLeaser runs the subtests of backend.Leaser, each on a new backend, or
// skips them when the backend does not implement it.
func runLeaser(t *testing.T, opts RunOptions, prefix string, newBackend func(t *testing.T) backend.Backend) {
	t.Helper()
	if _, ok := backend.As[backend.Leaser](newBackend(t)); !ok {
		t.Skip("the backend does not implement backend.Leaser")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *leaseSuite)
	}{
		{"InvalidArguments", testLeaseInvalid},
		{"Taken", testLeaseTaken},
		{"Held", testLeaseHeld},
		{"Poll", testLeasePoll},
		{"FenceAfterWrite", testLeaseFenceAfterWrite},
		{"FenceAfterLease", testLeaseFenceAfterLease},
		{"FenceAfterGetForUpdate", testLeaseFenceAfterGetForUpdate},
		{"Release", testLeaseRelease},
		{"Extend", testLeaseExtend},
		{"StoreLeased", testLeaseStore},
		{"Also", testLeaseAlso},
		{"DuplicateKeys", testLeaseDuplicates},
		{"Values", testLeaseValues},
		{"Keys", testLeaseKeys},
		{"Expiry", testLeaseExpiry},
		{"Concurrent", testLeaseConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Expiry" && opts.SkipTTL {
				t.Skip("SkipTTL is set")
			}
			b := newBackend(t)
			s := &suite{b: b, opts: opts, prefix: prefix + tc.name + ":"}
			l, _ := backend.As[backend.Leaser](b)
			tc.fn(t, &leaseSuite{suite: s, l: l, run: fmt.Sprintf("%016x", rand.Uint64())})
		})
	}
}

// leaseKey returns the LeaseKey of a key unique to the subtest, whose value
// and lock share a Redis Cluster hash tag, as a region lays them out; both
// are deleted when the subtest ends.
func (s *leaseSuite) leaseKey(t *testing.T, name string) backend.LeaseKey {
	t.Helper()
	return backend.LeaseKey{Key: s.key(t, "{"+name+"}:v"), Lock: s.key(t, "{"+name+"}:l")}
}

// holder returns a holder token of this subtest.
func (s *leaseSuite) holder(name string) string { return "holder-" + name + "-" + s.run }

// leaseOpts are LeaseOptions for holder with the long TTLs.
func (s *leaseSuite) leaseOpts(holder string) backend.LeaseOptions {
	return backend.LeaseOptions{Holder: holder, LockTTL: leaseTTL, PlaceholderTTL: leaseTTL}
}

// lease calls Lease and checks the shape of its result.
func (s *leaseSuite) lease(t *testing.T, o backend.LeaseOptions, keys ...backend.LeaseKey) []backend.Lease {
	t.Helper()
	leases, also, err := s.l.Lease(t.Context(), keys, o)
	if err != nil {
		t.Fatalf("Lease(%v) by %s: %v", keys, o.Holder, err)
	}
	if len(leases) != len(keys) || len(also) != len(o.Also) {
		t.Fatalf("Lease of %d keys and %d others returned %d leases and %d values", len(keys), len(o.Also), len(leases), len(also))
	}
	for i, l := range leases {
		if l.Status != backend.LeaseTaken && l.Status != backend.LeaseHeld && l.Status != backend.LeaseChanged {
			t.Fatalf("Lease of %q: status %v", keys[i].Key, l.Status)
		}
		if l.Status == backend.LeaseTaken && l.Version == 0 {
			t.Fatalf("Lease of %q taken with the zero Version", keys[i].Key)
		}
	}
	return leases
}

// leaseOne leases one key for holder and checks its status.
func (s *leaseSuite) leaseOne(t *testing.T, holder string, k backend.LeaseKey, want backend.LeaseStatus) backend.Lease {
	t.Helper()
	l := s.lease(t, s.leaseOpts(holder), k)[0]
	if l.Status != want {
		t.Fatalf("Lease of %q by %s: %v (value %q, version %d), want %v", k.Key, holder, l.Status, l.Value, l.Version, want)
	}
	return l
}

// held returns k as the lease of version v.
func held(k backend.LeaseKey, v backend.Version) backend.LeaseKey {
	k.Version = v
	return k
}

// store calls StoreLeased and checks that it reports want.
func (s *leaseSuite) store(t *testing.T, holder string, items []backend.Item, leases []backend.LeaseKey, want ...bool) {
	t.Helper()
	stored, err := storeLeased(s.l, t.Context(), items, leases, holder, backend.Group{})
	if err != nil {
		t.Fatalf("StoreLeased by %s: %v", holder, err)
	}
	if len(stored) != len(items) {
		t.Fatalf("StoreLeased of %d items reported %d outcomes", len(items), len(stored))
	}
	for i := range stored {
		if stored[i] != want[i] {
			t.Errorf("StoreLeased of %q with version %d by %s: stored %t, want %t", items[i].Key, leases[i].Version, holder, stored[i], want[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// storeOne stores value under k's key with StoreLeased and checks want.
func (s *leaseSuite) storeOne(t *testing.T, holder string, k backend.LeaseKey, value []byte, want bool) {
	t.Helper()
	s.store(t, holder, []backend.Item{{Key: k.Key, Value: value}}, []backend.LeaseKey{k}, want)
}

// release calls ReleaseLeases.
func (s *leaseSuite) release(t *testing.T, holder string, keys ...backend.LeaseKey) {
	t.Helper()
	if err := s.l.ReleaseLeases(t.Context(), keys, holder); err != nil {
		t.Fatalf("ReleaseLeases by %s: %v", holder, err)
	}
}

// extend calls ExtendLeases and checks that it reports want.
func (s *leaseSuite) extend(t *testing.T, holder string, ttl time.Duration, keys []backend.LeaseKey, want ...bool) {
	t.Helper()
	ok, err := s.l.ExtendLeases(t.Context(), keys, holder, ttl)
	if err != nil {
		t.Fatalf("ExtendLeases by %s: %v", holder, err)
	}
	if len(ok) != len(keys) {
		t.Fatalf("ExtendLeases of %d keys reported %d outcomes", len(keys), len(ok))
	}
	for i := range ok {
		if ok[i] != want[i] {
			t.Fatalf("ExtendLeases of %q by %s: %t, want %t", keys[i].Key, holder, ok[i], want[i])
		}
	}
}

// sameBytes compares values, nil (nothing) apart from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func testLeaseInvalid(t *testing.T, s *leaseSuite) {
	k := s.leaseKey(t, "k")
	a := s.holder("A")
	ctx := t.Context()
	for _, o := range []backend.LeaseOptions{
		{LockTTL: leaseTTL, PlaceholderTTL: leaseTTL},
		{Holder: a, LockTTL: 0, PlaceholderTTL: leaseTTL},
		{Holder: a, LockTTL: -time.Second, PlaceholderTTL: leaseTTL},
		{Holder: a, LockTTL: leaseTTL, PlaceholderTTL: 0},
		{Holder: a, LockTTL: leaseTTL, PlaceholderTTL: -time.Second},
	} {
		if _, _, err := s.l.Lease(ctx, []backend.LeaseKey{k}, o); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("Lease with %+v: %v, want backend.ErrInvalidArgument", o, err)
		}
	}
	// Nothing was taken by the refused calls.
	l := s.leaseOne(t, a, k, backend.LeaseTaken)
	k = held(k, l.Version)
	item := []backend.Item{{Key: k.Key, Value: []byte("v")}}
	for name, call := range map[string]func() error{
		"held shorter than items": func() error {
			_, err := storeLeased(s.l, ctx, item, nil, a, backend.Group{})
			return err
		},
		"no holder": func() error {
			_, err := storeLeased(s.l, ctx, item, []backend.LeaseKey{k}, "", backend.Group{})
			return err
		},
		"members of another length": func() error {
			_, err := storeLeased(s.l, ctx, item, []backend.LeaseKey{k}, a, backend.Group{Name: "g", Members: []string{"m", "n"}})
			return err
		},
		"extend with no holder": func() error {
			_, err := s.l.ExtendLeases(ctx, []backend.LeaseKey{k}, "", leaseTTL)
			return err
		},
		"extend by no time": func() error {
			_, err := s.l.ExtendLeases(ctx, []backend.LeaseKey{k}, a, 0)
			return err
		},
		"release with no holder": func() error { return s.l.ReleaseLeases(ctx, []backend.LeaseKey{k}, "") },
	} {
		if err := call(); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("%s: %v, want backend.ErrInvalidArgument", name, err)
		}
	}
	s.mustMiss(t, k.Key)
	s.storeOne(t, a, k, []byte("v"), true)
	s.mustGet(t, k.Key, []byte("v"))
	// No keys is no work, and no error.
	leases, also, err := s.l.Lease(ctx, nil, s.leaseOpts(a))
	if err != nil || len(leases) != 0 || len(also) != 0 {
		t.Errorf("Lease of no keys = %v, %q, %v", leases, also, err)
	}
	if stored, err := storeLeased(s.l, ctx, nil, nil, a, backend.Group{}); err != nil || len(stored) != 0 {
		t.Errorf("StoreLeased of nothing = %v, %v", stored, err)
	}
	if ok, err := s.l.ExtendLeases(ctx, nil, a, leaseTTL); err != nil || len(ok) != 0 {
		t.Errorf("ExtendLeases of nothing = %v, %v", ok, err)
	}
	if err := s.l.ReleaseLeases(ctx, nil, a); err != nil {
		t.Errorf("ReleaseLeases of nothing: %v", err)
	}
}

// testLeaseTaken: the lease of a missing key is taken with a placeholder no
// read sees; StoreLeased stores under it and ends the lock; the next lease
// of the key finds the value, and is taken under a new Version.
func testLeaseTaken(t *testing.T, s *leaseSuite) {
	k := s.leaseKey(t, "k")
	a, b := s.holder("A"), s.holder("B")
	l := s.leaseOne(t, a, k, backend.LeaseTaken)
	if l.Value != nil {
		t.Fatalf("lease of a missing key reported value %q", l.Value)
	}
	s.mustMiss(t, k.Key)
	s.mustGetMulti(t, []string{k.Key}, [][]byte{nil})
	s.storeOne(t, a, held(k, l.Version), []byte("v1"), true)
	s.mustGet(t, k.Key, []byte("v1"))

	// A stale value: the lock is free again, and its lease renews the
	// Version and leaves the value for readers.
	l2 := s.leaseOne(t, b, k, backend.LeaseTaken)
	if !sameBytes(l2.Value, []byte("v1")) || l2.Version == l.Version {
		t.Fatalf("lease of a stored value = %q, version %d; want v1 under a version other than %d", l2.Value, l2.Version, l.Version)
	}
	s.mustGet(t, k.Key, []byte("v1"))
	s.storeOne(t, b, held(k, l2.Version), []byte("v2"), true)
	s.mustGet(t, k.Key, []byte("v2"))
}

// testLeaseHeld: while a lease's lock is live, another holder's Lease
// reports it held, with what the key holds (nothing for a placeholder, the
// stale value otherwise) and its current Version, and changes nothing: the
// holder still stores. A holder that leases a key it holds finds it held.
func testLeaseHeld(t *testing.T, s *leaseSuite) {
	a, b := s.holder("A"), s.holder("B")
	for _, name := range []string{"Missing", "Value"} {
		t.Run(name, func(t *testing.T) {
			k := s.leaseKey(t, name)
			var stale []byte
			if name == "Value" {
				stale = []byte("stale")
				s.set(t, k.Key, stale, time.Hour)
			}
			la := s.leaseOne(t, a, k, backend.LeaseTaken)
			for range 2 {
				lb := s.leaseOne(t, b, k, backend.LeaseHeld)
				if !sameBytes(lb.Value, stale) || lb.Version != la.Version {
					t.Fatalf("held lease = %q (nil %t), version %d; want %q and the holder's version %d", lb.Value, lb.Value == nil, lb.Version, stale, la.Version)
				}
			}
			again := s.leaseOne(t, a, k, backend.LeaseHeld)
			if again.Version != la.Version {
				t.Fatalf("the holder's second lease changed the version from %d to %d", la.Version, again.Version)
			}
			if stale == nil {
				s.mustMiss(t, k.Key)
			} else {
				s.mustGet(t, k.Key, stale)
			}
			s.storeOne(t, a, held(k, la.Version), []byte("A"), true)
			s.mustGet(t, k.Key, []byte("A"))
		})
	}
}

// testLeasePoll: a waiter that passes the Version it saw learns, while the
// lock is held, that it still is; once the holder stored, that the key
// changed, with the value, taking nothing; once the holder released without
// storing, it takes the lease.
func testLeasePoll(t *testing.T, s *leaseSuite) {
	a, b, c := s.holder("A"), s.holder("B"), s.holder("C")
	t.Run("Stored", func(t *testing.T) {
		k := s.leaseKey(t, "stored")
		la := s.leaseOne(t, a, k, backend.LeaseTaken)
		seen := s.leaseOne(t, b, k, backend.LeaseHeld)
		poll := s.leaseOne(t, b, held(k, seen.Version), backend.LeaseHeld)
		if poll.Version != seen.Version {
			t.Fatalf("a poll of a held key reported version %d, want %d", poll.Version, seen.Version)
		}
		s.storeOne(t, a, held(k, la.Version), []byte("A"), true)
		changed := s.leaseOne(t, b, held(k, seen.Version), backend.LeaseChanged)
		if !sameBytes(changed.Value, []byte("A")) || changed.Version == seen.Version {
			t.Fatalf("a poll after the store = %q, version %d; want A under a new version", changed.Value, changed.Version)
		}
		// The changed poll took nothing: the lock is free for another.
		lc := s.leaseOne(t, c, k, backend.LeaseTaken)
		s.storeOne(t, c, held(k, lc.Version), []byte("C"), true)
		s.mustGet(t, k.Key, []byte("C"))
	})
	t.Run("Released", func(t *testing.T) {
		for _, name := range []string{"Missing", "Value"} {
			t.Run(name, func(t *testing.T) {
				k := s.leaseKey(t, "released"+name)
				var stale []byte
				if name == "Value" {
					stale = []byte("stale")
					s.set(t, k.Key, stale, time.Hour)
				}
				s.leaseOne(t, a, k, backend.LeaseTaken)
				seen := s.leaseOne(t, b, k, backend.LeaseHeld)
				s.release(t, a, k)
				lb := s.leaseOne(t, b, held(k, seen.Version), backend.LeaseTaken)
				if !sameBytes(lb.Value, stale) || lb.Version == seen.Version {
					t.Fatalf("a poll after the release = %q, version %d; want %q under a version other than %d", lb.Value, lb.Version, stale, seen.Version)
				}
				s.leaseOne(t, c, k, backend.LeaseHeld)
				s.storeOne(t, b, held(k, lb.Version), []byte("B"), true)
				s.mustGet(t, k.Key, []byte("B"))
			})
		}
	})
	t.Run("Deleted", func(t *testing.T) {
		k := s.leaseKey(t, "deleted")
		s.set(t, k.Key, []byte("old"), time.Hour)
		s.leaseOne(t, a, k, backend.LeaseTaken)
		seen := s.leaseOne(t, b, k, backend.LeaseHeld)
		if err := s.b.Delete(t.Context(), k.Key); err != nil {
			t.Fatal(err)
		}
		changed := s.leaseOne(t, b, held(k, seen.Version), backend.LeaseChanged)
		if changed.Value != nil {
			t.Fatalf("a poll of a deleted key reported value %q", changed.Value)
		}
	})
}

// testLeaseFenceAfterWrite is the stale set the fence exists for: a holder
// leases a key, a writer writes or deletes it, and the holder's store fails,
// leaving the writer's result; the store still ends the lock.
func testLeaseFenceAfterWrite(t *testing.T, s *leaseSuite) {
	a, b := s.holder("A"), s.holder("B")
	writes := []struct {
		name  string
		write func(t *testing.T, k string)
		want  []byte
	}{
		{"Set", func(t *testing.T, k string) { s.set(t, k, []byte("writer"), 0) }, []byte("writer")},
		{"SetMulti", func(t *testing.T, k string) {
			if err := s.b.SetMulti(t.Context(), []backend.Item{{Key: k, Value: []byte("writer")}}); err != nil {
				t.Fatal(err)
			}
		}, []byte("writer")},
		{"Delete", func(t *testing.T, k string) {
			if err := s.b.Delete(t.Context(), k); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"DeleteMulti", func(t *testing.T, k string) {
			if err := s.b.DeleteMulti(t.Context(), []string{k}); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	for _, w := range writes {
		for _, was := range []string{"Missing", "Value"} {
			t.Run(w.name+"Over"+was, func(t *testing.T) {
				k := s.leaseKey(t, w.name+was)
				if was == "Value" {
					s.set(t, k.Key, []byte("old"), 0)
				}
				l := s.leaseOne(t, a, k, backend.LeaseTaken)
				w.write(t, k.Key)
				s.storeOne(t, a, held(k, l.Version), []byte("stale set"), false)
				if w.want == nil {
					s.mustMiss(t, k.Key)
				} else {
					s.mustGet(t, k.Key, w.want)
				}
				// The store ended the lock, though it stored nothing.
				lb := s.leaseOne(t, b, k, backend.LeaseTaken)
				s.storeOne(t, b, held(k, lb.Version), []byte("B"), true)
				s.mustGet(t, k.Key, []byte("B"))
			})
		}
	}
}

// testLeaseFenceAfterLease: a holder whose lock ended (here released, as if
// expired) while it created is fenced off by the next holder's lease, even
// if it stores first; and its store does not end the next holder's lock.
func testLeaseFenceAfterLease(t *testing.T, s *leaseSuite) {
	a, b, c := s.holder("A"), s.holder("B"), s.holder("C")
	for _, was := range []string{"Missing", "Value"} {
		t.Run(was, func(t *testing.T) {
			k := s.leaseKey(t, was)
			if was == "Value" {
				s.set(t, k.Key, []byte("old"), time.Hour)
			}
			la := s.leaseOne(t, a, k, backend.LeaseTaken)
			s.release(t, a, k)
			lb := s.leaseOne(t, b, k, backend.LeaseTaken)
			if lb.Version == la.Version {
				t.Fatalf("a second lease kept version %d", la.Version)
			}
			s.storeOne(t, a, held(k, la.Version), []byte("A"), false)
			s.leaseOne(t, c, k, backend.LeaseHeld) // A's store left B's lock alone
			s.storeOne(t, b, held(k, lb.Version), []byte("B"), true)
			s.mustGet(t, k.Key, []byte("B"))
		})
	}
	// A chain of leases: only the last stores, whatever the order.
	t.Run("Chain", func(t *testing.T) {
		const n = 4
		k := s.leaseKey(t, "chain")
		versions := make([]backend.Version, n)
		for i := range versions {
			h := s.holder(fmt.Sprint(i))
			versions[i] = s.leaseOne(t, h, k, backend.LeaseTaken).Version
			for j := range i {
				if versions[j] == versions[i] {
					t.Fatalf("leases %d and %d share version %d", j, i, versions[i])
				}
			}
			s.release(t, h, k)
		}
		for i := range versions {
			s.storeOne(t, s.holder(fmt.Sprint(i)), held(k, versions[i]), fmt.Appendf(nil, "v%d", i), i == n-1)
		}
		s.mustGet(t, k.Key, fmt.Appendf(nil, "v%d", n-1))
	})
}

// testLeaseFenceAfterGetForUpdate: on a backend that is also a
// Conditional, a GetForUpdate is another lease, and voids the fence.
func testLeaseFenceAfterGetForUpdate(t *testing.T, s *leaseSuite) {
	c, ok := backend.As[backend.Conditional](s.b)
	if !ok {
		t.Skip("the backend does not implement backend.Conditional")
	}
	a := s.holder("A")
	k := s.leaseKey(t, "k")
	l := s.leaseOne(t, a, k, backend.LeaseTaken)
	_, versions, err := c.GetForUpdate(t.Context(), []string{k.Key}, leaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	if versions[0] == l.Version {
		t.Fatalf("GetForUpdate after a lease kept its version %d", l.Version)
	}
	s.storeOne(t, a, held(k, l.Version), []byte("A"), false)
	s.mustMiss(t, k.Key)
	// A lease voids a GetForUpdate's version too.
	l = s.leaseOne(t, a, k, backend.LeaseTaken)
	stored, err := c.SetIf(t.Context(), []backend.Item{{Key: k.Key, Value: []byte("G")}}, versions)
	if err != nil || stored[0] {
		t.Fatalf("SetIf with a version a lease replaced = %v, %v; want not stored", stored, err)
	}
	s.storeOne(t, a, held(k, l.Version), []byte("A"), true)
	s.mustGet(t, k.Key, []byte("A"))
}

// testLeaseRelease: only the holder ends its lock; a release leaves the
// key's value and Version as they are.
func testLeaseRelease(t *testing.T, s *leaseSuite) {
	a, b, c := s.holder("A"), s.holder("B"), s.holder("C")
	k, other := s.leaseKey(t, "k"), s.leaseKey(t, "other")
	s.set(t, k.Key, []byte("v"), time.Hour)
	la := s.leaseOne(t, a, k, backend.LeaseTaken)
	s.release(t, b, k)     // not B's
	s.release(t, a, other) // not locked
	s.leaseOne(t, c, k, backend.LeaseHeld)
	s.release(t, a, k, k)
	s.mustGet(t, k.Key, []byte("v"))
	// The Version is as it was: a poll with it takes the lease.
	lb := s.leaseOne(t, b, held(k, la.Version), backend.LeaseTaken)
	s.release(t, a, k) // A's lock is gone: B's stays
	s.leaseOne(t, c, k, backend.LeaseHeld)
	s.storeOne(t, b, held(k, lb.Version), []byte("B"), true)
	s.mustGet(t, k.Key, []byte("B"))
}

// testLeaseExtend: only the holder extends its lock, and only while it
// holds it.
func testLeaseExtend(t *testing.T, s *leaseSuite) {
	a, b := s.holder("A"), s.holder("B")
	k, free := s.leaseKey(t, "k"), s.leaseKey(t, "free")
	la := s.leaseOne(t, a, k, backend.LeaseTaken)
	s.extend(t, a, leaseTTL, []backend.LeaseKey{k, free, k}, true, false, true)
	s.extend(t, b, leaseTTL, []backend.LeaseKey{k}, false)
	s.leaseOne(t, b, k, backend.LeaseHeld)
	s.release(t, a, k)
	s.extend(t, a, leaseTTL, []backend.LeaseKey{k}, false)
	lb := s.leaseOne(t, b, k, backend.LeaseTaken)
	s.extend(t, a, leaseTTL, []backend.LeaseKey{k}, false)
	s.extend(t, b, leaseTTL, []backend.LeaseKey{held(k, lb.Version)}, true)
	s.storeOne(t, a, held(k, la.Version), []byte("A"), false)
	s.storeOne(t, b, held(k, lb.Version), []byte("B"), true)
	// The store ended B's lock: there is nothing left to extend.
	s.extend(t, b, leaseTTL, []backend.LeaseKey{k}, false)
}

// testLeaseStore: one StoreLeased stores the items whose keys are unchanged
// and only those, ends every lock it names (the leases beyond the items
// too), stores nothing with the zero Version, and of two items with one key
// and Version at most one.
func testLeaseStore(t *testing.T, s *leaseSuite) {
	a, b := s.holder("A"), s.holder("B")
	const n = 6
	keys := make([]backend.LeaseKey, n)
	for i := range keys {
		keys[i] = s.leaseKey(t, fmt.Sprint("k", i))
		if i%2 == 1 {
			s.set(t, keys[i].Key, []byte("old"), time.Hour)
		}
	}
	leases := s.lease(t, s.leaseOpts(a), keys...)
	for i, l := range leases {
		if l.Status != backend.LeaseTaken {
			t.Fatalf("lease %d: %v", i, l.Status)
		}
		keys[i].Version = l.Version
	}
	// k0 stays, k1 is written over, k2 deleted, k3 stored with the zero
	// version, k4 stays; k5 is only released.
	s.set(t, keys[1].Key, []byte("writer"), 0)
	if err := s.b.Delete(t.Context(), keys[2].Key); err != nil {
		t.Fatal(err)
	}
	zero := held(keys[3], 0)
	items := make([]backend.Item, 5)
	for i := range items {
		items[i] = backend.Item{Key: keys[i].Key, Value: fmt.Appendf(nil, "new%d", i), TTL: time.Hour}
	}
	s.store(t, a, items, []backend.LeaseKey{keys[0], keys[1], keys[2], zero, keys[4], keys[5]}, true, false, false, false, true)
	s.mustGetMulti(t, []string{keys[0].Key, keys[1].Key, keys[2].Key, keys[3].Key, keys[4].Key, keys[5].Key},
		[][]byte{[]byte("new0"), []byte("writer"), nil, []byte("old"), []byte("new4"), []byte("old")})
	// Every lock ended.
	fresh := make([]backend.LeaseKey, len(keys))
	for i, k := range keys {
		fresh[i] = held(k, 0)
	}
	for _, l := range s.lease(t, s.leaseOpts(b), fresh...) {
		if l.Status != backend.LeaseTaken {
			t.Fatalf("a lease after StoreLeased: %v, want taken", l.Status)
		}
	}
	// Two items with one key and Version: at most one stored.
	k := s.leaseKey(t, "twice")
	l := s.leaseOne(t, a, k, backend.LeaseTaken)
	stored, err := storeLeased(s.l, t.Context(), []backend.Item{{Key: k.Key, Value: []byte("x")}, {Key: k.Key, Value: []byte("y")}},
		[]backend.LeaseKey{held(k, l.Version), held(k, l.Version)}, a, backend.Group{})
	if err != nil || len(stored) != 2 || stored[0] && stored[1] {
		t.Fatalf("StoreLeased of two items with one key and version = %v, %v", stored, err)
	}
	switch {
	case stored[0]:
		s.mustGet(t, k.Key, []byte("x"))
	case stored[1]:
		s.mustGet(t, k.Key, []byte("y"))
	default:
		t.Fatal("StoreLeased of two items with one key and version stored neither")
	}
	// A version of another key does not match.
	k2 := s.leaseKey(t, "other")
	l2 := s.leaseOne(t, a, k2, backend.LeaseTaken)
	s.storeOne(t, a, held(k2, l.Version), []byte("wrong version"), false)
	s.mustMiss(t, k2.Key)
	_ = l2
}

// testLeaseAlso: Lease reads o.Also as GetMulti does: in order, nil for a
// missing key or a placeholder, an empty value non-nil, each slice the
// caller's own.
func testLeaseAlso(t *testing.T, s *leaseSuite) {
	a, b := s.holder("A"), s.holder("B")
	k, g1, g2, missing, ph := s.leaseKey(t, "k"), s.key(t, "g1"), s.key(t, "g2"), s.key(t, "missing"), s.leaseKey(t, "ph")
	s.set(t, g1, []byte("1"), time.Hour)
	s.set(t, g2, []byte{}, time.Hour)
	s.leaseOne(t, b, ph, backend.LeaseTaken) // a placeholder
	o := s.leaseOpts(a)
	o.Also = []string{g1, missing, g2, ph.Key, g1}
	leases, also, err := s.l.Lease(t.Context(), []backend.LeaseKey{k}, o)
	if err != nil || len(leases) != 1 || len(also) != len(o.Also) {
		t.Fatalf("Lease with Also = %v, %q, %v", leases, also, err)
	}
	want := [][]byte{[]byte("1"), nil, {}, nil, []byte("1")}
	for i := range want {
		if !sameBytes(also[i], want[i]) {
			t.Errorf("Also[%d] (%q) = %q (nil %t), want %q (nil %t)", i, o.Also[i], also[i], also[i] == nil, want[i], want[i] == nil)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	also[0][0] = 'X'
	if string(also[4]) != "1" {
		t.Fatal("a key named twice in Also shares one slice")
	}
	// Also alone, with no key to lease.
	o.Also = []string{g1}
	if _, also, err := s.l.Lease(t.Context(), nil, o); err != nil || len(also) != 1 || string(also[0]) != "1" {
		t.Fatalf("Lease of Also alone = %q, %v", also, err)
	}
}

// testLeaseDuplicates: a key named twice is leased once and reported
// twice, each value the caller's own.
func testLeaseDuplicates(t *testing.T, s *leaseSuite) {
	a := s.holder("A")
	k, v := s.leaseKey(t, "k"), s.leaseKey(t, "v")
	s.set(t, v.Key, []byte("value"), time.Hour)
	leases := s.lease(t, s.leaseOpts(a), k, v, k, v)
	for _, pair := range [][2]int{{0, 2}, {1, 3}} {
		x, y := leases[pair[0]], leases[pair[1]]
		if x.Status != backend.LeaseTaken || y.Status != backend.LeaseTaken || x.Version != y.Version || !sameBytes(x.Value, y.Value) {
			t.Fatalf("a key named twice: leases %+v and %+v, want one lease taken, reported twice", x, y)
		}
	}
	leases[1].Value[0] = 'X'
	if string(leases[3].Value) != "value" {
		t.Fatal("a key named twice shares one slice")
	}
	s.store(t, a, []backend.Item{{Key: k.Key, Value: []byte("k")}, {Key: v.Key, Value: []byte("v")}},
		[]backend.LeaseKey{held(k, leases[0].Version), held(v, leases[1].Version)}, true, true)
	s.mustGetMulti(t, []string{k.Key, v.Key}, [][]byte{[]byte("k"), []byte("v")})
}

// testLeaseValues: binary and empty values round-trip through
// StoreLeased, Get, GetMulti and the Value of a later Lease.
func testLeaseValues(t *testing.T, s *leaseSuite) {
	a, b := s.holder("A"), s.holder("B")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"Empty", []byte{}},
		{"Nil", nil},
		{"HeaderLike", []byte("\xf5\x00\x00\x00\x00\x00\x00\x00\x01\xf6\x00\x00\x00\x00\x00\x00\x00\x02")},
		{"CRLF", []byte("END\r\nVA 3 c1\r\nabc\r\nMN\r\n")},
		{"AllBytes", all},
		{"Large", bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 100_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := s.leaseKey(t, tc.name)
			l := s.leaseOne(t, a, k, backend.LeaseTaken)
			s.storeOne(t, a, held(k, l.Version), tc.value, true)
			want := tc.value
			if want == nil {
				want = []byte{}
			}
			s.mustGet(t, k.Key, want)
			s.mustGetMulti(t, []string{k.Key}, [][]byte{want})
			if lb := s.leaseOne(t, b, k, backend.LeaseTaken); !sameBytes(lb.Value, want) {
				t.Fatalf("Lease of a stored value = %q (nil %t), want %q", lb.Value, lb.Value == nil, want)
			}
		})
	}
}

// testLeaseKeys: keys a backend must encode (long, with spaces or control
// bytes, not UTF-8) lease, store and fence.
func testLeaseKeys(t *testing.T, s *leaseSuite) {
	a, b := s.holder("A"), s.holder("B")
	for _, name := range []string{
		strings.Repeat("0123456789", 30),
		"a key with spaces",
		"tab\there\r\nnewline\x00nul",
		"\xff\xfe not UTF-8",
	} {
		k := s.leaseKey(t, name)
		l := s.leaseOne(t, a, k, backend.LeaseTaken)
		s.leaseOne(t, b, k, backend.LeaseHeld)
		s.storeOne(t, a, held(k, l.Version), []byte(name), true)
		s.mustGet(t, k.Key, []byte(name))
		lb := s.leaseOne(t, b, k, backend.LeaseTaken)
		s.set(t, k.Key, []byte("writer"), 0)
		s.storeOne(t, b, held(k, lb.Version), []byte("stale"), false)
		s.mustGet(t, k.Key, []byte("writer"))
	}
}

// testLeaseExpiry: a lock ends after its TTL unless extended; a placeholder
// that expires voids the fence.
func testLeaseExpiry(t *testing.T, s *leaseSuite) {
	ttl := s.opts.TTL
	a, b := s.holder("A"), s.holder("B")
	short, extended, ph := s.leaseKey(t, "short"), s.leaseKey(t, "extended"), s.leaseKey(t, "placeholder")
	shortLock := backend.LeaseOptions{Holder: a, LockTTL: ttl, PlaceholderTTL: leaseTTL}
	leases := s.lease(t, shortLock, short, extended)
	phLease := s.lease(t, backend.LeaseOptions{Holder: a, LockTTL: ttl, PlaceholderTTL: ttl}, ph)[0]
	s.extend(t, a, leaseTTL, []backend.LeaseKey{extended}, true)
	least, _ := expiryWaits(ttl)
	for waited := time.Duration(0); waited < least; waited += 100 * time.Millisecond {
		s.opts.Sleep(100 * time.Millisecond)
	}
	s.leaseOne(t, b, extended, backend.LeaseHeld)
	lb := s.leaseOne(t, b, short, backend.LeaseTaken)
	s.storeOne(t, a, held(short, leases[0].Version), []byte("late"), false)
	s.storeOne(t, b, held(short, lb.Version), []byte("B"), true)
	s.storeOne(t, a, held(extended, leases[1].Version), []byte("A"), true)
	s.mustGetMulti(t, []string{short.Key, extended.Key}, [][]byte{[]byte("B"), []byte("A")})
	// The placeholder, and the lock, of ph expired: A's store fails.
	s.storeOne(t, a, held(ph, phLease.Version), []byte("late"), false)
	s.mustMiss(t, ph.Key)
}

// testLeaseConcurrent: of goroutines that lease one key at once, exactly one
// takes it and the others find it held; once it stored, every poll reports
// the key changed, with its value.
func testLeaseConcurrent(t *testing.T, s *leaseSuite) {
	const goroutines = 30
	for _, was := range []string{"Missing", "Value"} {
		t.Run(was, func(t *testing.T) {
			k := s.leaseKey(t, was)
			if was == "Value" {
				s.set(t, k.Key, []byte("stale"), time.Hour)
			}
			leases := make([]backend.Lease, goroutines)
			errs := make([]error, goroutines)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() {
					<-start
					ls, _, err := s.l.Lease(context.Background(), []backend.LeaseKey{k}, s.leaseOpts(s.holder(fmt.Sprint(i))))
					if err == nil && len(ls) != 1 {
						err = fmt.Errorf("%d leases for one key", len(ls))
					}
					if err != nil {
						errs[i] = err
						return
					}
					leases[i] = ls[0]
				})
			}
			close(start)
			waitGroup(t, &wg)
			winner := -1
			for i := range goroutines {
				if errs[i] != nil {
					t.Fatalf("goroutine %d: %v", i, errs[i])
				}
				switch leases[i].Status {
				case backend.LeaseTaken:
					if winner >= 0 {
						t.Fatalf("goroutines %d and %d both took the lease", winner, i)
					}
					winner = i
				case backend.LeaseHeld:
				default:
					t.Fatalf("goroutine %d: %v", i, leases[i].Status)
				}
			}
			if winner < 0 {
				t.Fatal("no goroutine took the lease")
			}
			s.storeOne(t, s.holder(fmt.Sprint(winner)), held(k, leases[winner].Version), []byte("won"), true)
			for i := range goroutines {
				if i == winner {
					continue
				}
				l := s.leaseOne(t, s.holder(fmt.Sprint(i)), held(k, leases[i].Version), backend.LeaseChanged)
				if !sameBytes(l.Value, []byte("won")) {
					t.Fatalf("goroutine %d's poll after the store = %q, want won", i, l.Value)
				}
			}
		})
	}
}

// storeLeased is l.StoreLeased without the locks found lost, which a
// backend reports only where it can tell.
func storeLeased(l backend.Leaser, ctx context.Context, items []backend.Item, held []backend.LeaseKey, holder string, g backend.Group) ([]bool, error) {
	stored, _, err := l.StoreLeased(ctx, items, held, holder, g)
	return stored, err
}
