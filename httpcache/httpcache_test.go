package httpcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/region"
)

func TestNewOptions(t *testing.T) {
	r, err := region.New("opts", region.Config{Backend: nullBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tests := []struct {
		name string
		r    *region.Region
		o    httpcache.Options
		ok   bool
	}{
		{"zero", r, httpcache.Options{}, true},
		{"nil region", nil, httpcache.Options{}, false},
		{"negative expiration", r, httpcache.Options{Expiration: -time.Second}, false},
		{"negative body limit", r, httpcache.Options{MaxBodyBytes: -1}, false},
		{"informational status", r, httpcache.Options{Statuses: []int{101}}, false},
		{"status out of range", r, httpcache.Options{Statuses: []int{600}}, false},
		{"statuses", r, httpcache.Options{Statuses: []int{200, 404}}, true},
		{"empty vary header", r, httpcache.Options{Vary: []string{""}}, false},
		{"vary header with colon", r, httpcache.Options{Vary: []string{"X:Y"}}, false},
		{"target list", r, httpcache.Options{TargetedFields: []string{"Example-Cache-Control", "cdn-cache-control", "Cache-Control"}}, true},
		{"target list of Cache-Control alone", r, httpcache.Options{TargetedFields: []string{"Cache-Control"}}, true},
		{"empty target list", r, httpcache.Options{TargetedFields: []string{}}, false},
		{"target after Cache-Control", r, httpcache.Options{TargetedFields: []string{"Cache-Control", "CDN-Cache-Control"}}, false},
		{"target twice", r, httpcache.Options{TargetedFields: []string{"CDN-Cache-Control", "cdn-cache-control"}}, false},
		{"target not a field name", r, httpcache.Options{TargetedFields: []string{"CDN Cache-Control"}}, false},
		{"empty target", r, httpcache.Options{TargetedFields: []string{""}}, false},
		{"Expires as a target", r, httpcache.Options{TargetedFields: []string{"Expires"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := httpcache.New(tt.r, tt.o)
			if tt.ok != (err == nil) || tt.ok != (c != nil) {
				t.Fatalf("New = %v, %v; want ok %v", c, err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, httpcache.ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestHitMiss(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.serialize, httpcache.Options{})
			h := &counting{}
			srv := e.c.Handler("items", h)
			expect(t, do(t, srv, "GET", "/items?id=1"), httpcache.Miss, "/items #1")
			expect(t, do(t, srv, "GET", "/items?id=1"), httpcache.Hit, "/items #1")
			expect(t, do(t, srv, "GET", "/items?id=2"), httpcache.Miss, "/items #2")
			expect(t, do(t, srv, "GET", "/other"), httpcache.Miss, "/other #3")
			if n := h.calls.Load(); n != 3 {
				t.Fatalf("handler ran %d times, want 3", n)
			}
		})
	}
}

func TestSameEntry(t *testing.T) {
	tests := []struct {
		name         string
		first, again string
		same         bool
	}{
		{"ignored parameter", "/p?a=1&_dc=111", "/p?_dc=222&a=1", true},
		{"ignored parameter absent", "/p?a=1&_dc=111", "/p?a=1", true},
		{"parameter order", "/p?a=1&b=2&c=3", "/p?c=3&a=1&b=2", true},
		{"escaping", "/p?q=a%20b", "/p?q=a+b", true},
		{"value differs", "/p?a=1", "/p?a=2", false},
		{"repeated values keep their order", "/p?a=1&a=2", "/p?a=2&a=1", false},
		{"other parameter", "/p?a=1", "/p?a=1&b=", false},
		{"path differs", "/p?a=1", "/q?a=1", false},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, m.serialize, httpcache.Options{IgnoreParams: []string{"_dc", "callback"}})
				h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
					fmt.Fprintf(w, "%d", n)
				}}
				srv := e.c.Handler("p", h)
				expect(t, do(t, srv, "GET", tt.first), httpcache.Miss, "1")
				if tt.same {
					expect(t, do(t, srv, "GET", tt.again), httpcache.Hit, "1")
				} else {
					expect(t, do(t, srv, "GET", tt.again), httpcache.Miss, "2")
				}
			})
		}
	}
}

