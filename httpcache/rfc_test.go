package httpcache_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/region"
)

// step is one request of an RFC case, and what must come back.
type step struct {
	advance time.Duration // the clock moves on first
	method  string        // default GET
	path    string        // default /r
	host    string        // default: the server's
	header  []string      // request header, name and value pairs
	status  int           // default 200
	state   string        // X-Cache
	body    string        // "" for HEAD and 304
	calls   int64         // origin calls so far
	want    map[string]string
}

// origin is a handler whose responses carry the header its case gives for
// the call ("$now" and "$now-1h" are dates, a newline separates field
// lines); it answers "#n" for its n-th call, and 304 to a request whose
// If-None-Match holds the ETag it sends.
type origin struct {
	calls  atomic.Int64
	header func(n int64, r *http.Request) map[string]string
	status func(n int64) int
	e      *env
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.calls.Add(1)
	var h map[string]string
	if o.header != nil {
		h = o.header(n, r)
	}
	for k, v := range h {
		if k == force304 {
			continue
		}
		if ago, ok := strings.CutPrefix(v, "$now-"); ok {
			d, _ := time.ParseDuration(ago)
			v = o.e.clock.Now().Add(-d).UTC().Format(http.TimeFormat)
		}
		if v == "$now" {
			v = o.e.clock.Now().UTC().Format(http.TimeFormat)
		}
		for line := range strings.SplitSeq(v, "\n") {
			w.Header().Add(k, line) // "a\nb": two field lines
		}
	}
	if etag := h["ETag"]; h[force304] != "" || etag != "" && r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	status := 200
	if o.status != nil {
		status = o.status(n)
	}
	if r.Method == http.MethodPost {
		status = 201
		if o.status != nil {
			status = o.status(n)
		}
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "#%d", n)
}

// force304 in the header an origin's case gives makes it answer 304
// whatever the request; it is not sent.
const force304 = "X-Force-304"

func fixed(h map[string]string) func(int64, *http.Request) map[string]string {
	return func(int64, *http.Request) map[string]string { return h }
}

type rfcCase struct {
	name   string
	opts   httpcache.Options
	header func(n int64, r *http.Request) map[string]string
	status func(n int64) int
	steps  []step
}

func runRFC(t *testing.T, cases []rfcCase) {
	t.Helper()
	for _, m := range modes {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, m.serialize, tc.opts)
				o := &origin{header: tc.header, status: tc.status, e: e}
				srv := httptest.NewServer(e.c.Handler("rfc", o))
				defer srv.Close()
				client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				for i, s := range tc.steps {
					e.clock.Advance(s.advance)
					method, path := s.method, s.path
					if method == "" {
						method = "GET"
					}
					if path == "" {
						path = "/r"
					}
					req, _ := http.NewRequest(method, srv.URL+path, nil)
					if s.host != "" {
						req.Host = s.host
					}
					for j := 0; j+1 < len(s.header); j += 2 {
						req.Header.Add(s.header[j], s.header[j+1])
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status := s.status
					if status == 0 {
						status = 200
					}
					got := fmt.Sprintf("%d %s %q calls=%d", resp.StatusCode, resp.Header.Get("X-Cache"), body, o.calls.Load())
					want := fmt.Sprintf("%d %s %q calls=%d", status, s.state, s.body, s.calls)
					if got != want {
						t.Fatalf("step %d (%s %s %v): got %s, want %s", i, method, path, s.header, got, want)
					}
					for k, v := range s.want {
						if g := resp.Header.Get(k); g != v {
							t.Fatalf("step %d: %s = %q, want %q", i, k, g, v)
						}
					}
				}
			})
		}
	}
}

// TestAuthorization: RFC 9111 §3.5; cookies likewise unless opted in.
func TestAuthorization(t *testing.T) {
	auth := []string{"Authorization", "Bearer alice"}
	runRFC(t, []rfcCase{
		{name: "response to Authorization not stored", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{header: auth, state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
			{state: "HIT", body: "#2", calls: 2},
		}},
		{name: "stored response not used for Authorization", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{header: auth, state: "MISS", body: "#2", calls: 2},
			{header: []string{"Authorization", "Bearer bob"}, state: "MISS", body: "#3", calls: 3},
		}},
		{name: "public allows", header: fixed(map[string]string{"Cache-Control": "public, max-age=60"}), steps: []step{
			{header: auth, state: "MISS", body: "#1", calls: 1},
			{state: "HIT", body: "#1", calls: 1},
			{header: []string{"Authorization", "Bearer bob"}, state: "HIT", body: "#1", calls: 1},
		}},
		{name: "s-maxage allows", header: fixed(map[string]string{"Cache-Control": "s-maxage=60"}), steps: []step{
			{header: auth, state: "MISS", body: "#1", calls: 1},
			{state: "HIT", body: "#1", calls: 1},
		}},
		{name: "must-revalidate allows", header: fixed(map[string]string{"Cache-Control": "must-revalidate, max-age=60"}), steps: []step{
			{header: auth, state: "MISS", body: "#1", calls: 1},
			{state: "HIT", body: "#1", calls: 1},
		}},
		{name: "cookie request not stored", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{header: []string{"Cookie", "s=alice"}, state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
			{header: []string{"Cookie", "s=bob"}, state: "MISS", body: "#3", calls: 3},
		}},
		{name: "cookie request opted in", opts: httpcache.Options{UnsafeShareResponsesToRequestsWithCookies: true}, header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{header: []string{"Cookie", "s=alice"}, state: "MISS", body: "#1", calls: 1},
			{state: "HIT", body: "#1", calls: 1},
		}},
		{name: "private never stored", header: fixed(map[string]string{"Cache-Control": "private, max-age=60"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
		}},
		{name: "no-store never stored", header: fixed(map[string]string{"Cache-Control": "no-store, public, max-age=60"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
		}},
		{name: "request no-store", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{header: []string{"Cache-Control", "no-store"}, state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
		}},
		{name: "host is part of the key", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{host: "a.example", state: "MISS", body: "#1", calls: 1},
			{host: "b.example", state: "MISS", body: "#2", calls: 2},
			{host: "A.example", state: "HIT", body: "#1", calls: 2},
		}},
	})
}

