package emailapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// Route is the httpcache route of GET /email.
const Route = "email"

// StoreKey is the Redis hash that holds the store's data on Redis.
const StoreKey = "webapp:db:emails"

// Config configures an App.
type Config struct {
	// Name labels the instance in log lines, e.g. "A"; may be empty.
	Name string
	// Delay is how long a store lookup takes.
	Delay time.Duration
	// Redis, when set, holds the store's data, the cache, the dogpile locks
	// and the key registry, shared with every instance that uses the same
	// server. The caller keeps ownership of the client. Nil: everything
	// lives in this process's memory.
	Redis redis.UniversalClient
	// Expiration is how long cached results stay fresh. Default: 10 minutes.
	Expiration time.Duration
	// Log receives the plain-words account of what happens. Default:
	// log.Default().
	Log *log.Logger
}

// App is the email service. Create it with New and Close it when done.
type App struct {
	cfg     Config
	store   Store
	backend backend.Backend
	mem     *memory.Backend // the in-memory backend, which Close closes
	region  *region.Region
	emailOf *region.Func1[string, string] // the cached Store.Email
	pages   *httpcache.Cache
}

// New builds the service. On Redis it seeds the store's missing users.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Log == nil {
		cfg.Log = log.Default()
	}
	if cfg.Expiration == 0 {
		cfg.Expiration = 10 * time.Minute
	}
	a := &App{cfg: cfg}
	rc := region.Config{
		Expiration: cfg.Expiration,
		Logger:     slog.New(slog.NewTextHandler(cfg.Log.Writer(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if cfg.Redis == nil {
		b, err := memory.New(memory.Options{})
		if err != nil {
			return nil, err
		}
		a.backend, a.mem = b, b
		a.store = newMemoryStore(cfg.Delay, a.logf)
	} else {
		var err error
		if a.store, err = newRedisStore(ctx, cfg.Redis, StoreKey, cfg.Delay, a.logf); err != nil {
			return nil, err
		}
		if a.backend, err = redisstore.New(cfg.Redis, redisstore.Options{}); err != nil {
			return nil, err
		}
		if rc.Locker, err = redislocker.New(cfg.Redis, redislocker.Options{}); err != nil {
			return nil, err
		}
		if rc.Registry, err = redisreg.New(cfg.Redis, redisreg.Options{}); err != nil {
			return nil, err
		}
	}
	rc.Backend = a.backend
	r, err := region.New("webapp", rc)
	if err != nil {
		if a.mem != nil {
			_ = a.mem.Close()
		}
		return nil, err
	}
	a.region = r
	// The cached function: its results are filed in the key registry under
	// "store.Email", so a write can drop the result for one user.
	if a.emailOf, err = region.Cache1(r, a.store.Email, region.Named("store.Email")); err != nil {
		_ = a.Close()
		return nil, err
	}
	if a.pages, err = httpcache.New(r, httpcache.Options{IgnoreParams: []string{"_dc"}, Expiration: cfg.Expiration}); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

// Close stops the page cache's background revalidations, and closes the
// region and the backend. The Redis client stays open.
func (a *App) Close() error {
	var err error
	if a.pages != nil {
		err = a.pages.Close()
	}
	err = errors.Join(err, a.region.Close())
	if a.mem != nil {
		err = errors.Join(err, a.mem.Close())
	}
	return err
}

func (a *App) logf(format string, args ...any) {
	if a.cfg.Name != "" {
		format = a.cfg.Name + ": " + format
	}
	a.cfg.Log.Printf(format, args...)
}

// Handler returns the service's routes, with a log line per request.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /email", a.pages.Handler(Route, http.HandlerFunc(a.getEmail)))
	mux.HandleFunc("POST /email", a.postEmail)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "GET /email?username=alice\nPOST /email username=alice email=alice@example.org\n")
	})
	return a.logRequests(mux)
}

// user is the JSON body of responses and of JSON requests.
type user struct {
	Username string `json:"username"`
	Email    string `json:"email"`
}

func (a *App) getEmail(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("username")
	if name == "" {
		http.Error(w, "username is required", http.StatusBadRequest)
		return
	}
	email, err := a.emailOf.Call(r.Context(), name)
	switch {
	case errors.Is(err, ErrNoUser):
		http.Error(w, "no such user", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, user{Username: name, Email: email})
}

func (a *App) postEmail(w http.ResponseWriter, r *http.Request) {
	u, err := readUser(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	if err := a.store.SetEmail(ctx, u.Username, u.Email); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The data changed: drop the cached result of store.Email(username) and
	// the cached GET /email?username=… responses, in every instance.
	page := "/email?username=" + url.QueryEscape(u.Username)
	if err := errors.Join(
		a.emailOf.Invalidate(ctx, u.Username),
		a.pages.InvalidateURL(ctx, Route, "", page),
	); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.logf("cache: dropped store.Email(%s) and the cached %s", u.Username, page)
	writeJSON(w, u)
}

// readUser reads username and email from a JSON body or a form.
func readUser(w http.ResponseWriter, r *http.Request) (user, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var u user
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
			return u, fmt.Errorf("bad JSON: %w", err)
		}
	} else {
		u.Username, u.Email = r.FormValue("username"), r.FormValue("email")
	}
	switch {
	case u.Username == "":
		return u, errors.New("username is required")
	case !strings.Contains(u.Email, "@"):
		return u, fmt.Errorf("email %q is not an address", u.Email)
	}
	return u, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// statusWriter remembers the status a handler wrote, for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// logRequests logs each request with its status, cache state and duration.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		state := w.Header().Get(httpcache.DefaultStatusHeader)
		if state != "" {
			state = " " + state
		}
		a.logf("%s %s -> %d%s in %v", r.Method, r.URL.RequestURI(), sw.status, state, time.Since(start).Round(time.Millisecond))
	})
}
