package httpcache_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/region"
)

func Example() {
	b, _ := memory.New(memory.Options{})
	defer b.Close()
	r, _ := region.New("pages", region.Config{Backend: b})
	defer r.Close()
	cache, err := httpcache.New(r, httpcache.Options{IgnoreParams: []string{"_dc"}})
	if err != nil {
		panic(err)
	}

	emails := map[string]string{"alice": "alice@example.com"}
	mux := http.NewServeMux()
	mux.Handle("GET /email", cache.Handler("email", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, emails[r.URL.Query().Get("username")])
	})))
	mux.HandleFunc("POST /email", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("username")
		emails[user] = r.FormValue("email")
		// Drop the cached GET (and HEAD) response of that user.
		_ = cache.InvalidateURL(r.Context(), "email", "", "/email?username="+user)
	})

	get := func(target string) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		fmt.Println(w.Header().Get("X-Cache"), w.Body.String())
	}
	get("/email?username=alice")
	get("/email?username=alice&_dc=1700000000")
	post := httptest.NewRequest("POST", "/email?username=alice&email=alice@example.org", nil)
	mux.ServeHTTP(httptest.NewRecorder(), post)
	get("/email?username=alice")
	// Output:
	// MISS alice@example.com
	// HIT alice@example.com
	// MISS alice@example.org
}

// A response can tell this cache one thing and browsers another: with the
// default target list, CDN-Cache-Control sets the policy here, and
// Cache-Control, passed on, is for the browsers. CDN-Cache-Control itself
// is not passed on.
func ExampleOptions_targetedFields() {
	r, _ := region.New("pages", region.Config{})
	defer r.Close()
	cache, err := httpcache.New(r, httpcache.Options{})
	if err != nil {
		panic(err)
	}
	page := cache.Handler("page", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")        // browsers keep nothing
		w.Header().Set("CDN-Cache-Control", "max-age=600") // this cache keeps it ten minutes
		fmt.Fprint(w, "hello")
	}))
	for range 2 {
		w := httptest.NewRecorder()
		page.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		fmt.Printf("%s %s, Cache-Control: %s, CDN-Cache-Control: %q\n", w.Header().Get("X-Cache"), w.Body, w.Header().Get("Cache-Control"), w.Header().Get("CDN-Cache-Control"))
	}
	// Output:
	// MISS hello, Cache-Control: no-store, CDN-Cache-Control: "max-age=600"
	// HIT hello, Cache-Control: no-store, CDN-Cache-Control: "max-age=600"
}
