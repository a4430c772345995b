package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/region"
)

// User is what the store keeps.
type User struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// store is a deliberately slow database of users.
type store struct {
	delay time.Duration
	mu    sync.Mutex // protects users
	users map[int]User
}

func newStore(delay time.Duration) *store {
	return &store{delay: delay, users: map[int]User{1: {1, "Grace"}, 2: {2, "Alan"}}}
}

func (s *store) Load(ctx context.Context, id int) (User, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, fmt.Errorf("user %d: not found", id)
	}
	return u, nil
}

func (s *store) Save(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// newHandler serves the API on regions and the metrics gathered by g:
//
//	GET  /users/{id}   the user, through a cached function of the "users" region
//	POST /users/{id}   name=...: update the user, and drop its cached copy
//	GET  /metrics      the Prometheus metrics
func newHandler(regions *config.Regions, db *store, g prometheus.Gatherer) (http.Handler, error) {
	users, err := regions.Region("users")
	if err != nil {
		return nil, err
	}
	getUser, err := region.Cache1(users, db.Load, region.Named("store.Load"))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.Atoi(req.PathValue("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		u, err := getUser.Call(req.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u)
	})
	mux.HandleFunc("POST /users/{id}", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.Atoi(req.PathValue("id"))
		if err != nil || req.FormValue("name") == "" {
			http.Error(w, "want /users/{id} and a name", http.StatusBadRequest)
			return
		}
		db.Save(User{ID: id, Name: req.FormValue("name")})
		if err := getUser.Invalidate(req.Context(), id); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return mux, nil
}
