package region_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/region"
)

// recorder is a multi creator that records the keys of each call.
type recorder struct {
	mu    sync.Mutex
	calls [][]string
}

func (rc *recorder) create(ctx context.Context, keys []string) ([]string, error) {
	rc.mu.Lock()
	rc.calls = append(rc.calls, slices.Clone(keys))
	rc.mu.Unlock()
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = "v-" + k
	}
	return out, nil
}

func TestGetOrCreateMulti(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize)})
			ctx := context.Background()
			_ = r.Set(ctx, "a", "stored-a")
			var rc recorder
			got, err := region.GetOrCreateMulti(ctx, r, []string{"c", "a", "b", "c"}, rc.create)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"v-c", "stored-a", "v-b", "v-c"}; !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			if len(rc.calls) != 1 || !slices.Equal(rc.calls[0], []string{"b", "c"}) {
				t.Fatalf("creator calls %q, want one call with the missing keys [b c]", rc.calls)
			}
			values, err := region.GetMulti[string](ctx, r, []string{"a", "b", "zz"})
			if err != nil || len(values) != 2 || values["b"] != "v-b" {
				t.Fatalf("GetMulti: %v, %v", values, err)
			}
		})
	}
}

func TestGetOrCreateMultiRereadsAfterWaiting(t *testing.T) {
	a, b := twoProcesses(t, true, region.Config{})
	ctx := context.Background()
	g := newGate()
	go func() { _, _ = region.GetOrCreate(ctx, a, "k2", create(g, "from-a")) }()
	<-g.entered // a holds k2's lock

	var rc recorder
	done := make(chan []string)
	go func() {
		got, err := region.GetOrCreateMulti(ctx, b, []string{"k1", "k2", "k3"}, rc.create)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	waitFor(t, "b to wait for k2's lock", func() bool { return b.Stats().LockWaits == 1 })
	close(g.open)
	got := <-done
	if want := []string{"v-k1", "from-a", "v-k3"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(rc.calls) != 1 || !slices.Equal(rc.calls[0], []string{"k1", "k3"}) {
		t.Fatalf("creator calls %q: k2 was created while b waited and must not be created again", rc.calls)
	}
}

func TestGetOrCreateMultiStale(t *testing.T) {
	clock := newClock()
	r := newRegion(t, region.Config{Clock: clock, Expiration: time.Minute})
	ctx := context.Background()
	_ = r.SetMulti(ctx, map[string]any{"a": "old-a", "b": "old-b"})
	clock.Advance(2 * time.Minute)
	var rc recorder
	got, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, rc.create)
	if err != nil || !slices.Equal(got, []string{"v-a", "v-b"}) {
		t.Fatalf("got %q, %v: the lock holder regenerates the stale keys", got, err)
	}
	if len(rc.calls) != 1 {
		t.Fatalf("creator calls %q, want 1", rc.calls)
	}
}

func TestGetOrCreateMultiCreatorErrors(t *testing.T) {
	r := newRegion(t, region.Config{})
	ctx := context.Background()
	_, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, func(context.Context, []string) ([]int, error) {
		return []int{1}, nil
	})
	if !errors.Is(err, region.ErrCreatorResult) {
		t.Fatalf("got %v, want ErrCreatorResult", err)
	}
	_, err = region.GetOrCreateMulti(ctx, r, []string{"a"}, func(context.Context, []string) ([]int, error) {
		panic("boom")
	})
	var pe *region.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want *PanicError", err)
	}
	// Locks were released: the keys can be created now.
	within(t, time.Second, "a call after the failures", func() {
		got, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, func(_ context.Context, keys []string) ([]int, error) {
			return make([]int, len(keys)), nil
		})
		if err != nil || len(got) != 2 {
			t.Errorf("got %v, %v", got, err)
		}
	})
}

func TestMultiWithNoKeys(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize)})
			var rc recorder
			got, err := region.GetOrCreateMulti(context.Background(), r, nil, rc.create)
			if err != nil || len(got) != 0 || len(rc.calls) != 0 {
				t.Fatalf("got %q, %v, %d creator calls", got, err, len(rc.calls))
			}
			values, err := region.GetMulti[string](context.Background(), r, nil)
			if err != nil || len(values) != 0 {
				t.Fatalf("GetMulti: %v, %v", values, err)
			}
		})
	}
}

// TestGetOrCreateMultiDuplicateHits checks that a key named twice in one
// call counts one hit, on both tiers (the byte tier's typed first read
// once counted one per name).
func TestGetOrCreateMultiDuplicateHits(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize)})
			ctx := context.Background()
			var rc recorder
			if _, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b"}, rc.create); err != nil {
				t.Fatal(err)
			}
			before := r.Stats().Hits
			got, err := region.GetOrCreateMulti(ctx, r, []string{"a", "b", "a"}, rc.create)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"v-a", "v-b", "v-a"}; !slices.Equal(got, want) {
				t.Fatalf("GetOrCreateMulti = %q, want %q", got, want)
			}
			if hits := r.Stats().Hits - before; hits != 2 {
				t.Errorf("a call of a, b, a counted %d hits, want 2", hits)
			}
		})
	}
}
