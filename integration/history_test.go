package integration_test

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/internal/history"
)

var historySeed = flag.Uint64("history.seed", 1, "seed of the randomized coherence test's operations")

// The multi-process coherence test's settings.
const (
	historyProcs      = 3
	historyGoroutines = 6
	historyOps        = 250                    // per goroutine, at most
	historyDuration   = 6 * time.Second        // per process, at most
	historyRefresh    = 100 * time.Millisecond // the workers' InvalidationRefresh
	// historyPushLag is how long after an invalidation or write-through of
	// a key completes a near cache on Redis may still serve the older
	// version in another process: the push of the change (about a round
	// trip), with room for a busy machine. Without a near cache there is
	// no lag at all: a read that begins after a write of its key completed,
	// in any process, never returns the older version.
	historyPushLag = 50 * time.Millisecond
)

// historySkews are the workers' clock offsets, by process, as on machines
// whose clocks disagree: nothing in the rule may depend on clocks agreeing.
var historySkews = [historyProcs]time.Duration{0, -200 * time.Millisecond, 200 * time.Millisecond}

// historyBounds are the stated cross-process visibility bounds the history
// is checked with. The invalidating process itself gets none.
var historyBounds = history.Options{RemoteLag: map[history.Kind]time.Duration{
	// Per-key writes and deletes: none (the map's zero). Region-wide ones:
	// Config.InvalidationRefresh — other processes read the region's and
	// the cached functions' generations again at most this often — and
	// the time a read or creation that began before the refresh takes.
	history.InvalidateAll: historyRefresh + historyPushLag,
	history.Hard:          historyRefresh + historyPushLag,
	history.Tag:           historyRefresh + historyPushLag,
}}

// TestHistoryMultiProcess runs the coherence workload in 3 worker processes
// at once against each backend, with the fake database on the same servers
// and the processes' clocks set apart (historySkews), and checks their merged
// history (see internal/history) against historyBounds. Every process times
// its operations with the machine's monotonic clock (history.Now), which
// they all share; the skew applies to the regions' clocks only.
func TestHistoryMultiProcess(t *testing.T) { forEachBackend(t, testHistory) }

// TestHistoryMultiProcessNear is TestHistoryMultiProcess with a near cache
// in every worker. Another process's copy may be served for the stated
// near bound after a write: the push (historyPushLag) on Redis,
// MaxStaleness (historyNearStale) on memcached.
func TestHistoryMultiProcessNear(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tg target) {
		bounds := history.Options{RemoteLag: maps.Clone(historyBounds.RemoteLag)}
		args := []string{"-near", "1000"}
		lag := historyPushLag
		if strings.HasPrefix(tg.backend, "memcached") {
			args = append(args, "-nearstale", historyNearStale.String())
			lag = historyNearStale
		}
		for _, k := range []history.Kind{history.Invalidate, history.Set, history.InvalidateAll, history.Hard, history.Tag} {
			bounds.RemoteLag[k] += lag
		}
		testHistoryWith(t, tg, bounds, args...)
	})
}

// historyNearStale is the near cache's MaxStaleness on memcached.
const historyNearStale = 20 * time.Millisecond

func testHistory(t *testing.T, tg target) { testHistoryWith(t, tg, historyBounds) }

func testHistoryWith(t *testing.T, tg target, bounds history.Options, extra ...string) {
	start := time.Now()
	ops := runHistoryWorkers(t, tg, extra...)
	res, err := history.Check(ops, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) > len(ops)/100 {
		t.Errorf("%d of %d operations failed; the first: %+v", len(res.Failed), len(ops), res.Failed[0])
	}
	if len(res.Violations) > 0 {
		t.Errorf("seed %d (-args -history.seed=N replays the operations, not their interleaving): %s",
			*historySeed, res.Report(4))
	}
	t.Logf("seed %d, %d operations of %d processes in %v", *historySeed, len(ops), historyProcs, time.Since(start).Round(time.Millisecond))
}

// runHistoryWorkers runs the workers in history mode, all starting at the
// same moment, and returns their operations.
func runHistoryWorkers(t *testing.T, tg target, extra ...string) []history.Op {
	t.Helper()
	startAt := time.Now().Add(1500 * time.Millisecond).UnixMilli()
	type out struct {
		ops []history.Op
		err error
	}
	done := make(chan out, historyProcs)
	for p := range historyProcs {
		cmd := workerCmd(t, append(tg.args(
			"-mode", "history", "-region", "hist", "-timeout", "30s",
			"-start", fmt.Sprint(startAt), "-proc", fmt.Sprint(p), "-procs", fmt.Sprint(historyProcs),
			"-seed", fmt.Sprint(*historySeed), "-goroutines", fmt.Sprint(historyGoroutines),
			"-ops", fmt.Sprint(historyOps), "-duration", historyDuration.String(), "-keys", "4",
			"-sleep", "2ms", "-refresh", historyRefresh.String(), "-lockwait", "5s",
			"-skew", historySkews[p].String(),
		), extra...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			var o out
			if err := cmd.Wait(); err != nil {
				o.err = fmt.Errorf("worker %d: %v\n%s", p, err, stderr.Bytes())
			} else if o.ops, err = history.Decode(&stdout); err != nil {
				o.err = fmt.Errorf("worker %d: %v", p, err)
			}
			done <- o
		}()
	}
	var ops []history.Op
	timeout := time.After(40 * time.Second)
	for range historyProcs {
		select {
		case o := <-done:
			if o.err != nil {
				t.Fatal(o.err)
			}
			ops = append(ops, o.ops...)
		case <-timeout:
			t.Fatal("history workers did not finish within 40s")
		}
	}
	return ops
}
