package memory_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/internal/fakeclock"
)

func newBackend(t *testing.T, o memory.Options) *memory.Backend {
	t.Helper()
	b, err := memory.New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		t.Run(fmt.Sprintf("Serialize=%t", serialize), func(t *testing.T) {
			t.Run("InjectedClock", func(t *testing.T) {
				clk := fakeclock.New(time.Unix(1_700_000_000, 0))
				backendtest.RunWith(t, backendtest.RunOptions{Sleep: clk.Advance}, func(t *testing.T) backend.Backend {
					return newBackend(t, memory.Options{Clock: clk, Serialize: serialize})
				})
			})
			// The TTL subtest would sleep with the real clock;
			// TestExpiryRealClock covers its expiry inside a synctest bubble.
			for _, res := range []time.Duration{0, -1} {
				t.Run(fmt.Sprintf("RealClock/Resolution=%v", res), func(t *testing.T) {
					backendtest.RunWith(t, backendtest.RunOptions{SkipTTL: true}, func(t *testing.T) backend.Backend {
						return newBackend(t, memory.Options{Serialize: serialize, MaxBytes: 1 << 30, ClockResolution: res})
					})
				})
			}
		})
	}
}

func TestNewInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		o    memory.Options
	}{
		{"NegativeMaxEntries", memory.Options{MaxEntries: -1}},
		{"NegativeMaxBytes", memory.Options{MaxBytes: -1}},
		{"BothNegative", memory.Options{MaxEntries: -5, MaxBytes: -5}},
		{"NegativeWithValidOther", memory.Options{MaxEntries: 10, MaxBytes: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := memory.New(tc.o)
			if !errors.Is(err, memory.ErrInvalidOptions) {
				t.Fatalf("New(%+v) error = %v, want memory.ErrInvalidOptions", tc.o, err)
			}
			if b != nil {
				t.Errorf("New returned a Backend with an error")
			}
			if !strings.HasPrefix(err.Error(), "memory: ") {
				t.Errorf("error %q lacks the memory: prefix", err)
			}
		})
	}
}

func TestNewValidOptions(t *testing.T) {
	tests := []struct {
		name string
		o    memory.Options
	}{
		{"Zero", memory.Options{}},
		{"MaxEntries", memory.Options{MaxEntries: 1}},
		{"MaxBytes", memory.Options{MaxBytes: 1}},
		{"Both", memory.Options{MaxEntries: 3, MaxBytes: 1 << 40}},
		{"BytesBelowEntries", memory.Options{MaxEntries: 1000, MaxBytes: 10}},
		{"Weigher", memory.Options{MaxBytes: 100, Weigher: func(string, string, *backend.Entry) uint32 { return 0 }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, tc.o)
			if err := b.Set(t.Context(), "k", nil, 0); err != nil {
				t.Fatalf("Set: %v", err)
			}
			b.StoreEntry("ns", "k", &backend.Entry{}, 0)
			if n := b.Len(); n > 2 {
				t.Fatalf("Len = %d after two stores", n)
			}
		})
	}
}

func TestKeepsValues(t *testing.T) {
	tests := []struct {
		serialize bool
		want      bool
	}{
		{serialize: false, want: true},
		{serialize: true, want: false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("Serialize=%t", tc.serialize), func(t *testing.T) {
			b := newBackend(t, memory.Options{Serialize: tc.serialize})
			if got := b.KeepsValues(); got != tc.want {
				t.Fatalf("KeepsValues() = %t, want %t", got, tc.want)
			}
		})
	}
}

func TestValueStoreRoundTrip(t *testing.T) {
	b := newBackend(t, memory.Options{})
	e := &backend.Entry{Value: []int{1, 2, 3}, Created: 42, Expiration: time.Minute}
	b.StoreEntry("users:", "42", e, time.Hour)

	got, ok := b.LoadEntry("users:", "42")
	if !ok {
		t.Fatal("LoadEntry missed a stored entry")
	}
	if got != e {
		t.Fatalf("LoadEntry returned %p, want the stored pointer %p", got, e)
	}

	// The namespace is part of the key: nothing leaks across namespaces or
	// from a concatenation of the two parts.
	for _, nk := range [][2]string{{"users", ":42"}, {"", "users:42"}, {"users:", "4"}, {"other:", "42"}} {
		if got, ok := b.LoadEntry(nk[0], nk[1]); ok || got != nil {
			t.Errorf("LoadEntry(%q, %q) = %v, %t; want a miss", nk[0], nk[1], got, ok)
		}
	}

	e2 := &backend.Entry{Value: "second"}
	b.StoreEntry("users:", "42", e2, 0)
	if got, _ := b.LoadEntry("users:", "42"); got != e2 {
		t.Fatalf("LoadEntry after overwrite = %v, want %v", got, e2)
	}

	b.DeleteEntry("users:", "42")
	if _, ok := b.LoadEntry("users:", "42"); ok {
		t.Fatal("LoadEntry found a deleted entry")
	}
	b.DeleteEntry("users:", "42") // deleting a missing entry is harmless
}

