package emailapp_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corralcache/corral/examples/webapp/emailapp"
)

func newApp(t *testing.T) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	app, err := emailapp.New(context.Background(), emailapp.Config{Log: log.New(&logs, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	return app.Handler(), &logs
}

func serve(t *testing.T, h http.Handler, method, target, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestGetPost(t *testing.T) {
	h, logs := newApp(t)
	steps := []struct {
		name, method, target, ctype, body string
		status                            int
		cache, want                       string
	}{
		{"first read", "GET", "/email?username=alice", "", "", 200, "MISS", `"email":"alice@example.com"`},
		{"cached read", "GET", "/email?username=alice&_dc=1", "", "", 200, "HIT", `"email":"alice@example.com"`},
		{"form write", "POST", "/email", "application/x-www-form-urlencoded", "username=alice&email=a@example.org", 200, "", `"email":"a@example.org"`},
		{"read after write", "GET", "/email?username=alice", "", "", 200, "MISS", `"email":"a@example.org"`},
		{"JSON write", "POST", "/email", "application/json", `{"username":"alice","email":"a@example.net"}`, 200, "", `"email":"a@example.net"`},
		{"read after JSON write", "GET", "/email?username=alice", "", "", 200, "MISS", `"email":"a@example.net"`},
		{"read again", "GET", "/email?username=alice", "", "", 200, "HIT", `"email":"a@example.net"`},
		{"unknown user", "GET", "/email?username=zed", "", "", 404, "MISS", "no such user"},
		{"no username", "GET", "/email", "", "", 400, "MISS", "username is required"},
		{"bad email", "POST", "/email", "application/x-www-form-urlencoded", "username=alice&email=nope", 400, "", "not an address"},
		{"bad JSON", "POST", "/email", "application/json", `{`, 400, "", "bad JSON"},
	}
	for _, s := range steps {
		w := serve(t, h, s.method, s.target, s.ctype, s.body)
		body, _ := io.ReadAll(w.Body)
		if w.Code != s.status || w.Header().Get("X-Cache") != s.cache || !strings.Contains(string(body), s.want) {
			t.Fatalf("%s: %d %q %q; want %d %q and a body with %q", s.name, w.Code, w.Header().Get("X-Cache"), body, s.status, s.cache, s.want)
		}
	}
	if n := strings.Count(logs.String(), "store: slow lookup for alice"); n != 3 {
		t.Fatalf("store looked alice up %d times, want 3:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "cache: dropped store.Email(alice) and the cached /email?username=alice") {
		t.Fatalf("no invalidation in the log:\n%s", logs)
	}
}
