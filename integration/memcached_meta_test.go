package integration_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend/memcachestore"
	"github.com/corralcache/corral/keyreg/memcachereg"
)

// TestMemcachedRegistryMeta: a registry on a Pool (meta protocol) and one
// on a gomemcache client (text protocol) share generations: whichever
// creates a function's generation or moves it on, the other reads it; a
// generation that is not a number is ErrBadGeneration on both; Forget drops
// the records in one pipeline.
func TestMemcachedRegistryMeta(t *testing.T) {
	srv := mcServer(t)
	ctx := mcCtx(t, 10*time.Second)
	p := mcPool(t, srv.Addr)
	meta, err := memcachereg.New(p, memcachereg.Options{CacheFor: -1})
	if err != nil {
		t.Fatal(err)
	}
	text, err := memcachereg.New(mcClient(t, srv.Addr), memcachereg.Options{CacheFor: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range []struct {
		name          string
		first, second *memcachereg.Registry
	}{{"MetaFirst", meta, text}, {"TextFirst", text, meta}} {
		t.Run(order.name, func(t *testing.T) {
			fn := "fn-" + order.name
			a, err := order.first.Namespace(ctx, fn)
			if err != nil {
				t.Fatal(err)
			}
			b, err := order.second.Namespace(ctx, fn)
			if err != nil || a != b {
				t.Fatalf("namespaces %q and %q, %v: want one generation", a, b, err)
			}
			if _, err := order.second.ForgetAll(ctx, fn); err != nil {
				t.Fatal(err)
			}
			c, err := order.first.Namespace(ctx, fn)
			if err != nil || c == a {
				t.Fatalf("namespace after the other's ForgetAll = %q, %v; want a new one", c, err)
			}
			if d, err := order.second.Namespace(ctx, fn); err != nil || d != c {
				t.Fatalf("namespaces %q and %q, %v", c, d, err)
			}
		})
	}
	// A lost generation is created again past what this process saw.
	fn := "fn-lost"
	before, err := meta.Namespace(ctx, fn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meta.ForgetAll(ctx, fn); err != nil {
		t.Fatal(err)
	}
	if err := p.Set(&memcache.Item{Key: memcachestore.MangleKey(memcachereg.DefaultPrefix + "gen:" + fn), Value: []byte("5")}); err != nil {
		t.Fatal(err)
	}
	after, err := meta.Namespace(ctx, fn)
	if err != nil || after == before || after == fn+"#g5" {
		t.Fatalf("namespace after the generation went back = %q, %v; want one past %q", after, err, before)
	}
	// Not a number.
	if err := p.Set(&memcache.Item{Key: memcachestore.MangleKey(memcachereg.DefaultPrefix + "gen:bad"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*memcachereg.Registry{"meta": meta, "text": text} {
		if _, err := r.Namespace(ctx, "bad"); !errors.Is(err, memcachereg.ErrBadGeneration) {
			t.Errorf("%s: Namespace of a generation that is not a number = %v, want ErrBadGeneration", name, err)
		}
		if _, err := r.ForgetAll(ctx, "bad"); !errors.Is(err, memcachereg.ErrBadGeneration) && name == "meta" {
			t.Errorf("%s: ForgetAll of a generation that is not a number = %v, want ErrBadGeneration", name, err)
		}
	}
	// Records.
	for _, k := range []string{"a", "b", "a key with spaces"} {
		if err := meta.Record(ctx, "rec", k, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := meta.Forget(ctx, "rec", "a", "missing", "a key with spaces"); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"a": false, "b": true, "a key with spaces": false} {
		if got, err := text.Recorded(ctx, "rec", k); err != nil || got != want {
			t.Errorf("Recorded(%q) = %t, %v; want %t", k, got, err, want)
		}
	}
}