func TestBytesAndEntriesDoNotMix(t *testing.T) {
	ctx := t.Context()
	b := newBackend(t, memory.Options{})

	// The byte methods use the empty namespace, but a byte value is not an
	// entry, nor an entry a byte value.
	if err := b.Set(ctx, "bytes", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if e, ok := b.LoadEntry("", "bytes"); ok || e != nil {
		t.Errorf("LoadEntry of a byte value = %v, %t; want a miss", e, ok)
	}
	b.StoreEntry("", "entry", &backend.Entry{Value: 1}, 0)
	if v, err := b.Get(ctx, "entry"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get of an entry = %q, %v; want backend.ErrNotFound", v, err)
	}
	vs, err := b.GetMulti(ctx, []string{"entry", "bytes"})
	if err != nil || vs[0] != nil || !bytes.Equal(vs[1], []byte("v")) {
		t.Errorf("GetMulti = %q, %v; want [nil v]", vs, err)
	}
	// Delete removes whichever the key holds.
	if err := b.Delete(ctx, "entry"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.LoadEntry("", "entry"); ok {
		t.Error("Delete left the entry in place")
	}
}

func TestNegativeTTLRemoves(t *testing.T) {
	ctx := t.Context()
	b := newBackend(t, memory.Options{})
	if err := b.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "k", []byte("new"), -time.Second); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after a negative TTL = %q, %v; want backend.ErrNotFound", v, err)
	}
	if err := b.SetMulti(ctx, []backend.Item{{Key: "m", Value: []byte("v"), TTL: -1}}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "m"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after SetMulti with a negative TTL = %q, %v; want backend.ErrNotFound", v, err)
	}

	b.StoreEntry("ns", "e", &backend.Entry{}, 0)
	b.StoreEntry("ns", "e", &backend.Entry{}, -time.Nanosecond)
	if _, ok := b.LoadEntry("ns", "e"); ok {
		t.Error("StoreEntry with a negative TTL left an entry")
	}
}

