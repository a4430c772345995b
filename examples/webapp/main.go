// Command webapp is txcaching's user/email service rebuilt on corral.
//
// GET /email?username=alice reads a deliberately slow store (-delay) through a
// cached function and a cached HTTP response: the first request is slow, the
// next ones are served from the cache (see the X-Cache header). POST /email
// (a form or JSON with username and email) changes the store and drops the
// cached function result and the cached response through the key registry.
//
// On the in-memory default:
//
//	go run ./examples/webapp
//
// On Redis, where several instances share one cache, one store and one key
// registry, so that a write through one instance is seen by all:
//
//	go run ./examples/webapp -redis 127.0.0.1:6379 -addr 127.0.0.1:8080
//	go run ./examples/webapp -redis 127.0.0.1:6379 -addr 127.0.0.1:8081
//
// Then:
//
//	curl -i 'http://127.0.0.1:8080/email?username=alice'
//	curl -d username=alice -d email=alice@example.org http://127.0.0.1:8080/email
//	curl -i 'http://127.0.0.1:8081/email?username=alice'
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
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/examples/webapp/emailapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (loopback by default)")
	redisAddr := flag.String("redis", "", "address of a Redis server to share the cache with other instances, e.g. 127.0.0.1:6379 (default: in-memory)")
	delay := flag.Duration("delay", 2*time.Second, "how long a store lookup takes")
	name := flag.String("name", "", "label for this instance's log lines")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(*addr, *redisAddr, *delay, *name); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

func run(addr, redisAddr string, delay time.Duration, name string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if name != "" {
		log.SetPrefix(name + " ")
	}
	cfg := emailapp.Config{Delay: delay}
	where := "in this process's memory"
	if redisAddr != "" {
		client := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer client.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := client.Ping(pctx).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("cannot reach Redis at %s (%v); start one with: redis-server --port %s", redisAddr, err, portOf(redisAddr))
		}
		cfg.Redis = client
		where = "in Redis at " + redisAddr
	}
	app, err := emailapp.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("serving on http://%s, cache %s, store lookups take %v", ln.Addr(), where, delay)
	log.Printf("try: curl -i 'http://%s/email?username=alice'", ln.Addr())
	log.Printf("     curl -d username=alice -d email=alice@example.org http://%s/email", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Print("shutting down")
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

func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return "6379"
}
