package region_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// userDB is a batch loader that records which ids each call asked for;
// ids in missing have no row.
type userDB struct {
	mu      sync.Mutex
	calls   [][]int
	missing map[int]bool
}

func (db *userDB) load(_ context.Context, ids []int) (map[int]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.calls = append(db.calls, slices.Sorted(slices.Values(ids)))
	out := make(map[int]string, len(ids))
	for _, id := range ids {
		if !db.missing[id] {
			out[id] = fmt.Sprint("user", id)
		}
	}
	return out, nil
}

// asked returns the ids of every call since the last asked, one slice per
// call.
func (db *userDB) asked() [][]int {
	db.mu.Lock()
	defer db.mu.Unlock()
	c := db.calls
	db.calls = nil
	return c
}

func wantAsked(t *testing.T, db *userDB, want ...[]int) {
	t.Helper()
	got := db.asked()
	if len(got) != len(want) {
		t.Fatalf("function called with %v, want %v", got, want)
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("function called with %v, want %v", got, want)
		}
	}
}

func wantUsers(t *testing.T, got map[int]string, err error, ids ...int) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("got %v, want ids %v", got, ids)
	}
	for _, id := range ids {
		if got[id] != fmt.Sprint("user", id) {
			t.Fatalf("got %v, want ids %v", got, ids)
		}
	}
}

func TestCacheBatch(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: newClock()})
			db := &userDB{missing: map[int]bool{9: true}}
			users, err := region.CacheBatch(r, db.load, region.Named("users"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := users.Call(ctx, []int{3, 1, 2, 1})
			wantUsers(t, got, err, 1, 2, 3)
			wantAsked(t, db, []int{1, 2, 3})

			got, err = users.Call(ctx, []int{2, 3, 4})
			wantUsers(t, got, err, 2, 3, 4)
			wantAsked(t, db, []int{4}) // one call, for the key still missing

			// Without negative caching, a key the function leaves out is
			// not cached: it is asked for again.
			for range 2 {
				got, err = users.Call(ctx, []int{1, 9})
				wantUsers(t, got, err, 1)
			}
			wantAsked(t, db, []int{9}, []int{9})

			// Per-key records: one result invalidated, then all of them.
			if err := users.Invalidate(ctx, 2); err != nil {
				t.Fatal(err)
			}
			got, err = users.Call(ctx, []int{1, 2, 3})
			wantUsers(t, got, err, 1, 2, 3)
			wantAsked(t, db, []int{2})
			keys, err := users.Keys(ctx)
			if err != nil || len(keys) != 4 {
				t.Fatalf("Keys = %v, %v; want the 4 stored results", keys, err)
			}
			if key, recorded, err := users.Key(ctx, 3); err != nil || !recorded || !slices.Contains(keys, key) {
				t.Fatalf("Key(3) = %q, %v, %v", key, recorded, err)
			}
			if err := users.InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			got, err = users.Call(ctx, []int{1, 4})
			wantUsers(t, got, err, 1, 4)
			wantAsked(t, db, []int{1, 4})

			// Write-through and the single-key view.
			if err := users.Set(ctx, 7, "user7"); err != nil {
				t.Fatal(err)
			}
			if v, found, err := users.Get(ctx, 7); v != "user7" || !found || err != nil {
				t.Fatalf("Get(7) = %q, %v, %v", v, found, err)
			}
			got, err = users.Call(ctx, []int{7})
			wantUsers(t, got, err, 7)
			wantAsked(t, db)
		})
	}
}

func TestCacheBatchNegative(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			clock := newClock()
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), Clock: clock, Expiration: time.Hour})
			db := &userDB{missing: map[int]bool{9: true}}
			users, err := region.CacheBatch(r, db.load, region.Named("users"), region.WithNegativeExpiration(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				got, err := users.Call(ctx, []int{1, 9})
				wantUsers(t, got, err, 1)
			}
			wantAsked(t, db, []int{1, 9}) // the "not found" for 9 is cached too
			if _, found, err := users.Get(ctx, 9); found || !errors.Is(err, region.ErrNotFound) {
				t.Fatalf("Get(9) = %v, %v; want the cached ErrNotFound", found, err)
			}
			clock.Advance(time.Minute) // the negative answer goes stale, the value does not
			db.missing[9] = false
			got, err := users.Call(ctx, []int{1, 9})
			wantUsers(t, got, err, 1, 9)
			wantAsked(t, db, []int{9})
		})
	}
}

