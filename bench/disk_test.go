package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/bench/internal/fixture"
	"github.com/corralcache/corral/bench/internal/libs"
	"github.com/corralcache/corral/region"
)

// backendRegions builds a corral region on each backend the disk scenario
// compares: memory, Redis, and a SQLite file on local disk.
var backendRegions = []struct {
	name  string
	build func(b *testing.B) *region.Region
}{
	{"memory", func(b *testing.B) *region.Region {
		mem, err := memory.New(memory.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { mem.Close() })
		return closing(b)(region.New("bench", region.Config{Backend: mem, Expiration: hitTTL}))
	}},
	{"redis", func(b *testing.B) *region.Region {
		return closing(b)(libs.CorralRegion(newRedis(b), hitTTL))
	}},
	{"disk", func(b *testing.B) *region.Region {
		s, err := diskstore.Open(filepath.Join(b.TempDir(), "bench.db"), diskstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return closing(b)(region.New("bench", region.Config{
			Backend: s, Locker: s.Locker(), Registry: s.Registry(), Expiration: hitTTL,
		}))
	}},
}

// closing fails b on err and closes the region when b ends.
func closing(b *testing.B) func(*region.Region, error) *region.Region {
	return func(r *region.Region, err error) *region.Region {
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	}
}

// BenchmarkDisk is the disk scenario: a region on the disk backend beside
// one on memory and one on Redis, by one goroutine: hit (GetOrCreate of a
// fresh value, over 1024 keys) and miss (Get of a key that holds nothing).
func BenchmarkDisk(b *testing.B) {
	b.Run("hit", func(b *testing.B) {
		for _, be := range backendRegions {
			b.Run(be.name, func(b *testing.B) {
				r := be.build(b)
				c := &counter{}
				runHits(b, false, c, nil, func(ctx context.Context, key string) (fixture.User, error) {
					return region.GetOrCreate(ctx, r, key, func(context.Context) (fixture.User, error) {
						return c.load(key), nil
					})
				})
			})
		}
	})
	b.Run("miss", func(b *testing.B) {
		for _, be := range backendRegions {
			b.Run(be.name, func(b *testing.B) {
				r := be.build(b)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, found, err := region.Get[fixture.User](ctx, r, "absent"); err != nil || found {
						b.Fatalf("Get(absent) = found %t, %v", found, err)
					}
				}
			})
		}
	})
}