// TestFreshness: RFC 9111 §4.2, §5.2; RFC 5861.
func TestFreshness(t *testing.T) {
	runRFC(t, []rfcCase{
		{name: "max-age", header: fixed(map[string]string{"Cache-Control": "max-age=10"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 9 * time.Second, state: "HIT", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "s-maxage over max-age", header: fixed(map[string]string{"Cache-Control": "max-age=1, s-maxage=30"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 20 * time.Second, state: "HIT", body: "#1", calls: 1},
			{advance: 11 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "max-age over Expires", header: func(int64, *http.Request) map[string]string {
			return map[string]string{"Cache-Control": "max-age=30", "Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 20 * time.Second, state: "HIT", body: "#1", calls: 1},
		}},
		{name: "Expires minus Date", header: func(n int64, r *http.Request) map[string]string {
			return map[string]string{"Date": "Tue, 14 Nov 2023 22:13:20 GMT", "Expires": "Tue, 14 Nov 2023 22:13:30 GMT"}
		}, opts: httpcache.Options{Expiration: time.Hour}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 9 * time.Second, state: "HIT", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "invalid Expires is stale", header: fixed(map[string]string{"Expires": "0"}), opts: httpcache.Options{Expiration: time.Hour}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
		}},
		{name: "Age counted", header: fixed(map[string]string{"Cache-Control": "max-age=10", "Age": "8"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: time.Second, state: "HIT", body: "#1", calls: 1, want: map[string]string{"Age": "9"}},
			{advance: 2 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "heuristic for 200", opts: httpcache.Options{Expiration: time.Minute}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 59 * time.Second, state: "HIT", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "no heuristic for 302", opts: httpcache.Options{Expiration: time.Minute}, status: func(int64) int { return 302 }, steps: []step{
			{status: 302, state: "MISS", body: "#1", calls: 1},
			{status: 302, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "explicit freshness stores 500", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), status: func(int64) int { return 500 }, steps: []step{
			{status: 500, state: "MISS", body: "#1", calls: 1},
			{status: 500, state: "HIT", body: "#1", calls: 1},
		}},
		{name: "no-cache revalidates every time", header: fixed(map[string]string{"Cache-Control": "no-cache", "ETag": `"v1"`}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "REVALIDATED", body: "#1", calls: 2},
			{state: "REVALIDATED", body: "#1", calls: 3},
		}},
		{name: "request max-age=0 validates", header: fixed(map[string]string{"Cache-Control": "max-age=60", "ETag": `"v1"`}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: time.Second, header: []string{"Cache-Control", "max-age=0"}, state: "REVALIDATED", body: "#1", calls: 2},
			{state: "HIT", body: "#1", calls: 2},
		}},
		{name: "request no-cache validates", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{header: []string{"Pragma", "no-cache"}, state: "MISS", body: "#2", calls: 2},
			{state: "HIT", body: "#2", calls: 2},
		}},
		{name: "request max-stale", header: fixed(map[string]string{"Cache-Control": "max-age=1"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 5 * time.Second, header: []string{"Cache-Control", "max-stale=10"}, state: "STALE", body: "#1", calls: 1},
		}},
		{name: "must-revalidate refuses max-stale", header: fixed(map[string]string{"Cache-Control": "max-age=1, must-revalidate"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 5 * time.Second, header: []string{"Cache-Control", "max-stale=10"}, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "proxy-revalidate refuses max-stale", header: fixed(map[string]string{"Cache-Control": "max-age=1, proxy-revalidate"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 5 * time.Second, header: []string{"Cache-Control", "max-stale"}, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "stale-if-error", header: fixed(map[string]string{"Cache-Control": "max-age=1, stale-if-error=60"}), status: func(n int64) int {
			if n > 1 {
				return 503
			}
			return 200
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 30 * time.Second, state: "STALE", body: "#1", calls: 2},
			{advance: 60 * time.Second, status: 503, state: "MISS", body: "#3", calls: 3},
		}},
		{name: "stale-if-error refused by must-revalidate", header: fixed(map[string]string{"Cache-Control": "max-age=1, must-revalidate, stale-if-error=60"}), status: func(n int64) int {
			if n > 1 {
				return 503
			}
			return 200
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 30 * time.Second, status: 503, state: "MISS", body: "#2", calls: 2},
		}},
	})
}

// TestVaryRFC: RFC 9111 §4.1.
func TestVaryRFC(t *testing.T) {
	echo := func(n int64, r *http.Request) map[string]string {
		return map[string]string{"Cache-Control": "max-age=60", "Vary": "Accept-Encoding", "X-Enc": r.Header.Get("Accept-Encoding")}
	}
	runRFC(t, []rfcCase{
		{name: "response Vary selects variants", header: echo, steps: []step{
			{header: []string{"Accept-Encoding", "gzip"}, state: "MISS", body: "#1", calls: 1, want: map[string]string{"X-Enc": "gzip"}},
			{header: []string{"Accept-Encoding", "identity"}, state: "MISS", body: "#2", calls: 2, want: map[string]string{"X-Enc": "identity"}},
			{header: []string{"Accept-Encoding", "gzip"}, state: "HIT", body: "#1", calls: 2},
			{header: []string{"Accept-Encoding", "identity"}, state: "HIT", body: "#2", calls: 2},
			{header: []string{"Accept-Encoding", "br"}, state: "MISS", body: "#3", calls: 3},
		}},
		{name: "whitespace around list members ignored", header: echo, steps: []step{
			{header: []string{"Accept-Encoding", "gzip,br"}, state: "MISS", body: "#1", calls: 1},
			{header: []string{"Accept-Encoding", " gzip , br "}, state: "HIT", body: "#1", calls: 1},
			{header: []string{"Accept-Encoding", "gzip", "Accept-Encoding", "br"}, state: "HIT", body: "#1", calls: 1},
			{header: []string{"Accept-Encoding", "br,gzip"}, state: "MISS", body: "#2", calls: 2},
			{header: []string{"Accept-Encoding", `"gzip, br"`}, state: "MISS", body: "#3", calls: 3},
			{header: []string{"Accept-Encoding", `"gzip,br"`}, state: "MISS", body: "#4", calls: 4},
		}},
		{name: "Vary star never reused", header: fixed(map[string]string{"Cache-Control": "max-age=60", "Vary": "*"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
		}},
		{name: "Options.Vary as an extra", opts: httpcache.Options{Vary: []string{"X-Tenant"}}, header: echo, steps: []step{
			{header: []string{"Accept-Encoding", "gzip", "X-Tenant", "a"}, state: "MISS", body: "#1", calls: 1},
			{header: []string{"Accept-Encoding", "gzip", "X-Tenant", "b"}, state: "MISS", body: "#2", calls: 2},
			{header: []string{"Accept-Encoding", "gzip", "X-Tenant", "a"}, state: "HIT", body: "#1", calls: 2},
		}},
	})
}

// TestAge: RFC 9111 §5.1, and Date kept (RFC 9110 §6.6.1).
func TestAge(t *testing.T) {
	runRFC(t, []rfcCase{
		{name: "Age generated, Date preserved", header: fixed(map[string]string{"Cache-Control": "max-age=60", "Date": "$now"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 7 * time.Second, state: "HIT", body: "#1", calls: 1, want: map[string]string{"Age": "7", "Date": "Tue, 14 Nov 2023 22:13:20 GMT"}},
		}},
		{name: "apparent age from an old Date", header: fixed(map[string]string{"Cache-Control": "max-age=60", "Date": "Tue, 14 Nov 2023 22:12:50 GMT"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "HIT", body: "#1", calls: 1, want: map[string]string{"Age": "30"}},
			{advance: 31 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
	})
}

// TestConditional: RFC 9111 §4.3.
func TestConditional(t *testing.T) {
	lm := "Tue, 14 Nov 2023 20:00:00 GMT"
	runRFC(t, []rfcCase{
		{name: "If-None-Match answered from a fresh response", header: fixed(map[string]string{"Cache-Control": "max-age=60", "ETag": `"v1"`}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{header: []string{"If-None-Match", `"v0", "v1"`}, status: 304, state: "HIT", calls: 1, want: map[string]string{"ETag": `"v1"`}},
			{header: []string{"If-None-Match", `"v2"`}, state: "HIT", body: "#1", calls: 1},
		}},
		{name: "If-None-Match on a miss", header: fixed(map[string]string{"Cache-Control": "max-age=60", "ETag": `"v1"`}), steps: []step{
			{header: []string{"If-None-Match", `"v1"`}, status: 304, state: "MISS", calls: 1},
			{state: "HIT", body: "#1", calls: 1},
		}},
		{name: "If-Modified-Since", header: fixed(map[string]string{"Cache-Control": "max-age=60", "Last-Modified": lm}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{header: []string{"If-Modified-Since", "Tue, 14 Nov 2023 21:00:00 GMT"}, status: 304, state: "HIT", calls: 1},
			{header: []string{"If-Modified-Since", "Tue, 14 Nov 2023 19:00:00 GMT"}, state: "HIT", body: "#1", calls: 1},
		}},
		{name: "stale response revalidated, headers refreshed", header: func(n int64, r *http.Request) map[string]string {
			return map[string]string{"Cache-Control": "max-age=10", "ETag": `"v1"`, "X-Call": fmt.Sprint(n)}
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"X-Call": "1"}},
			{advance: 11 * time.Second, state: "REVALIDATED", body: "#1", calls: 2, want: map[string]string{"X-Call": "2", "Age": "0"}},
			{advance: 5 * time.Second, state: "HIT", body: "#1", calls: 2, want: map[string]string{"X-Call": "2", "Age": "5"}},
		}},
		{name: "revalidation with a new response", header: func(n int64, r *http.Request) map[string]string {
			return map[string]string{"Cache-Control": "max-age=10", "ETag": fmt.Sprintf(`"v%d"`, n)}
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 11 * time.Second, state: "MISS", body: "#2", calls: 2},
			{state: "HIT", body: "#2", calls: 2},
		}},
	})
}

// TestUnsafeMethods: RFC 9111 §4.4.
func TestUnsafeMethods(t *testing.T) {
	loc := func(n int64, r *http.Request) map[string]string {
		if r.Method == http.MethodPost {
			return map[string]string{"Location": "/other", "Content-Location": "http://elsewhere.example/r2"}
		}
		return map[string]string{"Cache-Control": "max-age=60"}
	}
	runRFC(t, []rfcCase{
		{name: "POST invalidates its URL", header: loc, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{path: "/other", state: "MISS", body: "#2", calls: 2},
			{path: "/r2", state: "MISS", body: "#3", calls: 3},
			{method: "POST", status: 201, body: "#4", calls: 4},
			{state: "MISS", body: "#5", calls: 5},
			{path: "/other", state: "MISS", body: "#6", calls: 6},
			{path: "/r2", state: "HIT", body: "#3", calls: 6}, // another host
		}},
		{name: "failed POST invalidates nothing", header: loc, status: func(n int64) int {
			if n == 2 {
				return 500
			}
			return 200
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{method: "POST", status: 500, body: "#2", calls: 2},
			{state: "HIT", body: "#1", calls: 2},
		}},
		{name: "DELETE invalidates", header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{method: "DELETE", body: "#2", calls: 2},
			{state: "MISS", body: "#3", calls: 3},
		}},
	})
}

// unlisted is a registry that cannot list keys, as memcached's.
type unlisted struct{ keyreg.Registry }

func (unlisted) Keys(context.Context, string) ([]string, error) { return nil, keyreg.ErrNotListable }

// TestInvalidateURLWithoutListing checks that InvalidateURL drops every
// variant of a URL on a registry that cannot list keys.
func TestInvalidateURLWithoutListing(t *testing.T) {
	e := newEnv(t, true, httpcache.Options{})
	cfg := e.cfg
	cfg.Registry = unlisted{cfg.Registry}
	cfg.Namespace = "unlisted"
	r, err := region.New("unlisted", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := httpcache.New(r, httpcache.Options{Logger: quiet, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s %d", r.Header.Get("Accept-Language"), n)
	}}
	srv := c.Handler("v", h)
	expect(t, do(t, srv, "GET", "/v", "Accept-Language", "en"), httpcache.Miss, "en 1")
	expect(t, do(t, srv, "GET", "/v", "Accept-Language", "fr"), httpcache.Miss, "fr 2")
	expect(t, do(t, srv, "GET", "/v", "Accept-Language", "fr"), httpcache.Hit, "fr 2")
	if err := c.InvalidateURL(context.Background(), "v", "", "/v"); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, srv, "GET", "/v", "Accept-Language", "fr"), httpcache.Miss, "fr 3")
	expect(t, do(t, srv, "GET", "/v", "Accept-Language", "en"), httpcache.Miss, "en 4")
}

// TestConditionalNotSharedWithWaiters checks that a request waiting for
// another's conditional request gets the full stored response, not the 304
// the other gets.
func TestConditionalNotSharedWithWaiters(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			close(entered)
			<-release
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "body %d", n)
	}}
	srv := e.c.Handler("c", h)
	cond, plain := make(chan *httptest.ResponseRecorder), make(chan *httptest.ResponseRecorder)
	go func() { cond <- do(t, srv, "GET", "/c", "If-None-Match", `"v1"`) }()
	<-entered
	waits := e.r.Stats().LockWaits
	go func() { plain <- do(t, srv, "GET", "/c") }()
	waitFor(t, "the plain request to wait", func() bool { return e.r.Stats().LockWaits > waits })
	close(release)
	if w := <-cond; w.Code != http.StatusNotModified {
		t.Errorf("conditional request: %d, want 304", w.Code)
	}
	if w := <-plain; w.Code != http.StatusOK || w.Body.String() != "body 1" {
		t.Errorf("waiter: %d %q, want 200 and the stored body", w.Code, w.Body.String())
	}
	if n := h.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// TestAuthorizedNotSharedWithWaiters checks that a request waiting for the
// response to another's request with Authorization runs the handler itself.
func TestAuthorizedNotSharedWithWaiters(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			close(entered)
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "for %q", r.Header.Get("Authorization"))
	}}
	srv := e.c.Handler("a", h)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- do(t, srv, "GET", "/a", "Authorization", "alice") }()
	<-entered
	waits := e.r.Stats().LockWaits
	go func() { done <- do(t, srv, "GET", "/a") }()
	waitFor(t, "the anonymous request to wait", func() bool { return e.r.Stats().LockWaits > waits })
	close(release)
	got := map[string]bool{}
	for range 2 {
		got[(<-done).Body.String()] = true
	}
	if !got[`for "alice"`] || !got[`for ""`] {
		t.Fatalf("bodies %v, want one for alice and one anonymous", got)
	}
}

