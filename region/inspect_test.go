package region_test

import (
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// TestInspect walks one entry through fresh, stale (by time, then by a Soft
// invalidation) and invalidated (Hard), on a backend that keeps values and
// on one that keeps bytes, and checks that Inspect reads without creating.
func TestInspect(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clock := newClock()
			r := newRegion(t, region.Config{
				Backend: newMemory(t, m.serialize), Clock: clock, Expiration: time.Minute,
				Serializer: serializer.JSON{}, CompressAbove: 64,
			})
			ctx := t.Context()
			info, err := r.Inspect(ctx, "k")
			if err != nil || info.Present || info.Serializer != "json" || info.BackendKey != r.BackendKey("k") {
				t.Fatalf("missing key: %+v, %v", info, err)
			}
			value := strings.Repeat("x", 200)
			if err := r.Set(ctx, "k", value); err != nil {
				t.Fatal(err)
			}
			check := func(state string) {
				t.Helper()
				info, err := r.Inspect(ctx, "k")
				if err != nil {
					t.Fatal(err)
				}
				if !info.Present || info.State != state || info.Expiration != time.Minute || !info.Created.Equal(clock.Now()) && state != "stale" {
					t.Fatalf("Inspect = %+v, want present, %s, expiration 1m", info, state)
				}
				if m.serialize && (info.Size == 0 || !info.Compressed) {
					t.Fatalf("Inspect = %+v, want a size and a compressed payload", info)
				}
			}
			check("fresh")
			clock.Advance(time.Minute)
			check("stale")
			if err := r.Set(ctx, "k", value); err != nil {
				t.Fatal(err)
			}
			check("fresh")
			if err := r.Invalidate(ctx, region.Soft); err != nil {
				t.Fatal(err)
			}
			check("stale")
			if err := r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			check("invalidated")
			if s := r.Stats(); s.Hits != 0 || s.Misses != 0 {
				t.Fatalf("Inspect counted reads: %+v", s)
			}
		})
	}
}
