package diskstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/region"
)

// TestCoherenceWriteDuringCreation is the consistency contract on one store
// file opened twice, as by two processes A and B (each with its own Store,
// locker, registry and region): A's creator reads version 1 of a fake
// database and is held at a gate; B writes version 2 and writes or
// invalidates the cache; A's creator then returns version 1. B's write
// stands: no later read finds version 1, in A, B, or a process C opened
// after the write. Ordered by channels only.
func TestCoherenceWriteDuringCreation(t *testing.T) {
	type fn = region.Func1[string, int]
	writes := []struct {
		name   string
		do     func(ctx context.Context, b *region.Region, fb *fn, db *versions) error
		stored bool // whether the write leaves version 2 in the cache
	}{
		{"write-through Set", func(ctx context.Context, _ *region.Region, fb *fn, db *versions) error {
			return fb.Set(ctx, "k", db.write())
		}, true},
		{"Invalidate", func(ctx context.Context, _ *region.Region, fb *fn, db *versions) error {
			db.write()
			return fb.Invalidate(ctx, "k")
		}, false},
		{"InvalidateAll", func(ctx context.Context, _ *region.Region, fb *fn, db *versions) error {
			db.write()
			return fb.InvalidateAll(ctx)
		}, false},
		{"region Delete", func(ctx context.Context, b *region.Region, fb *fn, db *versions) error {
			db.write()
			key, _, err := fb.Key(ctx, "k")
			if err != nil {
				return err
			}
			return b.Delete(ctx, key)
		}, false},
		{"region-wide Hard", func(ctx context.Context, b *region.Region, _ *fn, db *versions) error {
			db.write()
			return b.Invalidate(ctx, region.Hard)
		}, false},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			path := filepath.Join(t.TempDir(), "cache.db")
			db := &versions{}
			db.write() // version 1
			clock := fakeclock.New(time.Unix(1_700_000_000, 0))
			process := func(load func(context.Context, string) (int, error)) (*region.Region, *fn) {
				s := openAt(t, path, diskstore.Options{})
				r, err := region.New("coherence", region.Config{
					Backend: s, Locker: s.Locker(), Registry: s.Registry(),
					Clock: clock, InvalidationRefresh: 50 * time.Millisecond,
					Logger: slog.New(slog.DiscardHandler),
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = r.Close() })
				f, err := region.Cache1(r, load, region.Named("load"))
				if err != nil {
					t.Fatal(err)
				}
				return r, f
			}
			load := func(context.Context, string) (int, error) { return db.read(), nil }
			reached, open := make(chan struct{}), make(chan struct{})
			var once sync.Once
			release := func() { once.Do(func() { close(open) }) }
			t.Cleanup(release)
			var held atomic.Bool
			ra, fa := process(func(context.Context, string) (int, error) {
				v := db.read()
				if held.CompareAndSwap(false, true) {
					close(reached)
					<-open
				}
				return v, nil
			})
			rb, fb := process(load)

			type result struct {
				v   int
				err error
			}
			first := make(chan result, 1)
			go func() {
				v, err := fa.Call(ctx, "k")
				first <- result{v, err}
			}()
			select {
			case <-reached: // A's creator read version 1
			case <-ctx.Done():
				t.Fatal("A's creator never ran")
			}
			if err := w.do(ctx, rb, fb, db); err != nil {
				t.Fatal(err)
			}
			release()
			select {
			case r := <-first:
				if r.err != nil || r.v != 1 {
					t.Fatalf("A's call = %d, %v; want the 1 its creator read", r.v, r.err)
				}
			case <-ctx.Done():
				t.Fatal("A's call never returned")
			}

			_, fc := process(load) // C, opened after the write
			for _, p := range []struct {
				who string
				f   *fn
			}{{"B", fb}, {"C", fc}} {
				v, found, err := p.f.Get(ctx, "k")
				if err != nil || found != w.stored || (found && v != 2) {
					t.Fatalf("Get in %s = %d (found %t), %v; want found %t with 2: A's creation undid the write", p.who, v, found, err, w.stored)
				}
			}
			clock.Advance(time.Second) // past every InvalidationRefresh
			for _, p := range []struct {
				who string
				f   *fn
			}{{"A", fa}, {"B", fb}, {"C", fc}} {
				if v, err := p.f.Call(ctx, "k"); err != nil || v != 2 {
					t.Fatalf("Call in %s = %d, %v; want 2", p.who, v, err)
				}
			}
			_ = ra
		})
	}
}

// versions is a fake database of one key: each write bumps its version.
type versions struct{ v atomic.Int64 }

func (d *versions) write() int { return int(d.v.Add(1)) }
func (d *versions) read() int  { return int(d.v.Load()) }