func TestCacheBatchErrors(t *testing.T) {
	ctx := context.Background()
	r := newRegion(t, region.Config{})
	boom := errors.New("db down")
	calls := 0
	f, err := region.CacheBatch(r, func(context.Context, []int) (map[int]string, error) {
		calls++
		return nil, boom
	}, region.Named("failing"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.Call(ctx, []int{1}); !errors.Is(err, boom) {
			t.Fatalf("got %v, want the function's error", err)
		}
	}
	if calls != 2 {
		t.Fatalf("function ran %d times; an error must not be cached", calls)
	}
	if _, err := region.CacheBatch[int, string](r, nil, region.Named("nil")); !errors.Is(err, region.ErrInvalidConfig) {
		t.Fatalf("nil function: %v", err)
	}
	if _, err := f.Call(ctx, []int{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Call(ctx, []int{1}); calls != 3 || !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

// Two regions sharing one backend, as two processes would: one's
// invalidation reaches the other's results.
func TestCacheBatchAcrossRegions(t *testing.T) {
	ctx := context.Background()
	a, b := twoProcesses(t, true, region.Config{})
	dbA, dbB := &userDB{}, &userDB{}
	ua, err := region.CacheBatch(a, dbA.load, region.Named("users"))
	if err != nil {
		t.Fatal(err)
	}
	ub, err := region.CacheBatch(b, dbB.load, region.Named("users"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ua.Call(ctx, []int{1, 2})
	wantUsers(t, got, err, 1, 2)
	got, err = ub.Call(ctx, []int{1, 2, 3})
	wantUsers(t, got, err, 1, 2, 3)
	wantAsked(t, dbB, []int{3})
	if err := ua.Invalidate(ctx, 2); err != nil {
		t.Fatal(err)
	}
	got, err = ub.Call(ctx, []int{1, 2})
	wantUsers(t, got, err, 1, 2)
	wantAsked(t, dbB, []int{2})
}

// TestCacheBatchOverlap: two calls of a batch function for {1,2,3} and
// {2,3,4} in flight together create 2 and 3 once: the second call finds
// them leased by the first, waits, and takes what it stored. On a store
// that keeps values and on one that keeps bytes.
func TestCacheBatchOverlap(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		t.Run(map[bool]string{false: "values", true: "bytes"}[serialize], func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, serialize), Locker: lock.NewLocal(), LockWait: 10 * time.Second})
			first, release := make(chan struct{}), make(chan struct{})
			var mu sync.Mutex
			created := map[int]int{}
			load := func(_ context.Context, ids []int) (map[int]string, error) {
				mu.Lock()
				n := len(created)
				for _, id := range ids {
					created[id]++
				}
				mu.Unlock()
				if n == 0 { // the first call: hold it while the second begins
					close(first)
					<-release
				}
				out := map[int]string{}
				for _, id := range ids {
					out[id] = "v" + strconv.Itoa(id)
				}
				return out, nil
			}
			f, err := region.CacheBatch(r, load, region.Named("overlap"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			done := make(chan error, 2)
			go func() { _, err := f.Call(ctx, []int{1, 2, 3}); done <- err }()
			<-first
			go func() {
				got, err := f.Call(ctx, []int{2, 3, 4})
				if err == nil && (got[2] != "v2" || got[3] != "v3" || got[4] != "v4") {
					err = fmt.Errorf("second call got %v", got)
				}
				done <- err
			}()
			// The second call has leased 4 and waits on 2 and 3: let the
			// first store.
			waitFor(t, "the second call to wait", func() bool { return r.Stats().LockWaits > 0 })
			close(release)
			for range 2 {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for id, n := range created {
				if n != 1 {
					t.Errorf("key %d created %d times, want once (created: %v)", id, n, created)
				}
			}
			if len(created) != 4 {
				t.Errorf("created %v, want 1 to 4", created)
			}
		})
	}
}
