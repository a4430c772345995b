package region_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/corralcache/corral/region"
)

// The hit-path benchmarks: GetOrCreate on a fresh value in a region on the
// memory backend, beside a bare Get of otter, the library the memory backend
// builds on, over the same keys. Compare them with
//
//	go test -run '^$' -bench 'Hit' -benchmem ./region
type payload struct {
	ID    int
	Name  string
	Email string
}

const benchKeys = 1024

func benchKeyNames() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

func BenchmarkGetOrCreateHit(b *testing.B) {
	r, err := region.New("bench", region.Config{Backend: newMemory(b, false)})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	keys := benchKeyNames()
	load := func(context.Context) (payload, error) { return payload{ID: 1, Name: "n", Email: "e"}, nil }
	for _, k := range keys {
		if _, err := region.GetOrCreate(ctx, r, k, load); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := region.GetOrCreate(ctx, r, keys[i%benchKeys], load); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := region.GetOrCreate(ctx, r, keys[i%benchKeys], load); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	if s := r.Stats(); s.Regenerations != benchKeys {
		b.Fatalf("the benchmark measured misses: %d regenerations", s.Regenerations)
	}
}

func BenchmarkOtterGetHit(b *testing.B) {
	c, err := otter.New(&otter.Options[string, payload]{MaximumSize: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	keys := benchKeyNames()
	for _, k := range keys {
		c.Set(k, payload{ID: 1, Name: "n", Email: "e"})
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := c.GetIfPresent(keys[i%benchKeys]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := c.GetIfPresent(keys[i%benchKeys]); !ok {
					b.Error("miss")
					return
				}
				i++
			}
		})
	})
}

// BenchmarkBreakerOpen is the library's own cost of a fail-open call while
// the backend's breaker is open: the call skips the backend and creates
// under the in-process lock, with a creator that returns at once (so what
// is measured is corral, not the creator). g64: 64 goroutines per
// GOMAXPROCS on 32 keys, as in the integration fault tests.
//
//	go test -run '^$' -bench BreakerOpen -benchmem ./region
func BenchmarkBreakerOpen(b *testing.B) {
	for _, par := range []int{1, 64} {
		b.Run("g"+strconv.Itoa(par), func(b *testing.B) {
			be := newFaulty(b)
			r := newRegion(b, region.Config{Backend: be, BreakerThreshold: 1, BreakerCooldown: time.Hour, InvalidationRefresh: time.Hour})
			ctx := context.Background()
			be.down.Store(true)
			_, _ = region.GetOrCreate(ctx, r, "trip", constant(0))
			if r.Stats().BreakerState != region.BreakerOpen {
				b.Fatal("breaker not open")
			}
			keys := make([]string, 32)
			for i := range keys {
				keys[i] = "k" + strconv.Itoa(i)
			}
			var n atomic.Int64
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(n.Add(1))
				for pb.Next() {
					i++
					if _, err := region.GetOrCreate(ctx, r, keys[i%len(keys)], constant(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
