package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corralcache/corral/extra/corralprom"
)

// TestMetricsEndpoint starts the example's handler on its regions (in
// memory), makes a few requests, scrapes /metrics and checks the corral
// series: two users read (two misses), one read again (a hit), one
// updated (its copy dropped) and read again (a third miss).
func TestMetricsEndpoint(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	metrics := corralprom.New(corralprom.Options{})
	reg.MustRegister(metrics)
	regions, err := openRegions(ctx, Settings{Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	defer regions.Close()
	h, err := newHandler(regions, newStore(0), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", path, resp.Status, body)
		}
		return string(body)
	}
	get("/users/1")
	get("/users/1")
	get("/users/2")
	resp, err := http.PostForm(srv.URL+"/users/1", url.Values{"name": {"Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /users/1: %s", resp.Status)
	}
	if body := get("/users/1"); !strings.Contains(body, "Ada") {
		t.Fatalf("GET /users/1 after the update = %s, want Ada", body)
	}

	series := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(get("/metrics")))
	for sc.Scan() {
		series[sc.Text()] = true
	}
	for _, want := range []string{
		`corral_hits_total{region="users"} 1`,
		`corral_misses_total{region="users"} 3`,
		`corral_regenerations_total{region="users"} 3`,
		`corral_creator_duration_seconds_count{region="users"} 3`,
		`corral_breaker_state{region="users"} 0`,
		`corral_hits_total{region="sessions"} 0`,
		`corral_lock_wait_timeouts_total{region="users"} 0`,
	} {
		if !series[want] {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		for s := range series {
			if strings.HasPrefix(s, "corral_") && !strings.Contains(s, "_bucket") {
				t.Log(s)
			}
		}
	}
}
