package httpcache_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// readCounting is a byte backend that counts its reads (Get and GetMulti
// calls), each a round trip on Redis or memcached.
type readCounting struct {
	backend.Backend
	reads atomic.Int64
}

func (b *readCounting) Get(ctx context.Context, key string) ([]byte, error) {
	b.reads.Add(1)
	return b.Backend.Get(ctx, key)
}

func (b *readCounting) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	b.reads.Add(1)
	return b.Backend.GetMulti(ctx, keys)
}

// twoProcesses returns two Caches on regions that share a counted byte
// backend and a registry, as two processes on one Redis would.
func twoProcesses(t testing.TB) (*readCounting, *httpcache.Cache, *httpcache.Cache) {
	t.Helper()
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	mb, err := memory.New(memory.Options{Serialize: true, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	b := &readCounting{Backend: mb}
	reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var caches [2]*httpcache.Cache
	for i := range caches {
		r, err := region.New("http", region.Config{Backend: b, Registry: reg, Locker: lock.NewLocal(), Clock: clock, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		if caches[i], err = httpcache.New(r, httpcache.Options{Logger: quiet, Clock: clock}); err != nil {
			t.Fatal(err)
		}
	}
	return b, caches[0], caches[1]
}

// TestHitIsOneRead checks that a hit reads the backend once: the URL's
// index and its response in one multi-get.
func TestHitIsOneRead(t *testing.T) {
	b, c, _ := twoProcesses(t)
	srv := c.Handler("r", &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("#" + string(rune('0'+n))))
	}})
	expect(t, do(t, srv, "GET", "/a", "Accept-Language", "en"), httpcache.Miss, "#1")
	for range 3 {
		before := b.reads.Load()
		expect(t, do(t, srv, "GET", "/a", "Accept-Language", "en"), httpcache.Hit, "#1")
		if n := b.reads.Load() - before; n != 1 {
			t.Fatalf("a hit read the backend %d times, want 1", n)
		}
	}
}

// TestOneReadSeesReplacedIndex checks that the one-read hit never serves a
// response of an index another process replaced: the old variant is still
// in the backend (orphaned under the old nonce), and must not come back.
func TestOneReadSeesReplacedIndex(t *testing.T) {
	_, a, other := twoProcesses(t)
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("#" + string(rune('0'+n))))
	}}
	srvA, srvB := a.Handler("r", h), other.Handler("r", h)
	expect(t, do(t, srvA, "GET", "/a"), httpcache.Miss, "#1")
	expect(t, do(t, srvA, "GET", "/a"), httpcache.Hit, "#1")
	if err := other.InvalidateURL(context.Background(), "r", "GET", "/a"); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, srvB, "GET", "/a"), httpcache.Miss, "#2")
	expect(t, do(t, srvA, "GET", "/a"), httpcache.Hit, "#2")
	if err := other.InvalidateURL(context.Background(), "r", "GET", "/a"); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, srvA, "GET", "/a"), httpcache.Miss, "#3")
}

// BenchmarkHit serves a stored response; it reports the backend reads per
// hit (reads/op), each a round trip on Redis or memcached.
func BenchmarkHit(b *testing.B) {
	rc, c, _ := twoProcesses(b)
	srv := c.Handler("r", &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write([]byte("hello"))
	}})
	req, _ := http.NewRequest("GET", "/bench", nil)
	srv.ServeHTTP(discard{}, req)
	before := rc.reads.Load()
	b.ResetTimer()
	for b.Loop() {
		srv.ServeHTTP(discard{}, req)
	}
	b.ReportMetric(float64(rc.reads.Load()-before)/float64(b.N), "reads/op")
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