// TestEarlyHints checks that 1xx responses reach the client.
func TestEarlyHints(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		fmt.Fprintf(w, "#%d", n)
	}}
	srv := httptest.NewServer(e.c.Handler("eh", h))
	defer srv.Close()
	var hints atomic.Int64
	var link atomic.Value
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hints.Add(1)
				link.Store(strings.Join(h["Link"], ","))
			}
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/eh", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if hints.Load() != 1 || link.Load() != "</style.css>; rel=preload" || string(body) != "#1" {
		t.Fatalf("hints %d link %v body %q; want 1 hint with the Link and #1", hints.Load(), link.Load(), body)
	}
	if resp.Header.Get("Link") != "" {
		t.Fatalf("final response carries the hint's Link")
	}
}

// TestAgeParsing: RFC 9111 §5.1, §4.2.3, §1.2.2. A list-valued Age (one
// line or several) counts by its first member; an Age that is then not a
// non-negative integer is ignored, the response as fresh as its other
// fields say; past 2^31 seconds it is 2^31, older than any lifetime. A
// response passed on keeps the age its Age gave it.
func TestAgeParsing(t *testing.T) {
	at := func(age, cc string, fresh bool) rfcCase {
		name := "stale with Age "
		second := step{advance: time.Second, state: "MISS", body: "#2", calls: 2}
		if fresh {
			name = "fresh with Age "
			second = step{advance: time.Second, state: "HIT", body: "#1", calls: 1}
		}
		return rfcCase{name: name + strings.ReplaceAll(age, "\n", " | "), header: fixed(map[string]string{"Cache-Control": cc, "Age": age}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			second,
		}}
	}
	ignored := func(age string) rfcCase {
		return rfcCase{name: "ignored Age " + age, header: fixed(map[string]string{"Cache-Control": "max-age=3600", "Age": age}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"Age": ""}},
			{advance: 5 * time.Second, state: "HIT", body: "#1", calls: 1, want: map[string]string{"Age": "5"}},
		}}
	}
	runRFC(t, []rfcCase{
		// Invalid once the list is cut: ignored.
		ignored("abc"), ignored("-7200"), ignored("7200.0"), ignored("+10"),
		ignored("10;foo=bar"), ignored("0x10"), ignored("1e3"), ignored(""),
		// The first member counts; the rest is discarded.
		at("0, 7200", "max-age=3600", true),
		at("0,7200", "max-age=3600", true),
		at("7200, 0", "max-age=3600", false),
		at("0\n7200", "max-age=3600", true),
		at("7200\n0", "max-age=3600", false),
		at("0, 0", "max-age=3600", true),
		at("0\n0", "max-age=3600", true),
		at("3600\n3600", "max-age=10000", true),
		at("0, 2147483648", "max-age=3600", true),
		at("abc, 0", "max-age=3600", true), // an invalid first member: the field is ignored
		at("abc, 7200", "max-age=3600", true),
		// Past 2^31 seconds: very old, whatever the lifetime.
		at("2147483647", "max-age=3600", false),
		at("2147483648", "max-age=3600", false),
		at("99999999999999999999", "max-age=3600", false),
		at("2147483648", "max-age=99999999999", false),
		{name: "first member counted and passed on", header: fixed(map[string]string{"Cache-Control": "max-age=3600", "Age": "30, 7200"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"Age": "30"}},
			{advance: 5 * time.Second, state: "HIT", body: "#1", calls: 1, want: map[string]string{"Age": "35"}},
		}},
		{name: "empty members skipped", header: fixed(map[string]string{"Cache-Control": "max-age=3600", "Age": " , 30, 0"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"Age": "30"}},
			{advance: 5 * time.Second, state: "HIT", body: "#1", calls: 1, want: map[string]string{"Age": "35"}},
		}},
		{name: "Date centuries ago is very old too", header: fixed(map[string]string{"Cache-Control": "max-age=3600", "Date": "Sat, 01 Jan 1000 00:00:00 GMT"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"Age": "2147483648"}},
			{advance: time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "very old passed on as 2^31", header: fixed(map[string]string{"Cache-Control": "max-age=3600", "Age": "99999999999999999999"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"Age": "2147483648"}},
		}},
		{name: "valid Age passed on and counted", header: fixed(map[string]string{"Cache-Control": "max-age=3600", "Age": "30"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"Age": "30"}},
			{advance: 5 * time.Second, state: "HIT", body: "#1", calls: 1, want: map[string]string{"Age": "35"}},
		}},
		{name: "Age over max-age is stale", header: fixed(map[string]string{"Cache-Control": "max-age=60", "Age": "7200"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"Age": "7200"}},
			{state: "MISS", body: "#2", calls: 2},
		}},
	})
}

