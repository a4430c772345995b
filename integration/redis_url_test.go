package integration_test

import (
	"context"
	"testing"
	"time"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// TestRedisOpenFailsFast opens a store on a loopback port where nothing
// listens, with the URL's fail-fast defaults, and checks that the first
// region call falls through to its creator quickly (go-redis's own
// defaults took 8.8 s).
func TestRedisOpenFailsFast(t *testing.T) {
	store, err := redisstore.Open("redis://127.0.0.1:1", redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := region.New("failfast", region.Config{Backend: store, Locker: lock.NewLocal(), Registry: reg, Expiration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := mcCtx(t, 10*time.Second)
	for i := range 2 {
		start := time.Now()
		v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "created", nil })
		took := time.Since(start)
		if err != nil || v != "created" {
			t.Fatalf("GetOrCreate = %q, %v; want the creator's value", v, err)
		}
		t.Logf("call %d fell through to the creator in %v", i+1, took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Errorf("call %d took %v with nothing listening, want well under 2s", i+1, took)
		}
	}
}
