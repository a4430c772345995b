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