// TestExpiresParsing: RFC 9111 §5.3, RFC 9110 §5.6.7. Expires is an
// HTTP-date in one of its three formats, matched case-insensitively (RFC
// 9111 §4.2); anything else, two Expires lines included, is a time in the
// past: the response is stale at once, not fresh by the heuristic.
func TestExpiresParsing(t *testing.T) {
	expires := func(v string, fresh bool) rfcCase {
		name := "stale with Expires "
		second := step{advance: time.Second, state: "MISS", body: "#2", calls: 2}
		if fresh {
			name = "fresh with Expires "
			second = step{advance: time.Second, state: "HIT", body: "#1", calls: 1}
		}
		return rfcCase{name: name + strings.ReplaceAll(v, "\n", " | "), opts: httpcache.Options{Expiration: time.Hour},
			header: fixed(map[string]string{"Date": "$now", "Expires": v}), steps: []step{
				{state: "MISS", body: "#1", calls: 1},
				second,
			}}
	}
	runRFC(t, []rfcCase{
		// The three formats, in any case.
		expires("Thu, 18 Aug 2050 02:01:18 GMT", true),
		expires("Tue, 19 Jan 2038 14:14:08 GMT", true),
		expires("Sun, 21 Nov 2286 04:46:39 GMT", true),
		expires("THU, 18 AUG 2050 02:01:18 gmt", true),
		expires("Thursday, 18-Aug-50 02:01:18 GMT", true),
		expires("thursday, 18-aug-50 02:01:18 Gmt", true),
		expires("Thu Aug 18 02:01:18 2050", true),
		expires("Thu Aug  8 02:01:18 2050", true),
		expires("Thu Aug 08 02:01:18 2050", true),
		// A two-digit year more than 50 years ahead is in the past
		// century (RFC 9110 §5.6.7); the clock says 2023.
		expires("Monday, 18-Aug-70 02:01:18 GMT", true),
		expires("Sunday, 18-Aug-74 02:01:18 GMT", false),
		// Not HTTP-dates.
		expires("Thu, 18  Aug  2050 02:01:18 GMT", false),
		expires("Thu, 18 Aug 2050 2:01:18 GMT", false),
		expires("Thu, 18 Aug 2050 02:01:18 GMT\nThu, 18 Aug 2050 02:01:19 GMT", false),
		expires("Thu, 18 Aug 2050 02:01:18 GMT\nThu, 18 Aug 2050 02:01:18 GMT", false),
		expires("Thu, 18 Aug 2050 02:01:18 UTC", false),
		expires("Thu, 18 Aug 2050 02:01:18 AEST", false),
		expires("Thu, 18 Aug 2050 02:01:18 +0000", false),
		expires("Thu, 18 Aug 50 02:01:18 GMT", false),
		expires("Thu 18 Aug 2050 02:01:18 GMT", false),
		expires("Thu, 18-Aug-2050 02:01:18 GMT", false),
		expires("Thursday, 18-Aug-2050 02:01:18 GMT", false),
		expires("Thu, 18 Aug 2050 02.01.18 GMT", false),
		expires("Thu, 8 Aug 2050 02:01:18 GMT", false),
		expires("Thu, 31 Feb 2050 02:01:18 GMT", false),
		expires("Thu, 18 Aug 2050 24:00:00 GMT", false),
		expires("Thu, 18 Aug 2050 02:01:18 GMT junk", false),
		expires("Thu Aug 18 02:01:18 2050 GMT", false),
		expires("Xyz, 18 Aug 2050 02:01:18 GMT", false),
		expires("2050-08-18T02:01:18Z", false),
		expires("0", false),
		expires("", false),
	})
}

