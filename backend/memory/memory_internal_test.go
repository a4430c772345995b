package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
)

// These tests need otter's CleanUp to finish pending maintenance before they
// look at the bounds.

func mustNew(t *testing.T, o Options) *Backend {
	t.Helper()
	b, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestEvictionBoundsEntries(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		max  int
	}{
		{"MaxEntries", Options{MaxEntries: 100}, 100},
		{"MaxEntriesWithLargeMaxBytes", Options{MaxEntries: 100, MaxBytes: 1 << 30}, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, tc.o)
			ctx := context.Background()
			for i := range 10 * tc.max {
				if err := b.Set(ctx, fmt.Sprint("bytes", i), []byte("v"), 0); err != nil {
					t.Fatal(err)
				}
				b.StoreEntry("ns", fmt.Sprint("entry", i), &backend.Entry{Value: i}, 0)
			}
			b.cache.CleanUp()
			if n := b.Len(); n > tc.max || n == 0 {
				t.Fatalf("Len = %d after inserting %d entries, want 1..%d", n, 20*tc.max, tc.max)
			}
		})
	}
}

func TestDefaultBound(t *testing.T) {
	b := mustNew(t, Options{})
	if got := b.cache.GetMaximum(); got != DefaultMaxEntries {
		t.Fatalf("maximum = %d, want DefaultMaxEntries", got)
	}
	if b.cache.IsWeighted() {
		t.Fatal("the default cache is weighted, want bounded by entries")
	}
}

func TestMaxBytesBound(t *testing.T) {
	const maxBytes = 10_000
	b := mustNew(t, Options{MaxBytes: maxBytes})
	ctx := context.Background()
	value := make([]byte, 100)

	if err := b.Set(ctx, "first", value, 0); err != nil {
		t.Fatal(err)
	}
	b.cache.CleanUp()
	if got, want := b.cache.WeightedSize(), uint64(len(value)+len("first")+ItemOverhead); got != want {
		t.Fatalf("weight of one value = %d, want %d", got, want)
	}

	for i := range 1000 {
		if err := b.Set(ctx, fmt.Sprint("k", i), value, 0); err != nil {
			t.Fatal(err)
		}
	}
	b.cache.CleanUp()
	if w := b.cache.WeightedSize(); w > maxBytes {
		t.Fatalf("weighted size = %d, want at most %d", w, maxBytes)
	}
	perItem := len(value) + len("k999") + ItemOverhead
	if n := b.Len(); n > maxBytes/(perItem-1) || n == 0 {
		t.Fatalf("Len = %d, want 1..%d", n, maxBytes/(perItem-1))
	}
}

func TestEntryWeights(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		want    uint64 // weight of one stored entry
		maxKeep int    // entries left of 100 stored
	}{
		{"Default", Options{MaxBytes: 10 * DefaultEntryWeight}, DefaultEntryWeight, 10},
		{
			"Weigher",
			Options{MaxBytes: 10_000, Weigher: func(ns, key string, e *backend.Entry) uint32 {
				return uint32(e.Value.(int))
			}},
			1000, 10,
		},
		{"ZeroWeightCountsOne", Options{MaxBytes: 50, Weigher: func(string, string, *backend.Entry) uint32 { return 0 }}, 1, 50},
		{"FloorFromMaxEntries", Options{MaxBytes: 1 << 20, MaxEntries: 4}, 1 << 18, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, tc.o)
			b.StoreEntry("ns", "one", &backend.Entry{Value: 1000}, 0)
			b.cache.CleanUp()
			if got := b.cache.WeightedSize(); got != tc.want {
				t.Fatalf("weight of one entry = %d, want %d", got, tc.want)
			}
			for i := range 100 {
				b.StoreEntry("ns", fmt.Sprint(i), &backend.Entry{Value: 1000}, 0)
			}
			b.cache.CleanUp()
			if n := b.Len(); n > tc.maxKeep || n == 0 {
				t.Fatalf("Len = %d, want 1..%d", n, tc.maxKeep)
			}
		})
	}
}

// TestPlaceholderWeight: a placeholder weighs as an empty byte value, and
// never reaches a Weigher, which is written for entries.
func TestPlaceholderWeight(t *testing.T) {
	b := mustNew(t, Options{MaxBytes: 1 << 20, Weigher: func(_, _ string, e *backend.Entry) uint32 {
		return uint32(e.Value.(int))
	}})
	if e, v := b.LoadEntryForUpdate("ns", "key", time.Minute); e != nil || v == 0 {
		t.Fatalf("LoadEntryForUpdate = %v, %d", e, v)
	}
	b.cache.CleanUp()
	if got, want := b.cache.WeightedSize(), uint64(ItemOverhead+len("ns")+len("key")); got != want {
		t.Fatalf("weight of a placeholder = %d, want %d", got, want)
	}
}