func TestStatuses(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		status   int
		cached   bool
	}{
		{"200 by default", nil, 200, true},
		{"404 by default (RFC 9110 §15.1)", nil, 404, true},
		{"500 not by default", nil, 500, false},
		{"301 by default (RFC 9110 §15.1)", nil, 301, true},
		{"302 not by default", nil, 302, false},
		{"404 when listed", []int{200, 404}, 404, true},
		{"200 not when unlisted", []int{404}, 200, false},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, m.serialize, httpcache.Options{Statuses: tt.statuses})
				h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
					w.WriteHeader(tt.status)
					fmt.Fprintf(w, "%d", n)
				}}
				srv := e.c.Handler("s", h)
				first := do(t, srv, "GET", "/s")
				expect(t, first, httpcache.Miss, "1")
				if first.Code != tt.status {
					t.Fatalf("status %d, want %d", first.Code, tt.status)
				}
				second := do(t, srv, "GET", "/s")
				if tt.cached {
					expect(t, second, httpcache.Hit, "1")
				} else {
					expect(t, second, httpcache.Miss, "2")
				}
				if second.Code != tt.status {
					t.Fatalf("status %d, want %d", second.Code, tt.status)
				}
			})
		}
	}
}

func TestPrivateResponses(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		cached bool
	}{
		{"no-store", map[string]string{"Cache-Control": "no-store"}, false},
		{"private", map[string]string{"Cache-Control": "private"}, false},
		{"private with fields and case", map[string]string{"Cache-Control": `max-age=60, PRIVATE="X-User"`}, false},
		{"no-store among others", map[string]string{"Cache-Control": "public,max-age=10 , no-store"}, false},
		{"set-cookie", map[string]string{"Set-Cookie": "session=1"}, false},
		{"public", map[string]string{"Cache-Control": "public, max-age=60"}, true},
		{"no-storex is another directive", map[string]string{"Cache-Control": "no-storex"}, true},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t, m.serialize, httpcache.Options{})
				h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					fmt.Fprintf(w, "%d", n)
				}}
				srv := e.c.Handler("priv", h)
				expect(t, do(t, srv, "GET", "/me"), httpcache.Miss, "1")
				if tt.cached {
					expect(t, do(t, srv, "GET", "/me"), httpcache.Hit, "1")
				} else {
					expect(t, do(t, srv, "GET", "/me"), httpcache.Miss, "2")
				}
			})
		}
	}
}

// TestPrivateNotShared checks that a request that waited for another's
// private response runs the handler itself instead of receiving it.
func TestPrivateNotShared(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			close(entered)
			<-release
		}
		w.Header().Set("Cache-Control", "private")
		fmt.Fprintf(w, "for %s", r.Header.Get("X-User"))
	}}
	srv := e.c.Handler("me", h)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- do(t, srv, "GET", "/me", "X-User", "alice") }()
	<-entered
	waits := e.r.Stats().LockWaits
	go func() { done <- do(t, srv, "GET", "/me", "X-User", "bob") }()
	waitFor(t, "bob to wait for alice's response", func() bool { return e.r.Stats().LockWaits > waits })
	close(release)
	got := map[string]bool{}
	for range 2 {
		w := <-done
		if s := w.Header().Get("X-Cache"); s != httpcache.Miss {
			t.Errorf("X-Cache = %q, want MISS", s)
		}
		got[w.Body.String()] = true
	}
	if !got["for alice"] || !got["for bob"] {
		t.Fatalf("bodies %v, want one for alice and one for bob", got)
	}
	if n := h.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
}

// TestErrorNotShared checks that requests that waited for a response that
// is not stored because of its status do not get it: only stored responses
// are shared, so each waiter runs the handler itself.
func TestErrorNotShared(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			close(entered)
			<-release
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}}
	srv := e.c.Handler("e", h)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- do(t, srv, "GET", "/e") }()
	<-entered
	waits := e.r.Stats().LockWaits
	go func() { done <- do(t, srv, "GET", "/e") }()
	waitFor(t, "the second request to wait", func() bool { return e.r.Stats().LockWaits > waits })
	close(release)
	for range 2 {
		if w := <-done; w.Code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", w.Code)
		}
	}
	if n := h.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
	// Not stored: the next request runs the handler.
	if w := do(t, srv, "GET", "/e"); w.Header().Get("X-Cache") != httpcache.Miss || h.calls.Load() != 3 {
		t.Fatalf("X-Cache %q after %d calls, want MISS after 3", w.Header().Get("X-Cache"), h.calls.Load())
	}
}

