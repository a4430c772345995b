package corralprom_test

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corralcache/corral/extra/corralprom"
	"github.com/corralcache/corral/region"
)

// A collector registered once and given to every region; the registry
// then has the region's series.
func Example() {
	reg := prometheus.NewRegistry()
	metrics := corralprom.New(corralprom.Options{})
	reg.MustRegister(metrics)

	users, err := region.New("users", region.Config{Observer: metrics})
	if err != nil {
		panic(err)
	}
	defer users.Close()
	ctx := context.Background()
	load := func(context.Context) (string, error) { return "Grace", nil }
	for range 3 {
		_, _ = region.GetOrCreate(ctx, users, "user:1", load) // a miss, then two hits
	}

	families, _ := reg.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "corral_hits_total", "corral_misses_total":
			m := f.GetMetric()[0]
			fmt.Printf("%s{%s=%q} %v\n", f.GetName(), m.GetLabel()[0].GetName(), m.GetLabel()[0].GetValue(), m.GetCounter().GetValue())
		}
	}
	// Output:
	// corral_hits_total{region="users"} 2
	// corral_misses_total{region="users"} 1
}