// TestTargetedFields: RFC 9213. The first field of the target list
// (CDN-Cache-Control by default) with a valid, non-empty value sets the
// response's caching policy in place of Cache-Control and Expires; the
// field used is not passed on. An invalid one (not a Structured Fields
// Dictionary, or a directive's value of the wrong type) is ignored.
func TestTargetedFields(t *testing.T) {
	fresh := func(name string, opts httpcache.Options, h map[string]string, want map[string]string) rfcCase {
		return rfcCase{name: name, opts: opts, header: fixed(h), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: want},
			{advance: 2 * time.Second, state: "HIT", body: "#1", calls: 1, want: want},
		}}
	}
	stale := func(name string, opts httpcache.Options, h map[string]string, want map[string]string) rfcCase {
		return rfcCase{name: name, opts: opts, header: fixed(h), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: want},
			{advance: 2 * time.Second, state: "MISS", body: "#2", calls: 2, want: want},
		}}
	}
	// StripTargetedField, so that each case shows the field was used.
	def := httpcache.Options{Expiration: time.Hour, StripTargetedField: true}
	future, past := "Thu, 18 Aug 2050 02:01:18 GMT", "Thu, 01 Jan 1970 00:00:00 GMT"
	cdnGone := map[string]string{"CDN-Cache-Control": ""}
	runRFC(t, []rfcCase{
		// CDN-Cache-Control, on by default, over Cache-Control and Expires.
		stale("max-age=0 over a fresh Cache-Control", def, map[string]string{"CDN-Cache-Control": "max-age=0", "Cache-Control": "max-age=3600"}, cdnGone),
		stale("max-age=0 over a future Expires", def, map[string]string{"CDN-Cache-Control": "max-age=0", "Expires": future}, cdnGone),
		stale("short max-age over a long Cache-Control", def, map[string]string{"CDN-Cache-Control": "max-age=1", "Cache-Control": "max-age=3600"}, cdnGone),
		fresh("long max-age over a short Cache-Control", def, map[string]string{"CDN-Cache-Control": "max-age=3600", "Cache-Control": "max-age=1"}, map[string]string{"CDN-Cache-Control": "", "Cache-Control": "max-age=1"}),
		fresh("max-age over a past Expires", def, map[string]string{"CDN-Cache-Control": "max-age=3600", "Expires": past}, map[string]string{"CDN-Cache-Control": "", "Expires": past}),
		fresh("max-age over an invalid Expires", def, map[string]string{"CDN-Cache-Control": "max-age=3600", "Expires": "0"}, cdnGone),
		fresh("max-age over Cache-Control no-store", def, map[string]string{"CDN-Cache-Control": "max-age=3600", "Cache-Control": "no-store"}, cdnGone),
		fresh("max-age past 2^31", def, map[string]string{"CDN-Cache-Control": "max-age=99999999999", "Cache-Control": "no-store"}, cdnGone),
		fresh("extension directive ignored", def, map[string]string{"CDN-Cache-Control": "foobar, max-age=3600;a=1", "Cache-Control": "no-store"}, cdnGone),
		fresh("two lines are one dictionary", httpcache.Options{Expiration: time.Second, StripTargetedField: true}, map[string]string{"CDN-Cache-Control": "public\nmax-age=3600", "Cache-Control": "no-store"}, cdnGone),
		fresh("the last of a key counts", def, map[string]string{"CDN-Cache-Control": "max-age=1\nmax-age=3600", "Cache-Control": "no-store"}, cdnGone),
		stale("no-store over max-age", def, map[string]string{"CDN-Cache-Control": "max-age=3600, no-store", "Cache-Control": "max-age=3600"}, cdnGone),
		stale("private", def, map[string]string{"CDN-Cache-Control": "private", "Cache-Control": "max-age=10000", "Expires": future}, cdnGone),
		stale("no-store", def, map[string]string{"CDN-Cache-Control": "no-store", "Cache-Control": "max-age=10000", "Expires": future}, cdnGone),
		stale("no-cache", def, map[string]string{"CDN-Cache-Control": "no-cache", "Cache-Control": "max-age=10000", "Expires": future}, cdnGone),
		stale("no directive for freshness: the heuristic is not used over Cache-Control", httpcache.Options{Expiration: time.Second, StripTargetedField: true}, map[string]string{"CDN-Cache-Control": "none", "Cache-Control": "max-age=3600"}, cdnGone),
		{name: "no-cache revalidates", opts: def, header: fixed(map[string]string{"CDN-Cache-Control": "no-cache", "Cache-Control": "max-age=10000", "ETag": `"v1"`}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "REVALIDATED", body: "#1", calls: 2, want: cdnGone},
		}},
		{name: "qualified no-cache", opts: def, header: fixed(map[string]string{"CDN-Cache-Control": `max-age=60, no-cache="x-secret"`, "X-Secret": "s", "Cache-Control": "no-store"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"X-Secret": "s", "CDN-Cache-Control": ""}},
			{state: "HIT", body: "#1", calls: 1, want: map[string]string{"X-Secret": ""}},
		}},
		{name: "Cache-Control public ignored for Authorization", opts: def, header: fixed(map[string]string{"CDN-Cache-Control": "max-age=60", "Cache-Control": "public, max-age=60"}), steps: []step{
			{header: []string{"Authorization", "Bearer alice"}, state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
			{header: []string{"Authorization", "Bearer bob"}, state: "MISS", body: "#3", calls: 3},
		}},
		{name: "public for Authorization", opts: def, header: fixed(map[string]string{"CDN-Cache-Control": "public, max-age=60", "Cache-Control": "private"}), steps: []step{
			{header: []string{"Authorization", "Bearer alice"}, state: "MISS", body: "#1", calls: 1},
			{header: []string{"Authorization", "Bearer bob"}, state: "HIT", body: "#1", calls: 1},
		}},
		// An invalid field is ignored: Cache-Control decides, and the
		// field, not used, is passed on.
		stale("not a dictionary", def, map[string]string{"CDN-Cache-Control": "max-age=10000, &&&&&", "Cache-Control": "no-store"}, map[string]string{"CDN-Cache-Control": "max-age=10000, &&&&&"}),
		stale("max-age of the wrong type", def, map[string]string{"CDN-Cache-Control": `max-age="10000"`, "Cache-Control": "no-store"}, map[string]string{"CDN-Cache-Control": `max-age="10000"`}),
		stale("max-age negative", def, map[string]string{"CDN-Cache-Control": "max-age=-1", "Cache-Control": "no-store"}, nil),
		stale("max-age a decimal", def, map[string]string{"CDN-Cache-Control": "max-age=10.0", "Cache-Control": "no-store"}, nil),
		stale("upper-case key", def, map[string]string{"CDN-Cache-Control": "MaX-aGe=3600", "Cache-Control": "no-store"}, nil),
		stale("space before =", def, map[string]string{"CDN-Cache-Control": "max-age =3600", "Cache-Control": "max-age=1"}, nil),
		stale("space after =", def, map[string]string{"CDN-Cache-Control": "max-age= 3600", "Cache-Control": "max-age=1"}, nil),
		fresh("empty", def, map[string]string{"CDN-Cache-Control": "", "Cache-Control": "max-age=3600"}, nil),
		// Fields off the target list change nothing and are passed on.
		fresh("field off the list", def, map[string]string{"Example-Cache-Control": "no-store", "Cache-Control": "max-age=3600"}, map[string]string{"Example-Cache-Control": "no-store"}),
		// A target list of its own: the first valid field of it is used,
		// and only that one is not passed on.
		stale("first of the list", httpcache.Options{TargetedFields: []string{"Example-Cache-Control", "CDN-Cache-Control"}, StripTargetedField: true},
			map[string]string{"Example-Cache-Control": "max-age=0", "CDN-Cache-Control": "max-age=3600", "Cache-Control": "max-age=3600"},
			map[string]string{"Example-Cache-Control": "", "CDN-Cache-Control": "max-age=3600"}),
		fresh("next of the list when the first is invalid", httpcache.Options{TargetedFields: []string{"Example-Cache-Control", "CDN-Cache-Control"}, StripTargetedField: true},
			map[string]string{"Example-Cache-Control": "max-age=0.5", "CDN-Cache-Control": "max-age=3600", "Cache-Control": "no-store"},
			map[string]string{"Example-Cache-Control": "max-age=0.5", "CDN-Cache-Control": ""}),
		fresh("CDN-Cache-Control off the list", httpcache.Options{TargetedFields: []string{"Example-Cache-Control"}},
			map[string]string{"CDN-Cache-Control": "no-store", "Cache-Control": "max-age=3600"}, map[string]string{"CDN-Cache-Control": "no-store"}),
		// Turned off, for a cache that is not a CDN's.
		fresh("turned off", httpcache.Options{TargetedFields: []string{"Cache-Control"}},
			map[string]string{"CDN-Cache-Control": "max-age=0", "Cache-Control": "max-age=3600"}, map[string]string{"CDN-Cache-Control": "max-age=0"}),
		// Passed on by default, and used all the same.
		stale("forwarded by default", httpcache.Options{},
			map[string]string{"CDN-Cache-Control": "max-age=0", "Cache-Control": "max-age=3600"}, map[string]string{"CDN-Cache-Control": "max-age=0"}),
	})
}

