package region_test

import (
	"context"
	"strconv"
	"testing"

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
