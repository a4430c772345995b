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
	incr  func(ctx context.Context, key string) (int64, error)
	close func()
}

// setup connects to the servers at o's addresses and returns the stack on
// them.
type setup func(ctx context.Context, o options) (*stack, error)

// backends lists the backends a worker can run on, by -backend name. Each
// lives in its own file; add a line here for a new one.
func backends() map[string]setup {
	return map[string]setup{
		"redis":     setupRedis,
		"cluster":   setupRedisCluster,
		"memcached": setupMemcached,
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
	start                        int64
	verbose                      bool
}

func main() {
	var o options
	flag.StringVar(&o.backend, "backend", "redis", "backend: "+strings.Join(slices.Sorted(maps.Keys(backends())), ", "))
	flag.StringVar(&o.addrs, "addrs", "", "comma-separated server addresses")
	flag.StringVar(&o.mode, "mode", "stampede", "stampede or serve")
	flag.StringVar(&o.region, "region", "worker", "region name")
	flag.StringVar(&o.key, "key", "k", "stampede: the key")
	flag.StringVar(&o.counter, "counter", "creations", "stampede: the server-side counter the creator increments")
	flag.IntVar(&o.goroutines, "goroutines", 100, "stampede: concurrent callers")
	flag.DurationVar(&o.sleep, "sleep", 200*time.Millisecond, "how long the creator takes")
	flag.DurationVar(&o.lockTTL, "lockttl", time.Second, "region LockTTL")
	flag.DurationVar(&o.lockWait, "lockwait", 20*time.Second, "region LockWait")
	flag.DurationVar(&o.expiration, "expiration", time.Minute, "region Expiration")
	flag.DurationVar(&o.refresh, "refresh", 100*time.Millisecond, "region InvalidationRefresh")
	flag.DurationVar(&o.regCacheFor, "regcache", 0, "memcached: the registry's CacheFor (0: its default, negative: never cache)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "exit after this long")
	flag.Int64Var(&o.start, "start", 0, "stampede: Unix milliseconds at which the callers start")
	flag.BoolVar(&o.verbose, "v", false, "log the region's warnings to stderr")
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
	}
	return fmt.Errorf("unknown mode %q", o.mode)
}
