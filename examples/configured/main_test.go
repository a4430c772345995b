package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
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
	// Every metric the Grafana dashboard of extra/corralprom queries is
	// served here, so the dashboard shows the example as it runs: a metric
	// the example does not export fails this test. Every counter, gauge and
	// creator or lock-wait histogram is exported from New on (at zero); the
	// backend histogram appears with the first backend operation, which the
	// regions make because corral.yaml keeps their values as bytes.
	exported := map[string]bool{}
	for s := range series {
		if strings.HasPrefix(s, "#") {
			continue
		}
		name, _, _ := strings.Cut(s, "{")
		name, _, _ = strings.Cut(name, " ")
		exported[name] = true
	}
	for _, name := range dashboardMetrics(t, "../../extra/corralprom/dashboard.json") {
		if !exported[name] {
			t.Errorf("the dashboard queries %s, which /metrics does not serve", name)
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

// dashboardPanel is the part of a Grafana panel dashboardMetrics reads.
type dashboardPanel struct {
	Panels  []dashboardPanel `json:"panels"` // of a collapsed row
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// dashboardMetrics returns the corral metric names the PromQL queries of
// the dashboard in file name, in its panels and its variables (a
// histogram as its _bucket, _sum or _count series).
func dashboardMetrics(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var exprs []string
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	var names []string
	for _, e := range exprs {
		names = append(names, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		t.Fatalf("%s: no corral metric in its queries", file)
	}
	return names
}

var metricName = regexp.MustCompile(`\bcorral_[a-zA-Z0-9_:]+`)
