package workload_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/corralcache/corral/internal/history"
	"github.com/corralcache/corral/internal/history/workload"
	"github.com/corralcache/corral/region"
)

// TestSequentialHistoryPasses runs the workload on one goroutine: with no
// operation overlapping another, the history must pass the checker, whatever
// the consistency bugs of concurrent use. It checks the harness and the
// checker together, and runs without the coherence tag.
func TestSequentialHistoryPasses(t *testing.T) {
	for _, exp := range []time.Duration{0, time.Millisecond} {
		t.Run(exp.String(), func(t *testing.T) {
			r, err := region.New("seq", region.Config{Expiration: exp, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			log := &history.Log{}
			err = workload.Run(t.Context(), workload.Config{
				Region: r, DB: &workload.MemDB{}, Log: log,
				Goroutines: 1, Ops: 2000, Duration: 10 * time.Second, Keys: 2, Seed: 7,
			})
			if err != nil {
				t.Fatal(err)
			}
			ops := log.Ops()
			kinds := map[history.Kind]int{}
			for _, op := range ops {
				if op.Failed() {
					t.Fatalf("operation failed: %+v", op)
				}
				kinds[op.Kind]++
			}
			for _, k := range []history.Kind{history.Read, history.Create, history.DBWrite, history.Invalidate,
				history.Set, history.InvalidateAll, history.Hard, history.Soft, history.Tag} {
				if kinds[k] == 0 {
					t.Errorf("no %s in %d operations: %v", k, len(ops), kinds)
				}
			}
			res, err := history.Check(ops, history.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Violations) > 0 || res.Reads == 0 {
				t.Fatal(res.Report(5))
			}
		})
	}
}

func TestRunRejectsIncompleteConfig(t *testing.T) {
	if err := workload.Run(context.Background(), workload.Config{Keys: 1, Goroutines: 1}); err == nil {
		t.Fatal("Run without a region, database or log succeeded")
	}
}

func TestPartition(t *testing.T) {
	keys := []string{"f/0", "g/0", "f/1", "g/1", "f/2", "g/2", "f/3", "g/3"}
	for _, k := range keys {
		owners := 0
		for p := range 3 {
			if workload.Partition(p, 3)(k) {
				owners++
			}
		}
		if owners != 1 {
			t.Errorf("%s has %d writers among 3 processes, want 1", k, owners)
		}
	}
	var p0 []string
	for _, k := range keys {
		if workload.Partition(0, 3)(k) {
			p0 = append(p0, k)
		}
	}
	if !slices.Equal(p0, []string{"f/0", "g/1", "f/3"}) {
		t.Errorf("process 0 of 3 writes %q, want f/0, g/1, f/3", p0)
	}
}
