// Command conformanceproxy is the cache that scripts/httpcache-conformance.sh
// measures: a reverse proxy to one origin on the loopback interface, wrapped
// in an httpcache.Cache on a default in-memory region. It prints the address
// it listens on as its first line of output, and serves until interrupted.
//
// It refuses any address that is not a loopback one: the suite's traffic
// never leaves the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/corralcache/corral/httpcache"
	"github.com/corralcache/corral/region"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "conformanceproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	origin := flag.String("origin", "", "loopback URL of the origin, e.g. http://127.0.0.1:8000")
	targets := flag.String("targets", "", "Options.TargetedFields, comma-separated (default: the Cache's default, CDN-Cache-Control)")
	strip := flag.Bool("strip-targeted", false, "Options.StripTargetedField: remove the targeted field used before the client")
	verbose := flag.Bool("v", false, "log the cache's warnings to standard error")
	flag.Parse()

	target, err := url.Parse(*origin)
	if err != nil || target.Host == "" {
		return fmt.Errorf("-origin %q: want a URL such as http://127.0.0.1:8000", *origin)
	}
	if !loopback(target.Hostname()) {
		return fmt.Errorf("-origin %q is not on the loopback interface", *origin)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !loopback(host) {
		return fmt.Errorf("-listen %q is not a loopback address", *listen)
	}

	r, err := region.New("conformance", region.Config{})
	if err != nil {
		return err
	}
	defer r.Close()
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	o := httpcache.Options{Expiration: time.Minute, StripTargetedField: *strip, Logger: logger}
	if *targets != "" {
		o.TargetedFields = strings.Split(*targets, ",")
	}
	cache, err := httpcache.New(r, o)
	if err != nil {
		return err
	}
	defer cache.Close()

	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: cache.Handler("suite", proxy), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// loopback reports whether host names or is an address of the loopback
// interface.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
