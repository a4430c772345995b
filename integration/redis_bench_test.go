package integration_test

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// benchUser is the cached value of the hit benchmarks.
type benchUser struct {
	ID    int64
	Name  string
	Email string
	Tags  []string
	Score float64
}

var benchValue = benchUser{ID: 42, Name: "Ada Lovelace", Email: "ada@example.com", Tags: []string{"admin", "math", "engines"}, Score: 0.97}

// BenchmarkRedisHit compares the region's Redis hit path with raw go-redis
// GET + msgpack decode of the same value, both with 64 concurrent callers
// against the same local redis-server. Compare the two ns/op figures for the
// throughput ratio; roundtrips/op counts the client's round trips per hit
// (the region re-reads its invalidation marks once per
// InvalidationRefresh). region-encrypted is region with a Keyring
// (XChaCha20-Poly1305, each hit authenticates and decrypts) and
// region-encrypted-hashed adds HashKeys (one HMAC-SHA256 per key built):
// compare their ns/op with region's for the cost of encryption.
func BenchmarkRedisHit(b *testing.B) {
	srv := servers.Redis(b)
	parallelism := max(1, (64+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
	ctx := context.Background()

	b.Run("raw", func(b *testing.B) {
		c := redisClient(b, srv.Addr)
		data, err := msgpack.Marshal(benchValue)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Set(ctx, "raw:user:42", data, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
		get := func() {
			data, err := c.Get(ctx, "raw:user:42").Bytes()
			var u benchUser
			if err == nil {
				err = msgpack.Unmarshal(data, &u)
			}
			if err != nil || u.ID != 42 {
				b.Fatal(err)
			}
		}
		warmUp(get)
		hook := &cmdCounter{}
		c.AddHook(hook)
		b.SetParallelism(parallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				data, err := c.Get(ctx, "raw:user:42").Bytes()
				if err != nil {
					b.Error(err)
					return
				}
				var u benchUser
				if err := msgpack.Unmarshal(data, &u); err != nil || u.ID != 42 {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(hook.trips.Load())/float64(b.N), "roundtrips/op")
	})

	keys, err := serializer.NewKeyring(1, map[uint32][]byte{1: bytes.Repeat([]byte{1}, serializer.KeySize)})
	if err != nil {
		b.Fatal(err)
	}
	hashed, err := region.HashKeys(bytes.Repeat([]byte{2}, region.MinHashKeysSecret))
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		cfg  region.Config
	}{
		{"region", region.Config{Expiration: time.Hour}},
		{"region-encrypted", region.Config{Expiration: time.Hour, Keyring: keys}},
		{"region-encrypted-hashed", region.Config{Expiration: time.Hour, Keyring: keys, KeyMangler: hashed}},
	} {
		b.Run(v.name, func(b *testing.B) { benchRegionHit(b, srv.Addr, v.cfg, parallelism) })
	}
}

// benchRegionHit is BenchmarkRedisHit's region side, for a region
// configured by cfg.
func benchRegionHit(b *testing.B, addr string, cfg region.Config, parallelism int) {
	ctx := context.Background()
	{
		c := redisClient(b, addr)
		r := newRedisStack(b, c).region(b, "bench", cfg)
		if err := r.Set(ctx, "user:42", benchValue); err != nil {
			b.Fatal(err)
		}
		create := func(context.Context) (benchUser, error) { return benchValue, nil }
		warmUp(func() {
			if _, err := region.GetOrCreate(ctx, r, "user:42", create); err != nil {
				b.Fatal(err)
			}
		})
		hook := &cmdCounter{}
		c.AddHook(hook)
		b.SetParallelism(parallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				u, err := region.GetOrCreate(ctx, r, "user:42", create)
				if err != nil || u.ID != 42 {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(hook.trips.Load())/float64(b.N), "roundtrips/op")
		if st := r.Stats(); st.Regenerations != 0 || st.BackendErrors != 0 || st.DecodeErrors != 0 {
			b.Fatalf("hit benchmark regenerated or failed: %+v", st)
		}
	}
}

// warmUp runs get from 64 goroutines for a while, so that both sides of the
// comparison start with a full connection pool and warm caches.
func warmUp(get func()) {
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 100 {
				get()
			}
		})
	}
	wg.Wait()
}