func TestExpiryInjectedClock(t *testing.T) {
	ctx := t.Context()
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	b := newBackend(t, memory.Options{Clock: clk})

	if err := b.Set(ctx, "bytes5s", []byte("v"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	b.StoreEntry("ns", "entry10s", &backend.Entry{Value: 1}, 10*time.Second)
	b.StoreEntry("ns", "forever", &backend.Entry{Value: 2}, 0)
	b.StoreEntry("ns", "rewritten", &backend.Entry{Value: 3}, 10*time.Second)

	present := func(name string) bool {
		if name == "bytes5s" {
			_, err := b.Get(ctx, name)
			return err == nil
		}
		_, ok := b.LoadEntry("ns", name)
		return ok
	}
	steps := []struct {
		advance time.Duration
		rewrite bool // store "rewritten" again with 10s before checking
		want    map[string]bool
	}{
		{0, false, map[string]bool{"bytes5s": true, "entry10s": true, "forever": true, "rewritten": true}},
		{5*time.Second - 1, false, map[string]bool{"bytes5s": true, "entry10s": true}},
		{1, false, map[string]bool{"bytes5s": false, "entry10s": true}},
		{4 * time.Second, true, map[string]bool{"entry10s": true, "rewritten": true}},
		{time.Second, false, map[string]bool{"entry10s": false, "forever": true, "rewritten": true}},
		{8*time.Second + 999*time.Millisecond, false, map[string]bool{"rewritten": true}},
		{time.Millisecond, false, map[string]bool{"rewritten": false, "forever": true}},
		{10_000 * time.Hour, false, map[string]bool{"forever": true}},
	}
	var elapsed time.Duration
	for _, s := range steps {
		clk.Advance(s.advance)
		elapsed += s.advance
		if s.rewrite {
			b.StoreEntry("ns", "rewritten", &backend.Entry{Value: 4}, 10*time.Second)
		}
		for name, want := range s.want {
			if got := present(name); got != want {
				t.Errorf("after %v: %s present = %t, want %t", elapsed, name, got, want)
			}
		}
	}
}

func TestExpiryRealClock(t *testing.T) {
	tests := []struct {
		name       string
		resolution time.Duration
		margin     time.Duration // how far from the TTL expiry may be
	}{
		{"DefaultCoarse", 0, 2 * memory.DefaultClockResolution},
		{"Coarse10ms", 10 * time.Millisecond, 20 * time.Millisecond},
		{"Precise", -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Inside the bubble the clocks read the bubble's fake time, and
			// the bubble fails if Close leaves a goroutine running.
			synctest.Test(t, func(t *testing.T) {
				b, err := memory.New(memory.Options{ClockResolution: tc.resolution})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				ctx := t.Context()
				if err := b.Set(ctx, "k", []byte("v"), time.Second); err != nil {
					t.Fatal(err)
				}
				b.StoreEntry("ns", "e", &backend.Entry{}, 2*time.Second)
				b.StoreEntry("ns", "forever", &backend.Entry{}, 0)

				time.Sleep(time.Second - tc.margin - time.Millisecond)
				if _, err := b.Get(ctx, "k"); err != nil {
					t.Fatalf("Get before the TTL: %v", err)
				}
				time.Sleep(tc.margin + time.Millisecond)
				if tc.margin > 0 {
					time.Sleep(tc.margin)
				}
				if v, err := b.Get(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
					t.Fatalf("Get after the TTL = %q, %v; want backend.ErrNotFound", v, err)
				}
				if _, ok := b.LoadEntry("ns", "e"); !ok {
					t.Fatal("LoadEntry missed an entry before its TTL")
				}
				time.Sleep(time.Second + tc.margin)
				if _, ok := b.LoadEntry("ns", "e"); ok {
					t.Fatal("LoadEntry found an entry after its TTL")
				}
				time.Sleep(time.Hour)
				if _, ok := b.LoadEntry("ns", "forever"); !ok {
					t.Fatal("LoadEntry missed an entry without TTL")
				}
			})
		})
	}
}

func TestCloseThenUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := memory.New(memory.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		b.StoreEntry("ns", "k", &backend.Entry{}, time.Second)
		if _, ok := b.LoadEntry("ns", "k"); !ok {
			t.Fatal("LoadEntry missed after Close")
		}
		time.Sleep(time.Second)
		if _, ok := b.LoadEntry("ns", "k"); ok {
			t.Fatal("expiry stopped working after Close")
		}
	})
}

func TestLoadEntryDoesNotAllocate(t *testing.T) {
	b := newBackend(t, memory.Options{})
	b.StoreEntry("ns", "k", &backend.Entry{Value: 1}, time.Hour)
	var sink *backend.Entry
	allocs := testing.AllocsPerRun(1000, func() {
		sink, _ = b.LoadEntry("ns", "k")
	})
	if sink == nil {
		t.Fatal("LoadEntry missed")
	}
	if allocs != 0 {
		t.Fatalf("LoadEntry allocates %v times per call, want 0", allocs)
	}
}

func TestLoadEntryForUpdateHitAllocs(t *testing.T) {
	b := newBackend(t, memory.Options{})
	b.StoreEntry("ns", "k", &backend.Entry{Value: 1}, time.Hour)
	var sink *backend.Entry
	allocs := testing.AllocsPerRun(1000, func() {
		sink, _ = b.LoadEntryForUpdate("ns", "k", time.Minute)
	})
	if sink == nil {
		t.Fatal("LoadEntryForUpdate missed")
	}
	if allocs != 0 {
		t.Fatalf("LoadEntryForUpdate of a present entry allocates %v times per call, want 0", allocs)
	}
}

