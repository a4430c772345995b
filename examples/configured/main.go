// Command configured is a small service with its cache regions set up in
// one place and their metrics on /metrics, for Prometheus to scrape.
//
//	cd examples/configured && go run .
//	go run . -redis 127.0.0.1:6379   # the regions on Redis, shared by every instance
//	go run . -config my.yaml         # regions from another file (see corral.yaml)
//	CORRAL_REGIONS_USERS_URL=redis://127.0.0.1:6379 go run .   # one field overridden
//
// Then:
//
//	curl http://127.0.0.1:8080/users/1        # slow the first time, cached after
//	curl -X POST -d name=Ada http://127.0.0.1:8080/users/1   # update, and drop the cached copy
//	curl http://127.0.0.1:8080/metrics | grep ^corral_
//
// The regions are declared in corral.yaml (built into the binary) and made
// by package config in openRegions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corralcache/corral/extra/corralprom"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (loopback by default)")
	redisAddr := flag.String("redis", "", "Redis server for every region: host:port or a redis:// URL (default: the configuration's URLs)")
	configFile := flag.String("config", "", "YAML file declaring the regions (default: the built-in corral.yaml)")
	delay := flag.Duration("delay", 500*time.Millisecond, "how long a user lookup in the store takes")
	flag.Parse()
	if err := run(*addr, *configFile, *redisAddr, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "configured:", err)
		os.Exit(1)
	}
}

func run(addr, configFile, redisAddr string, delay time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// One collector for every region, registered once.
	reg := prometheus.NewRegistry()
	metrics := corralprom.New(corralprom.Options{})
	reg.MustRegister(metrics)

	var redisURL string
	if redisAddr != "" {
		redisURL = redisAddr
		if !strings.Contains(redisURL, "://") {
			redisURL = "redis://" + redisURL
		}
	}
	regions, err := openRegions(ctx, Settings{ConfigFile: configFile, Observer: metrics, RedisURL: redisURL})
	if err != nil {
		return err
	}
	defer regions.Close()

	h, err := newHandler(regions, newStore(delay), reg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("serving on http://%s (regions: %s); try:", ln.Addr(), describe(regions))
	log.Printf("  curl http://%s/users/1", ln.Addr())
	log.Printf("  curl http://%s/metrics | grep ^corral_", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
