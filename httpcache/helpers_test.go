package httpcache_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/region"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// modes runs a test on a backend that keeps decoded values and on one that
// keeps bytes, so the stored response goes through the serializer.
var modes = []struct {
	name      string
	serialize bool
}{{"values", false}, {"bytes", true}}

// env is a region on a memory backend with a fake clock, and a Cache on it.
type env struct {
	clock *fakeclock.Clock
	r     *region.Region
	c     *httpcache.Cache
	// cfg is r's configuration: another region on it shares r's backend
	// and registry, as another process would.
	cfg region.Config
}

func newEnv(t *testing.T, serialize bool, o httpcache.Options) *env {
	t.Helper()
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	b, err := memory.New(memory.Options{Serialize: serialize, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := region.Config{Backend: b, Registry: reg, Clock: clock, Expiration: time.Hour, Logger: quiet}
	r, err := region.New("http", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })

	if o.Logger == nil {
		o.Logger = quiet
	}
	if o.Clock == nil {
		o.Clock = clock
	}
	c, err := httpcache.New(r, o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{clock: clock, r: r, c: c, cfg: cfg}
}

// counting is a handler that counts its calls and answers with the call
// number in the body, so that a cached response tells itself apart.
type counting struct {
	calls atomic.Int64
	fn    func(w http.ResponseWriter, r *http.Request, n int64)
}

func (h *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.calls.Add(1)
	if h.fn != nil {
		h.fn(w, r, n)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, r.URL.Path+" #"+strconv.FormatInt(n, 10))
}

// do serves one request and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// expect checks the cache state and body of a response.
func expect(t *testing.T, w *httptest.ResponseRecorder, state, body string) {
	t.Helper()
	if got := w.Header().Get(httpcache.DefaultStatusHeader); got != state {
		t.Errorf("X-Cache = %q, want %q (body %q)", got, state, w.Body.String())
	}
	if got := w.Body.String(); got != body {
		t.Errorf("body = %q, want %q", got, body)
	}
}

// waitFor polls cond, failing after a generous bound: a hang guard, not a
// timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// ctxKey carries a value through a request's context in tests.
type ctxKey struct{}

func withValue(next http.Handler, v string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, v)))
	})
}