// TestStaleSetRejected is the interleaving the conditional methods exist
// for: a creator reads a key for update, a writer then writes or deletes it,
// and the creator's conditional write fails, leaving the writer's result.
func TestStaleSetRejected(t *testing.T) {
	ctx := t.Context()
	b := newBackend(t, memory.Options{})

	t.Run("Set", func(t *testing.T) {
		_, versions, err := b.GetForUpdate(ctx, []string{"set"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Set(ctx, "set", []byte("writer"), 0); err != nil {
			t.Fatal(err)
		}
		stored, err := b.SetIf(ctx, []backend.Item{{Key: "set", Value: []byte("creator")}}, versions)
		if err != nil || stored[0] {
			t.Fatalf("creator's SetIf = %v, %v; want not stored", stored, err)
		}
		if v, err := b.Get(ctx, "set"); err != nil || string(v) != "writer" {
			t.Fatalf("Get = %q, %v; want the writer's value", v, err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if err := b.Set(ctx, "del", []byte("old"), 0); err != nil {
			t.Fatal(err)
		}
		_, versions, err := b.GetForUpdate(ctx, []string{"del"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "del"); err != nil {
			t.Fatal(err)
		}
		stored, err := b.SetIf(ctx, []backend.Item{{Key: "del", Value: []byte("creator")}}, versions)
		if err != nil || stored[0] {
			t.Fatalf("creator's SetIf = %v, %v; want not stored", stored, err)
		}
		if v, err := b.Get(ctx, "del"); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("Get = %q, %v; want backend.ErrNotFound", v, err)
		}
	})
	t.Run("StoreEntry", func(t *testing.T) {
		_, v := b.LoadEntryForUpdate("ns", "store", time.Minute)
		writer := &backend.Entry{Value: "writer"}
		b.StoreEntry("ns", "store", writer, 0)
		if b.StoreEntryIf("ns", "store", &backend.Entry{Value: "creator"}, 0, v) {
			t.Fatal("creator's StoreEntryIf stored over the writer's entry")
		}
		if e, ok := b.LoadEntry("ns", "store"); !ok || e != writer {
			t.Fatalf("LoadEntry = %v, %t; want the writer's entry", e, ok)
		}
	})
	t.Run("DeleteEntry", func(t *testing.T) {
		b.StoreEntry("ns", "delentry", &backend.Entry{Value: "old"}, 0)
		_, v := b.LoadEntryForUpdate("ns", "delentry", time.Minute)
		b.DeleteEntry("ns", "delentry")
		if b.StoreEntryIf("ns", "delentry", &backend.Entry{Value: "creator"}, 0, v) {
			t.Fatal("creator's StoreEntryIf stored after DeleteEntry")
		}
		if e, ok := b.LoadEntry("ns", "delentry"); ok {
			t.Fatalf("LoadEntry = %v; want a miss", e)
		}
	})
}

func TestConditionalNegativeTTLRemoves(t *testing.T) {
	ctx := t.Context()
	b := newBackend(t, memory.Options{})
	if err := b.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	_, versions, err := b.GetForUpdate(ctx, []string{"k"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := b.SetIf(ctx, []backend.Item{{Key: "k", Value: []byte("new"), TTL: -1}}, versions)
	if err != nil || !stored[0] {
		t.Fatalf("SetIf with a negative TTL = %v, %v; want stored (and expired at once)", stored, err)
	}
	if v, err := b.Get(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after SetIf with a negative TTL = %q, %v; want backend.ErrNotFound", v, err)
	}

	b.StoreEntry("ns", "e", &backend.Entry{}, 0)
	_, v := b.LoadEntryForUpdate("ns", "e", time.Minute)
	if !b.StoreEntryIf("ns", "e", &backend.Entry{}, -time.Nanosecond, v) {
		t.Fatal("StoreEntryIf with a negative TTL = false, want true")
	}
	if _, ok := b.LoadEntry("ns", "e"); ok {
		t.Error("StoreEntryIf with a negative TTL left an entry")
	}
}

// TestConditionalAcrossKinds: the byte methods and the ValueStore methods
// never return each other's values, but a lease of either is a lease on
// whatever the key holds, and voids the leases of the other.
func TestConditionalAcrossKinds(t *testing.T) {
	ctx := t.Context()
	b := newBackend(t, memory.Options{})
	entry := &backend.Entry{Value: 1}
	b.StoreEntry("", "k", entry, 0)
	values, versions, err := b.GetForUpdate(ctx, []string{"k"}, time.Minute)
	if err != nil || values[0] != nil || versions[0] == 0 {
		t.Fatalf("GetForUpdate of an entry = %q, %v, %v; want nil and a version", values, versions, err)
	}
	e, v := b.LoadEntryForUpdate("", "k", time.Minute)
	if e != entry || v == versions[0] || v == 0 {
		t.Fatalf("LoadEntryForUpdate = %v, %d; want the entry and a version not %d", e, v, versions[0])
	}
	stored, err := b.SetIf(ctx, []backend.Item{{Key: "k", Value: []byte("bytes")}}, versions)
	if err != nil || stored[0] {
		t.Fatalf("SetIf with the version LoadEntryForUpdate voided = %v, %v; want not stored", stored, err)
	}
	versions[0] = v
	stored, err = b.SetIf(ctx, []backend.Item{{Key: "k", Value: []byte("bytes")}}, versions)
	if err != nil || !stored[0] {
		t.Fatalf("SetIf over the entry = %v, %v", stored, err)
	}
	if _, ok := b.LoadEntry("", "k"); ok {
		t.Fatal("LoadEntry returned a byte value")
	}
	if e, v := b.LoadEntryForUpdate("", "k", time.Minute); e != nil || v == versions[0] || v == 0 {
		t.Fatalf("LoadEntryForUpdate of a byte value = %v, %d; want nil and a new version", e, v)
	}
}

// TestLeaseKeepsExpiry: a lease on a value or an entry changes its version
// only — it expires when it would have without the lease, to the nanosecond
// — while a lease on a placeholder replaces it by one of the new TTL.
func TestLeaseKeepsExpiry(t *testing.T) {
	ctx := t.Context()
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	b := newBackend(t, memory.Options{Clock: clk})
	if err := b.Set(ctx, "bytes", []byte("v"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	entry := &backend.Entry{Value: 1}
	b.StoreEntry("ns", "entry", entry, 10*time.Second)
	b.LoadEntryForUpdate("ns", "placeholder", 10*time.Second)

	clk.Advance(6 * time.Second)
	values, versions, err := b.GetForUpdate(ctx, []string{"bytes"}, time.Hour)
	if err != nil || string(values[0]) != "v" {
		t.Fatalf("GetForUpdate = %q, %v", values, err)
	}
	if e, _ := b.LoadEntryForUpdate("ns", "entry", time.Hour); e != entry {
		t.Fatalf("LoadEntryForUpdate = %v, want %v", e, entry)
	}
	_, pv := b.LoadEntryForUpdate("ns", "placeholder", 10*time.Second)

	clk.Advance(4*time.Second - 1)
	if v, err := b.Get(ctx, "bytes"); err != nil || string(v) != "v" {
		t.Fatalf("Get 1ns before the TTL = %q, %v", v, err)
	}
	if e, ok := b.LoadEntry("ns", "entry"); !ok || e != entry {
		t.Fatalf("LoadEntry 1ns before the TTL = %v, %t", e, ok)
	}
	clk.Advance(1)
	if _, err := b.Get(ctx, "bytes"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get at the TTL = %v, want backend.ErrNotFound: the lease extended the value", err)
	}
	if _, ok := b.LoadEntry("ns", "entry"); ok {
		t.Fatal("LoadEntry at the TTL found the entry: the lease extended it")
	}
	if stored, _ := b.SetIf(ctx, []backend.Item{{Key: "bytes", Value: []byte("late")}}, versions); stored[0] {
		t.Fatal("SetIf of an expired value stored")
	}
	// The placeholder the second lease made lives 10s from that lease.
	if !b.StoreEntryIf("ns", "placeholder", entry, 0, pv) {
		t.Fatal("StoreEntryIf over the renewed placeholder = false")
	}
}

// TestLeaseRacesStoreIf: leases taken without the key's lock (a
// compare-and-swap of the item's version) and conditional writes under it
// agree on one order. Each round, goroutines lease a key at once and then
// SetIf it at once: exactly one stores. Between rounds, a SetIf that stored
// retires the item that leases of the next round may still find.
func TestLeaseRacesStoreIf(t *testing.T) {
	ctx := t.Context()
	b := newBackend(t, memory.Options{})
	const goroutines, rounds = 8, 300
	if err := b.Set(ctx, "k", []byte("old"), 0); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		var (
			leases, wg sync.WaitGroup
			stored     atomic.Int32
			leased     = make(chan struct{})
		)
		leases.Add(goroutines)
		for i := range goroutines {
			wg.Go(func() {
				_, vs, err := b.GetForUpdate(ctx, []string{"k"}, time.Minute)
				leases.Done()
				if err != nil {
					t.Error(err)
					return
				}
				<-leased
				st, err := b.SetIf(ctx, []backend.Item{{Key: "k", Value: fmt.Appendf(nil, "%d", i)}}, vs)
				if err != nil {
					t.Error(err)
					return
				}
				if st[0] {
					stored.Add(1)
				}
			})
		}
		leases.Wait()
		close(leased)
		wg.Wait()
		if n := stored.Load(); n != 1 {
			t.Fatalf("round %d: %d SetIfs stored, want exactly 1 (the last lease's)", round, n)
		}
	}
}