func TestHead(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.serialize, httpcache.Options{})
			h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("X-Method", r.Method)
				fmt.Fprintf(w, "body %d", n)
			}}
			srv := e.c.Handler("h", h)
			for i, want := range []string{httpcache.Miss, httpcache.Hit} {
				w := do(t, srv, "HEAD", "/h")
				expect(t, w, want, "")
				if got := w.Header().Get("Content-Length"); got != "6" {
					t.Errorf("HEAD %d: Content-Length %q, want 6", i, got)
				}
				if got := w.Header().Get("X-Method"); got != "HEAD" {
					t.Errorf("HEAD %d: X-Method %q", i, got)
				}
			}
			expect(t, do(t, srv, "GET", "/h"), httpcache.Miss, "body 2")
			expect(t, do(t, srv, "GET", "/h"), httpcache.Hit, "body 2")
			expect(t, do(t, srv, "HEAD", "/h"), httpcache.Hit, "")
		})
	}
}

func TestOtherMethodsPassThrough(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	h := &counting{}
	srv := e.c.Handler("m", h)
	for _, method := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		w := do(t, srv, method, "/m")
		if got := w.Header().Get("X-Cache"); got != "" {
			t.Errorf("%s: X-Cache %q, want none", method, got)
		}
	}
	if n := h.calls.Load(); n != 4 {
		t.Fatalf("handler ran %d times, want 4", n)
	}
}

func TestVary(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.serialize, httpcache.Options{Vary: []string{"accept-language"}})
			h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
				fmt.Fprintf(w, "%s %d", r.Header.Get("Accept-Language"), n)
			}}
			srv := e.c.Handler("v", h)
			expect(t, do(t, srv, "GET", "/v", "Accept-Language", "en"), httpcache.Miss, "en 1")
			expect(t, do(t, srv, "GET", "/v", "Accept-Language", "fr"), httpcache.Miss, "fr 2")
			expect(t, do(t, srv, "GET", "/v"), httpcache.Miss, " 3")
			expect(t, do(t, srv, "GET", "/v", "Accept-Language", "en"), httpcache.Hit, "en 1")
			expect(t, do(t, srv, "GET", "/v", "Accept-Language", "fr"), httpcache.Hit, "fr 2")
			expect(t, do(t, srv, "GET", "/v"), httpcache.Hit, " 3")
			// Other headers do not matter.
			expect(t, do(t, srv, "GET", "/v", "Accept-Language", "en", "X-Other", "1"), httpcache.Hit, "en 1")

			// Invalidating the URL drops every variant.
			if err := e.c.InvalidateURL(context.Background(), "v", "GET", "/v"); err != nil {
				t.Fatal(err)
			}
			expect(t, do(t, srv, "GET", "/v", "Accept-Language", "en"), httpcache.Miss, "en 4")
			expect(t, do(t, srv, "GET", "/v", "Accept-Language", "fr"), httpcache.Miss, "fr 5")
			expect(t, do(t, srv, "GET", "/v"), httpcache.Miss, " 6")
		})
	}
}

func TestExactRestoration(t *testing.T) {
	body := bytes.Repeat([]byte{0, 1, 2, 0xff, '\n'}, 1000)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.serialize, httpcache.Options{Statuses: []int{203}})
			srv := e.c.Handler("x", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Add("X-Multi", "one")
				w.Header().Add("X-Multi", "two")
				w.Header().Add("X-Multi", "three")
				w.Header().Set("X-Empty", "")
				w.WriteHeader(http.StatusNonAuthoritativeInfo)
				w.Header().Set("X-After-Write", "ignored by net/http")
				_, _ = w.Write(body[:10])
				_, _ = w.Write(body[10:])
			}))
			miss := do(t, srv, "GET", "/x")
			hit := do(t, srv, "GET", "/x")
			if got := hit.Header().Get("X-Cache"); got != httpcache.Hit {
				t.Fatalf("X-Cache %q, want HIT", got)
			}
			for name, w := range map[string]*httptest.ResponseRecorder{"miss": miss, "hit": hit} {
				if w.Code != http.StatusNonAuthoritativeInfo {
					t.Errorf("%s: status %d", name, w.Code)
				}
				if !bytes.Equal(w.Body.Bytes(), body) {
					t.Errorf("%s: body of %d bytes differs", name, w.Body.Len())
				}
				want := http.Header{
					"Content-Type": {"application/octet-stream"},
					"X-Multi":      {"one", "two", "three"},
					"X-Empty":      {""},
					// The cache dates a response without Date (RFC 9110 §6.6.1).
					"Date": {e.clock.Now().UTC().Format(http.TimeFormat)},
				}
				if name == "hit" {
					want.Set("Age", "0")
				}
				got := w.Header().Clone()
				got.Del("X-Cache")
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: header %v, want %v", name, got, want)
				}
			}
		})
	}
}