// TestRegionNeedsSharedLocker: the store is shared between processes, so a
// region on it refuses to default to an in-process locker or registry.
func TestRegionNeedsSharedLocker(t *testing.T) {
	s := open(t, diskstore.Options{})
	for _, c := range []region.Config{
		{Backend: s, Registry: s.Registry()},
		{Backend: s, Locker: s.Locker()},
	} {
		if r, err := region.New("shared", c); !errors.Is(err, region.ErrInvalidConfig) {
			if r != nil {
				_ = r.Close()
			}
			t.Fatalf("region.New(%+v) = %v, want region.ErrInvalidConfig", c, err)
		}
	}
}

// TestCachedFunctionAcrossOpens: a cached function's results stored through
// one open of a file (its keys recorded in the value's transaction) are
// listed, read and invalidated through another, as by another process.
func TestCachedFunctionAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	ctx := t.Context()
	var calls atomic.Int64
	build := func() *region.Func1[int, string] {
		s := openAt(t, path, diskstore.Options{})
		r, err := region.New("funcs", region.Config{Backend: s, Locker: s.Locker(), Registry: s.Registry()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		f, err := region.Cache1(r, func(_ context.Context, id int) (string, error) {
			calls.Add(1)
			return fmt.Sprintf("user %d", id), nil
		}, region.Named("user"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := build(), build()
	for id := range 3 {
		if _, err := a.Call(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := b.Keys(ctx)
	if err != nil || len(keys) != 3 {
		t.Fatalf("Keys in B = %q, %v; want the 3 A stored", keys, err)
	}
	if v, err := b.Call(ctx, 1); err != nil || v != "user 1" || calls.Load() != 3 {
		t.Fatalf("B's Call = %q, %v after %d creations; want A's value, no creation", v, err, calls.Load())
	}
	if err := b.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, found, err := a.Get(ctx, 1); err != nil || found {
		t.Fatalf("A's Get after B's InvalidateAll = found %t, %v; want a miss", found, err)
	}
	if keys, err := a.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("Keys in A after InvalidateAll = %q, %v; want none", keys, err)
	}
}

// TestSetIfGrouped: a grouped conditional write records the members it
// stored, in the same transaction, and none it did not store.
func TestSetIfGrouped(t *testing.T) {
	s := open(t, diskstore.Options{})
	ctx := t.Context()
	reg := s.Registry()
	_, vers, err := s.GetForUpdate(ctx, []string{"a", "b"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "b", []byte("newer"), 0); err != nil { // voids b's lease
		t.Fatal(err)
	}
	items := []backend.Item{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}
	stored, err := s.SetIfGrouped(ctx, items, vers, reg.Group("fn"), []string{"ka", "kb"}, 0)
	if err != nil || !stored[0] || stored[1] {
		t.Fatalf("SetIfGrouped = %v, %v; want [true false]", stored, err)
	}
	if keys, err := reg.Keys(ctx, "fn"); err != nil || !slices.Equal(keys, []string{"ka"}) {
		t.Fatalf("Keys = %q, %v; want [ka]", keys, err)
	}
	if _, err := s.SetIfGrouped(ctx, items, vers, "fn", []string{"x"}, 0); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("SetIfGrouped with 1 member for 2 items = %v, want ErrInvalidArgument", err)
	}
}

// TestTagsAcrossOpens: two opens of one file (as two processes of the
// host have) share tags: B's InvalidateTags retires A's tagged value, in A
// once its view is refreshed, and leaves values of other tags.
func TestTagsAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	ctx := t.Context()
	clockA := &stepClock{}
	clockA.now.Store(time.Now().UnixNano())
	open := func(name string, clock region.Clock) *region.Region {
		s := openAt(t, path, diskstore.Options{})
		r, err := region.New(name, region.Config{Backend: s, Locker: s.Locker(), Registry: s.Registry(), InvalidationRefresh: time.Second, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	a, b := open("profiles", clockA), open("feeds", nil)
	var n atomic.Int64
	create := func(context.Context) (string, error) { return fmt.Sprint("v", n.Add(1)), nil }
	get := func(r *region.Region, key, tag, want string) {
		t.Helper()
		if v, err := region.GetOrCreate(ctx, r, key, create, region.WithTags(tag)); err != nil || v != want {
			t.Fatalf("%s: GetOrCreate(%s) = %q, %v; want %q", r.Name(), key, v, err, want)
		}
	}
	get(a, "p42", "user:42", "v1")
	get(a, "p7", "user:7", "v2")
	get(a, "p42", "user:42", "v1")
	if err := b.InvalidateTags(ctx, "user:42"); err != nil {
		t.Fatal(err)
	}
	clockA.now.Add(int64(2 * time.Second)) // past A's InvalidationRefresh
	get(a, "p42", "user:42", "v3")
	get(a, "p7", "user:7", "v2")
}

// stepClock is a region.Clock the test moves.
type stepClock struct{ now atomic.Int64 }

func (c *stepClock) Now() time.Time { return time.Unix(0, c.now.Load()) }
