package integration_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/region"
)

// Negative caching and batch cached functions on real servers, across two
// processes (regions of one name with clients, lockers and registries of
// their own) on Redis, a Redis Cluster and memcached.

// batchDB is a batch loader recording the ids of each call; ids in missing
// have no row.
type batchDB struct {
	mu      sync.Mutex
	calls   [][]int
	missing map[int]bool
}

func (db *batchDB) load(_ context.Context, ids []int) (map[int]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.calls = append(db.calls, slices.Sorted(slices.Values(ids)))
	out := map[int]string{}
	for _, id := range ids {
		if !db.missing[id] {
			out[id] = fmt.Sprint("row", id)
		}
	}
	return out, nil
}

// asked returns and forgets the ids of every call so far.
func (db *batchDB) asked() [][]int {
	db.mu.Lock()
	defer db.mu.Unlock()
	c := db.calls
	db.calls = nil
	return c
}

func checkAsked(t *testing.T, who string, db *batchDB, want ...[]int) {
	t.Helper()
	got := db.asked()
	if !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Fatalf("%s: function called with %v, want %v", who, got, want)
	}
}

func checkRows(t *testing.T, who string, got map[int]string, err error, ids ...int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	if len(got) != len(ids) {
		t.Fatalf("%s: got %v, want ids %v", who, got, ids)
	}
	for _, id := range ids {
		if got[id] != fmt.Sprint("row", id) {
			t.Fatalf("%s: got %v, want ids %v", who, got, ids)
		}
	}
}

func TestBatchFuncAcrossProcesses(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			name := "batch-" + d.name
			cfg := region.Config{Expiration: time.Hour}
			a := startProcess(t, d, name, coherenceStart, cfg)
			b := startProcess(t, d, name, coherenceStart, cfg)
			dbA, dbB := &batchDB{missing: map[int]bool{9: true}}, &batchDB{missing: map[int]bool{9: true}}
			fa, err := region.CacheBatch(a.r, dbA.load, region.Named("rows"), region.WithNegativeExpiration(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			fb, err := region.CacheBatch(b.r, dbB.load, region.Named("rows"), region.WithNegativeExpiration(time.Minute))
			if err != nil {
				t.Fatal(err)
			}

			got, err := fa.Call(ctx, []int{1, 2, 3, 9})
			checkRows(t, "A", got, err, 1, 2, 3)
			checkAsked(t, "A", dbA, []int{1, 2, 3, 9})
			got, err = fb.Call(ctx, []int{1, 2, 3, 4, 9})
			checkRows(t, "B", got, err, 1, 2, 3, 4)
			checkAsked(t, "B", dbB, []int{4}) // 9's "not found" is shared too

			// A invalidates one result: B asks for that key alone.
			if err := fa.Invalidate(ctx, 2); err != nil {
				t.Fatal(err)
			}
			got, err = fb.Call(ctx, []int{1, 2, 3})
			checkRows(t, "B after A's Invalidate(2)", got, err, 1, 2, 3)
			checkAsked(t, "B after A's Invalidate(2)", dbB, []int{2})

			// A invalidates every result: B sees it once InvalidationRefresh
			// has passed on its clock.
			if keys, err := fa.Keys(ctx); err == nil && len(keys) == 0 {
				t.Fatalf("A lists no keys")
			}
			if err := fa.InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			b.clock.Advance(2 * coherenceRefresh)
			got, err = fb.Call(ctx, []int{1, 4})
			checkRows(t, "B after A's InvalidateAll", got, err, 1, 4)
			checkAsked(t, "B after A's InvalidateAll", dbB, []int{1, 4})
			checkAsked(t, "A", dbA)
		})
	}
}

// TestNegativeCachingAcrossProcesses shares a cached "not found" between
// two processes, plain and encrypted (sealed negative entries), on every
// shared deployment.
func TestNegativeCachingAcrossProcesses(t *testing.T) {
	for _, d := range sharedDeployments(t) {
		for _, encrypted := range []bool{false, true} {
			testNegativeCachingAcrossProcesses(t, d, encrypted)
		}
	}
}

func testNegativeCachingAcrossProcesses(t *testing.T, d deployment, encrypted bool) {
	sub := d.name
	if encrypted {
		sub += "/encrypted"
	}
	t.Run(sub, func(t *testing.T) {
		ctx := context.Background()
		name := "negative-" + strings.ReplaceAll(sub, "/", "-")
		cfg := region.Config{Expiration: time.Hour, NegativeExpiration: 10 * time.Second}
		if encrypted {
			cfg.Keyring = testKeyring(t, 1, 1)
		}
		a := startProcess(t, d, name, coherenceStart, cfg)
		b := startProcess(t, d, name, coherenceStart, cfg)
		var calls int
		lookup := func(context.Context) (string, error) {
			calls++
			return "", fmt.Errorf("row 7: %w", region.ErrNotFound)
		}
		if _, err := region.GetOrCreate(ctx, a.r, "row:7", lookup); !errors.Is(err, region.ErrNotFound) {
			t.Fatalf("A: %v, want ErrNotFound", err)
		}
		if _, err := region.GetOrCreate(ctx, b.r, "row:7", lookup); !errors.Is(err, region.ErrNotFound) {
			t.Fatalf("B: %v, want the cached ErrNotFound", err)
		}
		if _, found, err := region.Get[string](ctx, b.r, "row:7"); found || !errors.Is(err, region.ErrNotFound) {
			t.Fatalf("B Get: %v, %v", found, err)
		}
		if calls != 1 {
			t.Fatalf("the creator ran %d times, want 1", calls)
		}
		// The row appears: A writes it through; B reads it at once.
		if err := a.r.Set(ctx, "row:7", "row7"); err != nil {
			t.Fatal(err)
		}
		if v, err := region.GetOrCreate(ctx, b.r, "row:7", lookup); v != "row7" || err != nil {
			t.Fatalf("B after A's Set: %q, %v", v, err)
		}
		// A not-found again, then stale on B's clock after 10s.
		if err := a.r.Delete(ctx, "row:7"); err != nil {
			t.Fatal(err)
		}
		if _, err := region.GetOrCreate(ctx, a.r, "row:7", lookup); !errors.Is(err, region.ErrNotFound) {
			t.Fatal(err)
		}
		b.clock.Advance(10 * time.Second)
		if v, err := region.GetOrCreate(ctx, b.r, "row:7", func(context.Context) (string, error) { return "found", nil }); v != "found" || err != nil {
			t.Fatalf("B after the negative expiration: %q, %v", v, err)
		}
		if calls != 2 {
			t.Fatalf("the creator ran %d times, want 2", calls)
		}
	})
}
