package integration_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// TestMemcachedFuncSetAfterRemoteInvalidateAll is the multi-process history
// checker's failure on memcached, played step by step on a real server: B
// runs InvalidateAll of a cached function and caches the result of version 8
// under the new generation, while A's registry still holds the old one (its
// Options.CacheFor). A writes version 9 through with Set; once A's copy of
// the generation is refreshed, its Call — and B's — must return 9, not B's
// 8: A's write must not go under the retired generation.
func TestMemcachedFuncSetAfterRemoteInvalidateAll(t *testing.T) {
	srv := mcServer(t)
	ctx := mcCtx(t, 30*time.Second)
	var offset atomic.Int64 // A's registry clock, moved past CacheFor to refresh
	nowA := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	a := newMCStack(t, memcachereg.Options{CacheFor: time.Hour, Now: nowA}, srv.Addr)
	b := newMCStack(t, memcachereg.Options{CacheFor: time.Hour}, srv.Addr)
	var db atomic.Int64
	db.Store(7)
	load := func(context.Context, int) (int64, error) { return db.Load(), nil }
	fa, err := region.Cache1(a.region(t, "fnns", region.Config{}), load, region.Named("load"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := region.Cache1(b.region(t, "fnns", region.Config{}), load, region.Named("load"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := fa.Call(ctx, 3); err != nil || v != 7 {
		t.Fatalf("A's first call: %v, %v; want 7", v, err)
	}
	if err := fb.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	db.Store(8)
	if v, err := fb.Call(ctx, 3); err != nil || v != 8 {
		t.Fatalf("B's call: %v, %v; want 8", v, err)
	}
	db.Store(9)
	if err := fa.Set(ctx, 3, 9); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(2 * time.Hour)) // A's copy of the generation expires
	if v, err := fa.Call(ctx, 3); err != nil || v != 9 {
		t.Errorf("A's call after its Set of 9 = %v, %v; want 9", v, err)
	}
	if v, err := fb.Call(ctx, 3); err != nil || v != 9 {
		t.Errorf("B's call after A's Set of 9 = %v, %v; want 9", v, err)
	}
}