// TestInvalidFreshness: RFC 9111 §4.2.1, §1.2.2. Freshness information
// that does not parse makes the response stale; it does not fall back to
// the heuristic.
func TestInvalidFreshness(t *testing.T) {
	staleWith := func(cc string) rfcCase {
		return rfcCase{name: cc, opts: httpcache.Options{Expiration: time.Hour}, header: fixed(map[string]string{"Cache-Control": cc}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: time.Second, state: "MISS", body: "#2", calls: 2},
		}}
	}
	runRFC(t, []rfcCase{
		staleWith("max-age=-1"), staleWith("max-age='3600'"), staleWith("max-age=3600.5"),
		staleWith("s-maxage=abc, max-age=3600"),
		{name: "leading zeros are valid", header: fixed(map[string]string{"Cache-Control": "max-age=0060"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 59 * time.Second, state: "HIT", body: "#1", calls: 1},
		}},
	})
}

// TestMustUnderstand: RFC 9111 §5.2.2.3.
func TestMustUnderstand(t *testing.T) {
	s599 := func(int64) int { return 599 }
	runRFC(t, []rfcCase{
		{name: "unknown status not stored", status: s599, header: fixed(map[string]string{"Cache-Control": "max-age=60, must-understand"}), steps: []step{
			{status: 599, state: "MISS", body: "#1", calls: 1},
			{status: 599, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "unknown status stored without it", status: s599, header: fixed(map[string]string{"Cache-Control": "max-age=60"}), steps: []step{
			{status: 599, state: "MISS", body: "#1", calls: 1},
			{status: 599, state: "HIT", body: "#1", calls: 1},
		}},
		{name: "known status overrides no-store", header: fixed(map[string]string{"Cache-Control": "max-age=60, no-store, must-understand"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "HIT", body: "#1", calls: 1},
		}},
	})
}

// TestNotModifiedSelection: RFC 9111 §4.3.4, §3.2. A 304 updates the
// stored response only when its validators are that response's; it never
// updates the fields that describe the stored body.
func TestNotModifiedSelection(t *testing.T) {
	lm1, lm2 := "Tue, 14 Nov 2023 20:00:00 GMT", "Tue, 14 Nov 2023 21:00:00 GMT"
	runRFC(t, []rfcCase{
		{name: "304 with another ETag updates nothing", header: func(n int64, r *http.Request) map[string]string {
			switch n {
			case 1:
				return map[string]string{"Cache-Control": "max-age=1", "ETag": `"v1"`, "X-Call": "1"}
			case 2:
				return map[string]string{"Cache-Control": "max-age=60", "ETag": `"v2"`, "X-Call": "2", force304: "1"}
			}
			return map[string]string{"Cache-Control": "max-age=60", "ETag": `"v3"`, "X-Call": fmt.Sprint(n)}
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "MISS", body: "#3", calls: 3, want: map[string]string{"ETag": `"v3"`, "X-Call": "3"}},
			{state: "HIT", body: "#3", calls: 3, want: map[string]string{"ETag": `"v3"`}},
		}},
		{name: "304 with another Last-Modified updates nothing", header: func(n int64, r *http.Request) map[string]string {
			switch n {
			case 1:
				return map[string]string{"Cache-Control": "max-age=1", "Last-Modified": lm1}
			case 2:
				return map[string]string{"Cache-Control": "max-age=60", "Last-Modified": lm2, force304: "1"}
			}
			return map[string]string{"Cache-Control": "max-age=60", "Last-Modified": lm2}
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "MISS", body: "#3", calls: 3, want: map[string]string{"Last-Modified": lm2}},
		}},
		{name: "304 with the same ETag updates, not Content-MD5", header: func(n int64, r *http.Request) map[string]string {
			return map[string]string{"Cache-Control": "max-age=1", "ETag": `"v1"`, "Content-MD5": fmt.Sprintf("md5-%d", n), "X-Call": fmt.Sprint(n)}
		}, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "REVALIDATED", body: "#1", calls: 2, want: map[string]string{"Content-MD5": "md5-1", "X-Call": "2"}},
		}},
	})
}

