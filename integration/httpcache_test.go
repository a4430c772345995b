package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// httpProcesses are two processes' Caches on one shared backend, behind one
// origin that counts its calls and varies on Accept-Language.
type httpProcesses struct {
	a, b  http.Handler
	cb    *httpcache.Cache
	calls atomic.Int64
}

func newHTTPProcesses(t *testing.T, ra, rb *region.Region) *httpProcesses {
	t.Helper()
	p := &httpProcesses{}
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s #%d", r.Header.Get("Accept-Language"), n)
	})
	quiet := slog.New(slog.DiscardHandler)
	ca, err := httpcache.New(ra, httpcache.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if p.cb, err = httpcache.New(rb, httpcache.Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	p.a, p.b = ca.Handler("pages", origin), p.cb.Handler("pages", origin)
	return p
}

// get sends GET /page with Accept-Language lang to h and checks the cache
// state and body.
func (p *httpProcesses) get(t *testing.T, h http.Handler, lang, state, body string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/page", nil)
	req.Header.Set("Accept-Language", lang)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if got := w.Header().Get(httpcache.DefaultStatusHeader) + " " + w.Body.String(); got != state+" "+body {
		t.Fatalf("GET %s: %q, want %q", lang, got, state+" "+body)
	}
}

// run checks, across two processes: responses shared by variant, an
// InvalidateURL of one process dropping every variant in the other (on
// memcached too, whose registry cannot list keys), and a hit of the first
// process never serving a variant of an index the second replaced (the
// one-read hit checks the index it reads beside the response).
func (p *httpProcesses) run(t *testing.T) {
	p.get(t, p.a, "en", httpcache.Miss, "en #1")
	p.get(t, p.a, "fr", httpcache.Miss, "fr #2")
	p.get(t, p.b, "en", httpcache.Hit, "en #1")
	p.get(t, p.a, "en", httpcache.Hit, "en #1")
	if err := p.cb.InvalidateURL(context.Background(), "pages", "", "/page"); err != nil {
		t.Fatal(err)
	}
	p.get(t, p.a, "fr", httpcache.Miss, "fr #3")
	p.get(t, p.b, "en", httpcache.Miss, "en #4")
	if err := p.cb.InvalidateURL(context.Background(), "pages", "", "/page"); err != nil {
		t.Fatal(err)
	}
	p.get(t, p.b, "fr", httpcache.Miss, "fr #5")
	p.get(t, p.a, "fr", httpcache.Hit, "fr #5")
	p.get(t, p.a, "en", httpcache.Miss, "en #6")
}

func TestHTTPCacheRedis(t *testing.T) {
	srv := servers.Redis(t)
	ca, cb := redisClient(t, srv.Addr), redisClient(t, srv.Addr)
	counter := &cmdCounter{}
	ca.AddHook(counter)
	// A long refresh: no generation read joins the hits counted below.
	cfg := region.Config{InvalidationRefresh: time.Hour}
	p := newHTTPProcesses(t, newRedisStack(t, ca).region(t, "http", cfg), newRedisStack(t, cb).region(t, "http", cfg))
	p.run(t)
	// A hit is one round trip (the index and the response in one MGET).
	p.get(t, p.a, "fr", httpcache.Hit, "fr #5")
	before := counter.trips.Load()
	for range 5 {
		p.get(t, p.a, "fr", httpcache.Hit, "fr #5")
	}
	if n := counter.trips.Load() - before; n != 5 {
		t.Fatalf("5 hits took %d round trips, want 5", n)
	}
}

func TestHTTPCacheRedisCluster(t *testing.T) {
	cl := servers.RedisCluster(t, 3)
	p := newHTTPProcesses(t,
		newRedisStack(t, clusterClient(t, cl.Addrs())).region(t, "http", region.Config{}),
		newRedisStack(t, clusterClient(t, cl.Addrs())).region(t, "http", region.Config{}))
	p.run(t)
}

func TestHTTPCacheMemcached(t *testing.T) {
	srv := mcServer(t)
	p := newHTTPProcesses(t,
		newMCStack(t, memcachereg.Options{}, srv.Addr).region(t, "http", region.Config{}),
		newMCStack(t, memcachereg.Options{}, srv.Addr).region(t, "http", region.Config{}))
	p.run(t)
}
