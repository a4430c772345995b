package region_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/internal/keyspace"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// tagTiers runs test on a store that keeps values and on one that keeps
// bytes (whose tag counters are read and refreshed like generations), with
// two regions on one backend and a clock of the test's.
func tagTiers(t *testing.T, test func(t *testing.T, a, b *region.Region, be backend.Backend, clock *fakeclock.Clock)) {
	for _, serialize := range []bool{false, true} {
		t.Run(map[bool]string{false: "values", true: "bytes"}[serialize], func(t *testing.T) {
			be := newMemory(t, serialize)
			clock := newClock()
			reg, _ := keyreg.NewMemory(keyreg.MemoryOptions{})
			cfg := region.Config{Backend: be, Locker: lock.NewLocal(), Registry: reg, Clock: clock,
				InvalidationRefresh: time.Second, Logger: quiet}
			a, err := region.New("a", cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := region.New("b", cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			test(t, a, b, be, clock)
		})
	}
}

// counting is a creator that returns "<name>#<n>", n counting its runs.
func counting(name string) (func(context.Context) (string, error), *atomic.Int32) {
	var n atomic.Int32
	return func(context.Context) (string, error) {
		return name + "#" + strconv.Itoa(int(n.Add(1))), nil
	}, &n
}

func mustGetOrCreate(t *testing.T, r *region.Region, key string, create func(context.Context) (string, error), want string, opts ...region.CallOption) {
	t.Helper()
	v, err := region.GetOrCreate(t.Context(), r, key, create, opts...)
	if err != nil || v != want {
		t.Fatalf("%s: GetOrCreate(%s) = %q, %v; want %q", r.Name(), key, v, err, want)
	}
}

// TestTagsRetire: InvalidateTags retires the values carrying the tag — in
// its region at once, in another region on the backend within
// InvalidationRefresh (at once through InvalidateTagsIn) — and no other.
func TestTagsRetire(t *testing.T) {
	tagTiers(t, func(t *testing.T, a, b *region.Region, _ backend.Backend, clock *fakeclock.Clock) {
		ctx := t.Context()
		profile, _ := counting("profile")
		feed, _ := counting("feed")
		other, _ := counting("other")
		user42 := region.WithTags("user:42")
		mustGetOrCreate(t, a, "profile:42", profile, "profile#1", user42)
		mustGetOrCreate(t, b, "feed:42", feed, "feed#1", user42, region.WithTags("tenant:acme"))
		mustGetOrCreate(t, a, "profile:7", other, "other#1", region.WithTags("user:7"))
		// Hits.
		mustGetOrCreate(t, a, "profile:42", profile, "profile#1", user42)
		mustGetOrCreate(t, b, "feed:42", feed, "feed#1")

		if err := a.InvalidateTags(ctx, "user:42"); err != nil {
			t.Fatal(err)
		}
		mustGetOrCreate(t, a, "profile:42", profile, "profile#2", user42) // at once in a
		mustGetOrCreate(t, a, "profile:7", other, "other#1")              // another tag: kept
		clock.Advance(2 * time.Second)                                    // b's view is older than InvalidationRefresh
		mustGetOrCreate(t, b, "feed:42", feed, "feed#2", user42, region.WithTags("tenant:acme"))

		// Both regions at once.
		if err := region.InvalidateTagsIn(ctx, []*region.Region{a, b}, "tenant:acme"); err != nil {
			t.Fatal(err)
		}
		mustGetOrCreate(t, b, "feed:42", feed, "feed#3", user42)
		mustGetOrCreate(t, a, "profile:42", profile, "profile#2", user42) // not tagged tenant:acme
	})
}

// TestTagsTwiceInOneTick: two invalidations at one clock reading both
// count — tags count invalidations, not times.
func TestTagsTwiceInOneTick(t *testing.T) {
	tagTiers(t, func(t *testing.T, a, _ *region.Region, _ backend.Backend, _ *fakeclock.Clock) {
		ctx := t.Context()
		create, _ := counting("v")
		tag := region.WithTags("t")
		mustGetOrCreate(t, a, "k", create, "v#1", tag)
		if err := a.InvalidateTags(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		mustGetOrCreate(t, a, "k", create, "v#2", tag)
		if err := a.InvalidateTags(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		mustGetOrCreate(t, a, "k", create, "v#3", tag)
		mustGetOrCreate(t, a, "k", create, "v#3", tag)
	})
}

// TestTagsCreationInFlight: a creator paused between reading the database
// and storing while its tag is invalidated: the value goes to its caller,
// but no read that begins after the invalidation returned is served it.
func TestTagsCreationInFlight(t *testing.T) {
	tagTiers(t, func(t *testing.T, a, b *region.Region, _ backend.Backend, clock *fakeclock.Clock) {
		ctx := t.Context()
		read, resume := make(chan struct{}), make(chan struct{})
		var runs atomic.Int32
		slow := func(context.Context) (string, error) {
			n := runs.Add(1)
			if n == 1 {
				close(read) // read the database…
				<-resume    // …and paused before the store
			}
			return "v" + strconv.Itoa(int(n)), nil
		}
		got := make(chan string, 1)
		go func() {
			v, err := region.GetOrCreate(ctx, a, "k", slow, region.WithTags("user:1"))
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		<-read
		if err := b.InvalidateTags(ctx, "user:1"); err != nil { // another region: the shared counter
			t.Fatal(err)
		}
		close(resume)
		if v := <-got; v != "v1" {
			t.Fatalf("the paused creation's caller got %q, want v1", v)
		}
		clock.Advance(2 * time.Second) // a's view refreshed
		if v, err := region.GetOrCreate(ctx, a, "k", slow, region.WithTags("user:1")); err != nil || v != "v2" {
			t.Fatalf("after the invalidation: %q, %v; want v2 (v1 began before it)", v, err)
		}
	})
}

// TestTagsCounterMissing: a tag counter lost by the backend (evicted)
// retires every value carrying it — its invalidations are unknown — until
// a creation makes it again.
func TestTagsCounterMissing(t *testing.T) {
	tagTiers(t, func(t *testing.T, a, _ *region.Region, be backend.Backend, clock *fakeclock.Clock) {
		ctx := t.Context()
		create, _ := counting("v")
		tag := region.WithTags("t")
		mustGetOrCreate(t, a, "k", create, "v#1", tag)
		counter := keyspace.Tag("t")
		if vs, ok := be.(backend.ValueStore); ok && vs.KeepsValues() {
			vs.DeleteEntry("", counter)
		} else if err := be.Delete(ctx, counter); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Second) // the refresh finds it missing
		mustGetOrCreate(t, a, "k", create, "v#2", tag)
		mustGetOrCreate(t, a, "k", create, "v#2", tag) // made again: hits
	})
}

// TestTagsTwoTags: a value with two tags is retired by either.
func TestTagsTwoTags(t *testing.T) {
	tagTiers(t, func(t *testing.T, a, _ *region.Region, _ backend.Backend, _ *fakeclock.Clock) {
		ctx := t.Context()
		create, _ := counting("v")
		tags := region.WithTags("user:1", "tenant:x")
		mustGetOrCreate(t, a, "k", create, "v#1", tags)
		if err := a.InvalidateTags(ctx, "tenant:x"); err != nil {
			t.Fatal(err)
		}
		mustGetOrCreate(t, a, "k", create, "v#2", tags)
		if err := a.InvalidateTags(ctx, "user:1"); err != nil {
			t.Fatal(err)
		}
		mustGetOrCreate(t, a, "k", create, "v#3", tags)
		if err := a.InvalidateTags(ctx, "user:2"); err != nil {
			t.Fatal(err)
		}
		mustGetOrCreate(t, a, "k", create, "v#3", tags)
	})
}

// TestTagsSetAndFunctions: Set carries tags; a cached function tags its
// results by its arguments; bad tags are refused.
func TestTagsSetAndFunctions(t *testing.T) {
	tagTiers(t, func(t *testing.T, a, _ *region.Region, _ backend.Backend, _ *fakeclock.Clock) {
		ctx := t.Context()
		if err := a.Set(ctx, "k", "written", region.WithTags("user:5")); err != nil {
			t.Fatal(err)
		}
		if err := a.InvalidateTags(ctx, "user:5"); err != nil {
			t.Fatal(err)
		}
		if v, found, err := region.Get[string](ctx, a, "k"); err != nil || found {
			t.Fatalf("Get after InvalidateTags = %q, %t, %v; want a miss", v, found, err)
		}

		var calls atomic.Int32
		user := func(_ context.Context, id int) (string, error) {
			return fmt.Sprintf("user %d #%d", id, calls.Add(1)), nil
		}
		f, err := region.Cache1(a, user, region.Named("user"),
			region.TagsBy1(func(id int) []string { return []string{"user:" + strconv.Itoa(id)} }))
		if err != nil {
			t.Fatal(err)
		}
		call := func(id int, want string) {
			t.Helper()
			if v, err := f.Call(ctx, id); err != nil || v != want {
				t.Fatalf("Call(%d) = %q, %v; want %q", id, v, err, want)
			}
		}
		call(1, "user 1 #1")
		call(2, "user 2 #2")
		if err := a.InvalidateTags(ctx, "user:1"); err != nil {
			t.Fatal(err)
		}
		call(1, "user 1 #3")
		call(2, "user 2 #2")

		panicky, err := region.Cache1(a, user, region.Named("panicky"),
			region.TagsBy1(func(id int) []string { panic("tag function bug") }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := panicky.Call(ctx, 1); !errors.Is(err, region.ErrInvalidTag) || !strings.Contains(err.Error(), "tag function bug") {
			t.Fatalf("a tag function that panics: %v, want ErrInvalidTag naming the panic", err)
		}
		batch, err := region.CacheBatch(a, func(_ context.Context, ids []int) (map[int]string, error) {
			return map[int]string{}, nil
		}, region.Named("panicky-batch"), region.TagsByKey(func(int) []string { panic("key tag bug") }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := batch.Call(ctx, []int{1}); !errors.Is(err, region.ErrInvalidTag) || !strings.Contains(err.Error(), "key tag bug") {
			t.Fatalf("a key tag function that panics: %v, want ErrInvalidTag naming the panic", err)
		}

		if _, err := region.Cache2(a, func(context.Context, int, int) (string, error) { return "", nil }, region.Named("two"),
			region.TagsBy1(func(int) []string { return nil })); !errors.Is(err, region.ErrInvalidConfig) {
			t.Fatalf("a tag function of 1 argument on Cache2: %v, want ErrInvalidConfig", err)
		}
		for _, bad := range [][]string{{""}, {strings.Repeat("x", serializer.MaxTagLen+1)}, make([]string, serializer.MaxTags+1)} {
			create, _ := counting("bad")
			if _, err := region.GetOrCreate(ctx, a, "bad", create, region.WithTags(bad...)); !errors.Is(err, region.ErrInvalidTag) {
				t.Fatalf("GetOrCreate with tags %q: %v, want ErrInvalidTag", bad, err)
			}
			if err := a.Set(ctx, "bad", "x", region.WithTags(bad...)); !errors.Is(err, region.ErrInvalidTag) {
				t.Fatalf("Set with tags %q: %v, want ErrInvalidTag", bad, err)
			}
		}
		if err := a.InvalidateTags(ctx, ""); !errors.Is(err, region.ErrInvalidTag) {
			t.Fatalf("InvalidateTags(\"\") = %v, want ErrInvalidTag", err)
		}
	})
}

// TestTagsByKey: a batch function tags each result by its key; one
// InvalidateTags retires the results carrying it and no other, and Set
// carries the key's tags too.
func TestTagsByKey(t *testing.T) {
	tagTiers(t, func(t *testing.T, a, _ *region.Region, _ backend.Backend, _ *fakeclock.Clock) {
		ctx := t.Context()
		var calls atomic.Int32
		load := func(_ context.Context, ids []int) (map[int]string, error) {
			n := calls.Add(1)
			out := map[int]string{}
			for _, id := range ids {
				out[id] = fmt.Sprintf("u%d#%d", id, n)
			}
			return out, nil
		}
		f, err := region.CacheBatch(a, load, region.Named("users"),
			region.TagsByKey(func(id int) []string { return []string{"user:" + strconv.Itoa(id), "team:" + strconv.Itoa(id%2)} }))
		if err != nil {
			t.Fatal(err)
		}
		call := func(want map[int]string) {
			t.Helper()
			ids := make([]int, 0, len(want))
			for id := range want {
				ids = append(ids, id)
			}
			got, err := f.Call(ctx, ids)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Call(%v) = %v, %v; want %v", ids, got, err, want)
			}
		}
		call(map[int]string{1: "u1#1", 2: "u2#1", 3: "u3#1"})
		if err := a.InvalidateTags(ctx, "user:2"); err != nil {
			t.Fatal(err)
		}
		call(map[int]string{1: "u1#1", 2: "u2#2", 3: "u3#1"})
		if err := a.InvalidateTags(ctx, "team:1"); err != nil { // 1 and 3
			t.Fatal(err)
		}
		call(map[int]string{1: "u1#3", 2: "u2#2", 3: "u3#3"})
		if err := f.Set(ctx, 4, "written"); err != nil {
			t.Fatal(err)
		}
		call(map[int]string{4: "written"})
		if err := a.InvalidateTags(ctx, "team:0"); err != nil { // 2 and 4
			t.Fatal(err)
		}
		call(map[int]string{2: "u2#4", 4: "u4#4"})

		if _, err := region.Cache1(a, func(context.Context, int) (string, error) { return "", nil }, region.Named("one"),
			region.TagsByKey(func(int) []string { return nil })); !errors.Is(err, region.ErrInvalidConfig) {
			t.Fatalf("TagsByKey on Cache1: %v, want ErrInvalidConfig", err)
		}
		bad, err := region.CacheBatch(a, load, region.Named("bad"), region.TagsByKey(func(int) []string { return []string{""} }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bad.Call(ctx, []int{9}); !errors.Is(err, region.ErrInvalidTag) {
			t.Fatalf("a batch function whose tag function gives an empty tag: %v, want ErrInvalidTag", err)
		}
	})
}