// TestFromStore: a HEAD answered from a stored GET response (RFC 9110
// §9.3.2), a range of a stored response (RFC 9110 §14), only-if-cached
// (RFC 9111 §5.2.1.7).
func TestFromStore(t *testing.T) {
	fresh := fixed(map[string]string{"Cache-Control": "max-age=10"})
	runRFC(t, []rfcCase{
		{name: "HEAD from a stored GET", header: fresh, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{method: "HEAD", state: "HIT", calls: 1, want: map[string]string{"Content-Length": "2"}},
			{advance: 11 * time.Second, method: "HEAD", state: "MISS", calls: 2},
		}},
		{name: "ranges of a stored response", header: fresh, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{header: []string{"Range", "bytes=1-"}, status: 206, state: "HIT", body: "1", calls: 1, want: map[string]string{"Content-Range": "bytes 1-1/2", "Content-Length": "1"}},
			{header: []string{"Range", "bytes=0-0"}, status: 206, state: "HIT", body: "#", calls: 1},
			{header: []string{"Range", "bytes=-1"}, status: 206, state: "HIT", body: "1", calls: 1},
			{header: []string{"Range", "bytes=5-"}, status: 416, state: "HIT", calls: 1, want: map[string]string{"Content-Range": "bytes */2"}},
			{header: []string{"Range", "bytes=0-0,1-1"}, state: "HIT", body: "#1", calls: 1},
			{header: []string{"Range", "bytes=0-0", "If-None-Match", "*"}, status: 304, state: "HIT", calls: 1},
		}},
		{name: "range of nothing stored goes to the handler", header: fresh, steps: []step{
			{header: []string{"Range", "bytes=0-0"}, state: "MISS", body: "#1", calls: 1},
			{state: "MISS", body: "#2", calls: 2},
			{header: []string{"Range", "bytes=0-0"}, status: 206, state: "HIT", body: "#", calls: 2},
		}},
		{name: "range with If-Range goes to the handler", header: fresh, steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{header: []string{"Range", "bytes=0-0", "If-Range", `"x"`}, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "only-if-cached", header: fresh, steps: []step{
			{header: []string{"Cache-Control", "only-if-cached"}, status: 504, state: "MISS", body: "httpcache: not cached (only-if-cached)\n", calls: 0},
			{state: "MISS", body: "#1", calls: 1},
			{header: []string{"Cache-Control", "only-if-cached"}, state: "HIT", body: "#1", calls: 1},
			{advance: 11 * time.Second, header: []string{"Cache-Control", "only-if-cached"}, status: 504, state: "MISS", body: "httpcache: not cached (only-if-cached)\n", calls: 1},
			{header: []string{"Cache-Control", "only-if-cached, max-stale"}, state: "STALE", body: "#1", calls: 1},
		}},
	})
}

