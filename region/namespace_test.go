package region_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// genRegistry is one process's view of a generation-based registry (as
// memcachereg is): the generation lives in shared, Namespace answers from
// this process's copy until it is refreshed, CurrentNamespace reads the
// shared one, and ForgetAll raises it.
type genRegistry struct {
	shared *atomic.Uint64
	copy   atomic.Uint64
}

var _ keyreg.CurrentNamespacer = (*genRegistry)(nil)

func (g *genRegistry) ns(fn string, gen uint64) string {
	return fn + "#g" + strconv.FormatUint(gen, 10)
}

func (g *genRegistry) Namespace(_ context.Context, fn string) (string, error) {
	return g.ns(fn, g.copy.Load()), nil
}

func (g *genRegistry) CurrentNamespace(_ context.Context, fn string) (string, error) {
	g.copy.Store(g.shared.Load())
	return g.ns(fn, g.copy.Load()), nil
}

func (g *genRegistry) refresh() { g.copy.Store(g.shared.Load()) }

func (*genRegistry) Record(context.Context, string, string, time.Duration) error { return nil }
func (*genRegistry) Recorded(context.Context, string, string) (bool, error)      { return false, nil }
func (*genRegistry) Keys(context.Context, string) ([]string, error) {
	return nil, keyreg.ErrNotListable
}
func (*genRegistry) Forget(context.Context, string, ...string) error { return nil }

func (g *genRegistry) ForgetAll(context.Context, string) ([]string, error) {
	g.copy.Store(g.shared.Add(1))
	return nil, nil
}

// TestWriteAfterRemoteInvalidateAll: process B retires every result of a
// cached function (a generation-based registry raises the generation) and
// caches v1 anew; process A, whose copy of the generation is older, then
// writes v2 through (Set), or invalidates the key, or refreshes it. The
// write must land where readers look: B reads it at once, and so does A once
// its copy catches up. Before, A derived the key from its old copy and
// wrote under a namespace nobody reads any more: the write was lost.
func TestWriteAfterRemoteInvalidateAll(t *testing.T) {
	ctx := context.Background()
	for _, write := range []string{"set", "invalidate", "refresh"} {
		t.Run(write, func(t *testing.T) {
			shared := new(atomic.Uint64)
			shared.Store(1)
			regA, regB := &genRegistry{shared: shared}, &genRegistry{shared: shared}
			regA.refresh()
			regB.refresh()
			backend, locker := newMemory(t, true), lock.NewLocal()
			a := newRegion(t, region.Config{Backend: backend, Locker: locker, Registry: regA})
			b := newRegion(t, region.Config{Backend: backend, Locker: locker, Registry: regB})
			var db atomic.Int64
			db.Store(1)
			load := func(context.Context, int) (int64, error) { return db.Load(), nil }
			fa, err := region.Cache1(a, load, region.Named("users.load"))
			if err != nil {
				t.Fatal(err)
			}
			fb, err := region.Cache1(b, load, region.Named("users.load"))
			if err != nil {
				t.Fatal(err)
			}
			if v, err := fa.Call(ctx, 3); err != nil || v != 1 {
				t.Fatalf("A's first call = %d, %v", v, err)
			}
			if err := fb.InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			if v, err := fb.Call(ctx, 3); err != nil || v != 1 {
				t.Fatalf("B's call after its InvalidateAll = %d, %v", v, err)
			}
			// The database changes; A (its copy of the generation older)
			// writes the change to the cache.
			db.Store(2)
			switch write {
			case "set":
				err = fa.Set(ctx, 3, 2)
			case "invalidate":
				err = fa.Invalidate(ctx, 3)
			case "refresh":
				_, err = fa.Refresh(ctx, 3)
			}
			if err != nil {
				t.Fatal(err)
			}
			if v, err := fb.Call(ctx, 3); err != nil || v != 2 {
				t.Fatalf("B read %d, %v after A's completed %s; want 2", v, err, write)
			}
			regA.refresh()
			if v, err := fa.Call(ctx, 3); err != nil || v != 2 {
				t.Fatalf("A read %d, %v after its own %s; want 2", v, err, write)
			}
		})
	}
}
