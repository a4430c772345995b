// Command worker is one process of corral's multi-process integration tests.
// The tests build it once and run several copies against the same servers,
// to check what a single process cannot: that the dogpile lock, the key
// registry and region-wide invalidation hold across processes.
//
// Modes:
//
//	-mode stampede  -goroutines N -key K -counter C -sleep D
//	    N goroutines call GetOrCreate(K) together (at -start, a Unix time in
//	    milliseconds, when given); the creator INCRs C on the server, sleeps D
//	    and returns "v<count>". Prints one JSON stampedeResult and exits.
//	-mode serve
//	    Reads commands from stdin, one per line, and prints one JSON reply per
//	    command (see serve.go). Exits on "quit" or end of input.
//	-mode history -proc P -procs N -seed S -goroutines G -ops O -duration D -keys K -sleep D
//	    Runs the coherence workload (internal/history/workload) as process P
//	    of N on a fake database of counters on the servers, from -start, with
//	    creators sleeping up to -sleep around their database read; stops
//	    after O operations per goroutine or D. Prints its operations as JSON
//	    lines (internal/history) and exits.
//
// -backend picks the servers: redis, cluster (Redis Cluster) or memcached.
// Every process exits after -timeout, whatever it is doing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/corralcache/corral/region"
)

// stack is what a backend gives a worker: the region's Backend, Locker and
// Registry (in cfg), and a server-side counter.
type stack struct {
	cfg region.Config
	// incr adds one to the counter key on the server and returns its value.
	incr func(ctx context.Context, key string) (int64, error)
	// get returns the counter key's value (0 when missing).
	get   func(ctx context.Context, key string) (int64, error)
	close func()
}

// setup connects to the servers at o's addresses and returns the stack on
// them.
type setup func(ctx context.Context, o options) (*stack, error)

// backends lists the backends a worker can run on, by -backend name. Each
// lives in its own file; add a line here for a new one.
func backends() map[string]setup {
	return map[string]setup{
		"redis":          setupRedis,
		"cluster":        setupRedisCluster,
		"memcached":      setupMemcached,
		"memcached-meta": setupMemcachedMeta,
	}
}

// options are the command-line flags.
type options struct {
	backend, addrs, mode, region string
	key, counter                 string
	goroutines                   int
	sleep, lockTTL, lockWait     time.Duration
	expiration, refresh, timeout time.Duration
	regCacheFor                  time.Duration
	near                         int           // the near cache's MaxEntries (0: none)
	nearStale                    time.Duration // its MaxStaleness
	start                        int64
	verbose                      bool
	// history mode
	proc, procs, ops, keys int
	seed                   uint64
	duration, skew         time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.backend, "backend", "redis", "backend: "+strings.Join(slices.Sorted(maps.Keys(backends())), ", "))
	flag.StringVar(&o.addrs, "addrs", "", "comma-separated server addresses")
	flag.StringVar(&o.mode, "mode", "stampede", "stampede, serve or history")
	flag.StringVar(&o.region, "region", "worker", "region name")
	flag.StringVar(&o.key, "key", "k", "stampede: the key")
	flag.StringVar(&o.counter, "counter", "creations", "stampede: the server-side counter the creator increments")
	flag.IntVar(&o.goroutines, "goroutines", 100, "stampede, history: concurrent callers")
	flag.DurationVar(&o.sleep, "sleep", 200*time.Millisecond, "how long the creator takes")
	flag.DurationVar(&o.lockTTL, "lockttl", time.Second, "region LockTTL")
	flag.DurationVar(&o.lockWait, "lockwait", 20*time.Second, "region LockWait")
	flag.DurationVar(&o.expiration, "expiration", time.Minute, "region Expiration")
	flag.DurationVar(&o.refresh, "refresh", 100*time.Millisecond, "region InvalidationRefresh")
	flag.DurationVar(&o.regCacheFor, "regcache", 0, "memcached: the registry's CacheFor (0: its default, negative: never cache)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "exit after this long")
	flag.Int64Var(&o.start, "start", 0, "stampede: Unix milliseconds at which the callers start")
	flag.BoolVar(&o.verbose, "v", false, "log the region's warnings to stderr")
	flag.IntVar(&o.proc, "proc", 0, "history: this process's number, from 0")
	flag.IntVar(&o.procs, "procs", 1, "history: the number of processes, which write disjoint keys")
	flag.IntVar(&o.ops, "ops", 200, "history: operations per goroutine at most")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "history: run for this long at most")
	flag.IntVar(&o.keys, "keys", 4, "history: keys of each family (cached function, GetOrCreate)")
	flag.Uint64Var(&o.seed, "seed", 1, "history: the random operations' seed")
	flag.DurationVar(&o.skew, "skew", 0, "move the region's clock by this much, as on another machine")
	flag.IntVar(&o.near, "near", 0, "the region's near cache: MaxEntries (0: none)")
	flag.DurationVar(&o.nearStale, "nearstale", 0, "the near cache's MaxStaleness (0: its default)")
	flag.Parse()
	if err := run(o, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// addrList returns the -addrs flag as a list.
func (o options) addrList() []string { return strings.Split(o.addrs, ",") }

func run(o options, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(o.timeout, func() {
		fmt.Fprintln(os.Stderr, "worker: timed out after", o.timeout)
		os.Exit(3)
	})
	mk, ok := backends()[o.backend]
	if !ok {
		return fmt.Errorf("unknown backend %q", o.backend)
	}
	st, err := mk(ctx, o)
	if err != nil {
		return err
	}
	defer st.close()
	cfg := st.cfg
	cfg.LockTTL, cfg.LockWait = o.lockTTL, o.lockWait
	cfg.Expiration, cfg.InvalidationRefresh = o.expiration, o.refresh
	cfg.Near = region.NearConfig{MaxEntries: o.near, MaxStaleness: o.nearStale}
	if o.skew != 0 {
		cfg.Clock = skewedClock{o.skew}
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	if o.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	r, err := region.New(o.region, cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	enc := json.NewEncoder(out)
	switch o.mode {
	case "stampede":
		return enc.Encode(stampede(ctx, r, st, o))
	case "serve":
		return serve(ctx, r, st, o, in, enc)
	case "history":
		return runHistory(ctx, r, st, o, out)
	}
	return fmt.Errorf("unknown mode %q", o.mode)
}