// TestQualifiedNoCache: RFC 9111 §5.2.2.4. The fields no-cache="…" names
// are not reused; the rest of the response is.
func TestQualifiedNoCache(t *testing.T) {
	runRFC(t, []rfcCase{
		{name: "listed fields left out", header: fixed(map[string]string{"Cache-Control": `max-age=60, no-cache="X-Secret, x-other"`, "X-Secret": "s", "X-Other": "o", "X-Kept": "k"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1, want: map[string]string{"X-Secret": "s", "X-Other": "o"}},
			{state: "HIT", body: "#1", calls: 1, want: map[string]string{"X-Secret": "", "X-Other": "", "X-Kept": "k"}},
		}},
		{name: "unqualified still revalidates", header: fixed(map[string]string{"Cache-Control": "max-age=60, no-cache", "ETag": `"v1"`}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{state: "REVALIDATED", body: "#1", calls: 2},
		}},
	})
}

// TestRequestStaleIfError: RFC 5861 §4, the request's directive.
func TestRequestStaleIfError(t *testing.T) {
	failing := func(n int64) int {
		if n > 1 {
			return 503
		}
		return 200
	}
	sie := []string{"Cache-Control", "stale-if-error=60"}
	first := func(cc string) func(int64, *http.Request) map[string]string {
		return func(n int64, _ *http.Request) map[string]string {
			if n == 1 {
				return map[string]string{"Cache-Control": cc}
			}
			return nil // the errors are not stored
		}
	}
	runRFC(t, []rfcCase{
		{name: "request allows stale on error", status: failing, header: first("max-age=1"), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 30 * time.Second, status: 503, state: "MISS", body: "#2", calls: 2},
			{header: sie, state: "STALE", body: "#1", calls: 3},
			{advance: 60 * time.Second, header: sie, status: 503, state: "MISS", body: "#4", calls: 4},
		}},
		{name: "must-revalidate refuses it", status: failing, header: first("max-age=1, must-revalidate"), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 30 * time.Second, header: sie, status: 503, state: "MISS", body: "#2", calls: 2},
		}},
	})
}

// TestHeuristicLastModified: RFC 9111 §4.2.2. A response without explicit
// freshness but with Last-Modified is fresh for a tenth of its age then;
// Options.Expiration is the lifetime of one without either.
func TestHeuristicLastModified(t *testing.T) {
	runRFC(t, []rfcCase{
		{name: "tenth of the time since Last-Modified", opts: httpcache.Options{Expiration: time.Hour}, header: fixed(map[string]string{"Date": "$now", "Last-Modified": "$now-1000s"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 99 * time.Second, state: "HIT", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "bounded by Retention", opts: httpcache.Options{Expiration: time.Hour, Retention: 50 * time.Second}, header: fixed(map[string]string{"Date": "$now", "Last-Modified": "$now-1000s"}), steps: []step{
			{state: "MISS", body: "#1", calls: 1},
			{advance: 49 * time.Second, state: "HIT", body: "#1", calls: 1},
			{advance: 2 * time.Second, state: "MISS", body: "#2", calls: 2},
		}},
		{name: "no heuristic for a 302 with Last-Modified", opts: httpcache.Options{Expiration: time.Hour}, status: func(int64) int { return 302 }, header: fixed(map[string]string{"Last-Modified": "$now-1000s"}), steps: []step{
			{status: 302, state: "MISS", body: "#1", calls: 1},
			{status: 302, state: "MISS", body: "#2", calls: 2},
		}},
	})
}
