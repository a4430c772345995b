package region_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/corralcache/corral/internal/history"
	"github.com/corralcache/corral/internal/history/workload"
	"github.com/corralcache/corral/region"
)

var historySeed = flag.Uint64("history.seed", 1, "seed of the randomized coherence test's operations")

// TestHistoryInProcess runs goroutines that read, write the database and
// invalidate a few keys at random through one region, and checks the
// history: no read that began after a completed invalidation (or
// write-through) of its key returns a version older than the database held
// when it began. One process: no lag is allowed.
func TestHistoryInProcess(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkGoroutines(t)
			r := newRegion(t, region.Config{
				Backend:    newMemory(t, m.serialize),
				Expiration: 20 * time.Millisecond, // stale values, served while one regenerates
				LockWait:   5 * time.Second,
			})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			log := &history.Log{}
			start := time.Now()
			err := workload.Run(ctx, workload.Config{
				Region: r, DB: &workload.MemDB{}, Log: log,
				Goroutines: 8, Ops: 400, Duration: 3 * time.Second,
				Keys: 4, Seed: *historySeed, MaxDelay: 2 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			checkHistory(t, log.Ops(), history.Options{})
			t.Logf("seed %d, %d operations in %v", *historySeed, len(log.Ops()), time.Since(start).Round(time.Millisecond))
		})
	}
}

// checkHistory fails the test when ops break the rule or too many of them
// failed to judge much.
func checkHistory(t *testing.T, ops []history.Op, o history.Options) {
	t.Helper()
	res, err := history.Check(ops, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) > len(ops)/100 {
		t.Errorf("%d of %d operations failed; the first: %+v", len(res.Failed), len(ops), res.Failed[0])
	}
	if len(res.Violations) > 0 {
		t.Errorf("seed %d (-args -history.seed=N replays the operations, not their interleaving): %s",
			*historySeed, res.Report(3))
	}
}
