package corralprom_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/corralcache/corral/extra/corralprom"
	"github.com/corralcache/corral/observe"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type dashPanel struct {
	Title   string      `json:"title"`
	Type    string      `json:"type"`
	Panels  []dashPanel `json:"panels"` // of a collapsed row
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// exported returns the series names a Collector exports, as PromQL names
// them (a histogram as its _bucket, _sum and _count), each with the labels
// it has.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	c := corralprom.New(corralprom.Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	o := c.ObserveRegion("users")
	o.Timing(observe.TimingBackend, observe.OpGet, time.Millisecond) // the backend histogram's series appear with a first operation
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{}
	for _, f := range families {
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			names[f.GetName()+"_bucket"] = append(slices.Clone(labels), "le")
			names[f.GetName()+"_sum"] = labels
			names[f.GetName()+"_count"] = labels
			continue
		}
		names[f.GetName()] = labels
	}
	return names
}

var (
	metricName = regexp.MustCompile(`\bcorral_[a-zA-Z0-9_:]+`)
	// selector is a metric name with its label matchers.
	selector = regexp.MustCompile(`\b(corral_[a-zA-Z0-9_:]+)\s*\{([^}]*)\}`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	grouping = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// TestDashboard parses dashboard.json, the Grafana dashboard beside the
// collector, and checks every PromQL expression in it against the series a
// Collector exports: a metric or label renamed in the collector breaks this
// test, not the dashboard. It also checks that the panels the dashboard
// promises are there, that every exported series appears in some panel,
// and that the expressions' brackets balance.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	names := exported(t)
	used := map[string]bool{}
	var exprs []string
	titles := map[string]bool{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			titles[p.Title] = true
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
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
	for _, e := range exprs {
		if len(metricName.FindAllString(e, -1)) == 0 {
			t.Errorf("%q names no corral metric", e)
		}
		for _, m := range metricName.FindAllString(e, -1) {
			if _, ok := names[m]; !ok {
				t.Errorf("%q: the collector exports no %s", e, m)
			}
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] = true
		}
		for _, sel := range selector.FindAllStringSubmatch(e, -1) {
			for _, l := range matcher.FindAllStringSubmatch(sel[2], -1) {
				if !slices.Contains(names[sel[1]], l[1]) {
					t.Errorf("%q: %s has no label %q (it has %v)", e, sel[1], l[1], names[sel[1]])
				}
			}
		}
		for _, g := range grouping.FindAllStringSubmatch(e, -1) {
			for _, l := range strings.Split(g[1], ",") {
				l = strings.TrimSpace(l)
				ok := false
				for _, m := range metricName.FindAllString(e, -1) {
					ok = ok || slices.Contains(names[m], l)
				}
				if !ok {
					t.Errorf("%q: grouping by %q, a label none of its metrics has", e, l)
				}
			}
		}
		if !balanced(e) {
			t.Errorf("%q: brackets do not balance", e)
		}
	}
	for n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !used[base] {
			t.Errorf("the collector exports %s, which no panel shows: add it to dashboard.json", base)
		}
	}
	for _, want := range []string{"Hit ratio per region", "Creator latency", "Lock waits and timeouts", "Stale served", "Breaker state",
		"Near-cache hits", "Near-cache flushes", "Superseded and not cached"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// balanced reports whether the (), [] and {} of a PromQL expression pair
// up, outside its string literals.
func balanced(e string) bool {
	var stack []rune
	var quote rune
	for _, c := range e {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case c == ')' || c == ']' || c == '}':
			open := map[rune]rune{')': '(', ']': '[', '}': '{'}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0 && quote == 0
}

// TestDocsListEveryMetric checks that the package overview, and
// docs/observability.md in a checkout of the repository, name every series
// a Collector exports.
func TestDocsListEveryMetric(t *testing.T) {
	src, err := os.ReadFile("corralprom.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{"corralprom.go": string(src)}
	if md, err := os.ReadFile("../../docs/observability.md"); err == nil {
		docs["docs/observability.md"] = string(md)
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	} else {
		t.Log("docs/observability.md not found: not in a checkout of the repository")
	}
	for n := range exported(t) {
		if strings.HasSuffix(n, "_sum") || strings.HasSuffix(n, "_count") {
			continue
		}
		n = strings.TrimSuffix(n, "_bucket")
		for file, text := range docs {
			if !regexp.MustCompile(`\b` + n + `\b`).MatchString(text) {
				t.Errorf("%s does not name %s", file, n)
			}
		}
	}
}