// TestHandlerWritesNothing checks that an empty handler gives an empty 200.
func TestHandlerWritesNothing(t *testing.T) {
	e := newEnv(t, true, httpcache.Options{})
	srv := e.c.Handler("n", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, state := range []string{httpcache.Miss, httpcache.Hit} {
		w := do(t, srv, "GET", "/n")
		expect(t, w, state, "")
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
}

func TestColdURLRunsHandlerOnce(t *testing.T) {
	const n = 100
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.serialize, httpcache.Options{})
			release := make(chan struct{})
			h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
				<-release
				fmt.Fprintf(w, "call %d", n)
			}}
			srv := e.c.Handler("cold", h)
			var started, wg sync.WaitGroup
			results := make([]*httptest.ResponseRecorder, n)
			started.Add(n)
			for i := range n {
				wg.Go(func() {
					started.Done()
					results[i] = do(t, srv, "GET", "/cold?q=1")
				})
			}
			started.Wait()
			close(release)
			wg.Wait()
			if c := h.calls.Load(); c != 1 {
				t.Fatalf("handler ran %d times, want 1", c)
			}
			states := map[string]int{}
			for _, w := range results {
				states[w.Header().Get("X-Cache")]++
				if w.Body.String() != "call 1" {
					t.Fatalf("body %q, want call 1", w.Body.String())
				}
			}
			if states[httpcache.Miss] != 1 || states[httpcache.Hit] != n-1 {
				t.Fatalf("states %v, want 1 MISS and %d HIT", states, n-1)
			}
		})
	}
}

func TestStale(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.serialize, httpcache.Options{})
			entered, release := make(chan struct{}), make(chan struct{})
			h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
				if n == 2 {
					close(entered)
					<-release
				}
				// Stale responses are served only as the origin allows.
				w.Header().Set("Cache-Control", "max-age=60, stale-while-revalidate=30")
				fmt.Fprintf(w, "v%d", n)
			}}
			srv := e.c.Handler("st", h)
			expect(t, do(t, srv, "GET", "/st"), httpcache.Miss, "v1")
			e.clock.Advance(59 * time.Second)
			expect(t, do(t, srv, "GET", "/st"), httpcache.Hit, "v1")
			e.clock.Advance(2 * time.Second)

			// Every request gets the stale one at once, the first too: one
			// revalidation runs in the background meanwhile.
			first := make(chan *httptest.ResponseRecorder, 1)
			go func() { first <- do(t, srv, "GET", "/st") }()
			select {
			case w := <-first:
				expect(t, w, httpcache.Stale, "v1")
			case <-time.After(10 * time.Second):
				close(release)
				t.Fatal("the first request waited for the revalidation")
			}
			<-entered
			expect(t, do(t, srv, "GET", "/st"), httpcache.Stale, "v1")
			expect(t, do(t, srv, "GET", "/st"), httpcache.Stale, "v1")
			close(release)
			waitFor(t, "the revalidated response", func() bool {
				return do(t, srv, "GET", "/st").Body.String() == "v2"
			})
			expect(t, do(t, srv, "GET", "/st"), httpcache.Hit, "v2")
			if n := h.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times, want 2", n)
			}
			if err := e.c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCloseStopsBackground checks that Close returns while a background
// revalidation's handler still runs (it finishes in the region's goroutine),
// and that after Close a stale response is revalidated in the request.
func TestCloseStopsBackground(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 2 {
			close(entered)
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60, stale-while-revalidate=30")
		fmt.Fprintf(w, "v%d", n)
	}}
	srv := e.c.Handler("cl", h)
	expect(t, do(t, srv, "GET", "/cl"), httpcache.Miss, "v1")
	e.clock.Advance(61 * time.Second)
	expect(t, do(t, srv, "GET", "/cl"), httpcache.Stale, "v1")
	<-entered
	done := make(chan error)
	go func() { done <- e.c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the handler")
	}
	// Another URL: revalidated in the request now.
	expect(t, do(t, srv, "GET", "/other"), httpcache.Miss, "v3")
	e.clock.Advance(61 * time.Second)
	expect(t, do(t, srv, "GET", "/other"), httpcache.Miss, "v4")
}

// A region-wide soft invalidation retires every URL's index: the next
// request runs the handler (stale responses are served only as the origin
// allows), and its response is stored.
func TestSoftInvalidation(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
		fmt.Fprintf(w, "v%d", n)
	}}
	srv := e.c.Handler("soft", h)
	expect(t, do(t, srv, "GET", "/s"), httpcache.Miss, "v1")
	e.clock.Advance(time.Second)
	if err := e.r.Invalidate(context.Background(), region.Soft); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, srv, "GET", "/s"), httpcache.Miss, "v2")
	expect(t, do(t, srv, "GET", "/s"), httpcache.Hit, "v2")
}

func TestInvalidate(t *testing.T) {
	ctx := context.Background()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.serialize, httpcache.Options{IgnoreParams: []string{"_dc"}})
			h := &counting{fn: func(w http.ResponseWriter, r *http.Request, n int64) {
				fmt.Fprintf(w, "%s %d", r.URL.RequestURI(), n)
			}}
			users := e.c.Handler("users", h)
			posts := e.c.Handler("posts", h)
			expect(t, do(t, users, "GET", "/u?id=1&x=y"), httpcache.Miss, "/u?id=1&x=y 1")
			// A HEAD is answered from the stored GET response; one of a URL
			// without a GET response is stored under HEAD.
			expect(t, do(t, users, "HEAD", "/u?id=1&x=y"), httpcache.Hit, "")
			expect(t, do(t, users, "HEAD", "/u?id=3"), httpcache.Miss, "")
			expect(t, do(t, users, "GET", "/u?id=2"), httpcache.Miss, "/u?id=2 3")
			expect(t, do(t, posts, "GET", "/p"), httpcache.Miss, "/p 4")

			// One URL, canonicalised: other order, ignored parameter, host.
			if err := e.c.InvalidateURL(ctx, "users", "GET", "http://example.com/u?x=y&_dc=5&id=1"); err != nil {
				t.Fatal(err)
			}
			expect(t, do(t, users, "GET", "/u?id=1&x=y"), httpcache.Miss, "/u?id=1&x=y 5")
			expect(t, do(t, users, "GET", "/u?id=2"), httpcache.Hit, "/u?id=2 3")
			// GET only: the HEAD response stays.
			if err := e.c.InvalidateURL(ctx, "users", "GET", "/u?id=3"); err != nil {
				t.Fatal(err)
			}
			expect(t, do(t, users, "HEAD", "/u?id=3"), httpcache.Hit, "")

			// Every method.
			if err := e.c.InvalidateURL(ctx, "users", "", "/u?id=3"); err != nil {
				t.Fatal(err)
			}
			expect(t, do(t, users, "HEAD", "/u?id=3"), httpcache.Miss, "")
			if err := e.c.InvalidateURL(ctx, "users", "", "/u?id=1&x=y"); err != nil {
				t.Fatal(err)
			}
			expect(t, do(t, users, "GET", "/u?id=1&x=y"), httpcache.Miss, "/u?id=1&x=y 7")

			// The whole route, and only it.
			if err := e.c.InvalidateRoute(ctx, "users"); err != nil {
				t.Fatal(err)
			}
			expect(t, do(t, users, "GET", "/u?id=1&x=y"), httpcache.Miss, "/u?id=1&x=y 8")
			expect(t, do(t, users, "GET", "/u?id=2"), httpcache.Miss, "/u?id=2 9")
			expect(t, do(t, posts, "GET", "/p"), httpcache.Hit, "/p 4")
		})
	}
}

// TestInvalidateFromAnotherCache checks that invalidation goes through the
// region and its key registry, not through state of the Cache value: a
// second Cache on a second region sharing the backend and the registry (as
// another process would) drops what the first cached.
func TestInvalidateFromAnotherCache(t *testing.T) {
	e := newEnv(t, true, httpcache.Options{})
	r2, err := region.New("http", e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	other, err := httpcache.New(r2, httpcache.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := &counting{}
	srv := e.c.Handler("r", h)
	expect(t, do(t, srv, "GET", "/a"), httpcache.Miss, "/a #1")
	expect(t, do(t, srv, "GET", "/b"), httpcache.Miss, "/b #2")
	if err := other.InvalidateURL(context.Background(), "r", "GET", "/a"); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, srv, "GET", "/a"), httpcache.Miss, "/a #3")
	expect(t, do(t, srv, "GET", "/b"), httpcache.Hit, "/b #2")
	if err := other.InvalidateRoute(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	expect(t, do(t, srv, "GET", "/b"), httpcache.Miss, "/b #4")
}

func TestInvalidateURLErrors(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	for _, u := range []string{"http://[::1", "/p?a=%zz", "/p?a=1;b=2"} {
		if err := e.c.InvalidateURL(context.Background(), "r", "GET", u); !errors.Is(err, httpcache.ErrInvalidURL) {
			t.Errorf("InvalidateURL(%q) = %v, want ErrInvalidURL", u, err)
		}
	}
}

// TestMalformedQueryBypasses checks that a query that does not parse is
// served, uncached.
func TestMalformedQueryBypasses(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	h := &counting{}
	srv := e.c.Handler("bad", h)
	expect(t, do(t, srv, "GET", "/bad?a=%zz"), httpcache.Miss, "/bad #1")
	expect(t, do(t, srv, "GET", "/bad?a=%zz"), httpcache.Miss, "/bad #2")
}

func TestMaxBodyBytes(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{MaxBodyBytes: 6})
	h := &counting{} // bodies "/small #n" are 9 bytes, "/s #n" 4
	srv := e.c.Handler("big", h)
	expect(t, do(t, srv, "GET", "/small"), httpcache.Miss, "/small #1")
	expect(t, do(t, srv, "GET", "/small"), httpcache.Miss, "/small #2")
	expect(t, do(t, srv, "GET", "/s"), httpcache.Miss, "/s #3")
	expect(t, do(t, srv, "GET", "/s"), httpcache.Hit, "/s #3")
}

func TestHandlerSeesContextValues(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	srv := withValue(e.c.Handler("ctx", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := r.Context().Value(ctxKey{}).(string)
		fmt.Fprintf(w, "value=%s", v)
	})), "from-middleware")
	expect(t, do(t, srv, "GET", "/ctx"), httpcache.Miss, "value=from-middleware")
}

func TestStatusHeaderName(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{StatusHeader: "X-Corral"})
	srv := e.c.Handler("n", &counting{})
	do(t, srv, "GET", "/n")
	w := do(t, srv, "GET", "/n")
	if got := w.Header().Get("X-Corral"); got != httpcache.Hit {
		t.Fatalf("X-Corral = %q, want HIT", got)
	}
	if got := w.Header().Get("X-Cache"); got != "" {
		t.Fatalf("X-Cache = %q, want none", got)
	}
}

func TestHandlerPanic(t *testing.T) {
	e := newEnv(t, false, httpcache.Options{})
	srv := e.c.Handler("p", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	got := func() (p any) {
		defer func() { p = recover() }()
		do(t, srv, "GET", "/p")
		return nil
	}()
	var pe *region.PanicError
	err, _ := got.(error)
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("recovered %v, want a *region.PanicError of boom", got)
	}

	abort := e.c.Handler("a", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	got = func() (p any) {
		defer func() { p = recover() }()
		do(t, abort, "GET", "/a")
		return nil
	}()
	if got != http.ErrAbortHandler {
		t.Fatalf("recovered %v, want http.ErrAbortHandler", got)
	}
}

// TestRealServer runs the middleware behind net/http's server, which
// computes Content-Length and drops HEAD bodies itself.
func TestRealServer(t *testing.T) {
	e := newEnv(t, true, httpcache.Options{})
	srv := httptest.NewServer(e.c.Handler("real", &counting{}))
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, want := range []string{httpcache.Miss, httpcache.Hit} {
		resp, err := client.Get(srv.URL + "/real")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Cache"); got != want || string(body) != "/real #1" {
			t.Fatalf("X-Cache %q body %q, want %s and /real #1", got, body, want)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Fatalf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
		}
	}
}
