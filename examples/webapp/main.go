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
// -redis also takes a full URL, with a user, a password, a database and
// redisstore.NewClient's options (the password never appears in the logs):
//
//	go run ./examples/webapp -redis 'redis://user:pass@127.0.0.1:6379/0?read_timeout=500ms'
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
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/examples/webapp/emailapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (loopback by default)")
	redisAddr := flag.String("redis", "", "Redis server to share the cache with other instances: host:port or a URL, e.g. 127.0.0.1:6379 or redis://user:pass@127.0.0.1:6379/0 (default: in-memory)")
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
		rawURL := redisURL(redisAddr)
		client, err := redisstore.NewClient(rawURL)
		if err != nil {
			return err // redisstore's errors never show the password
		}
		defer client.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = client.Ping(pctx).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("cannot reach Redis at %s (%v); start one with: redis-server --port %s", redisstore.RedactURL(rawURL), err, portOf(rawURL))
		}
		cfg.Redis = client
		where = "in Redis at " + redisstore.RedactURL(rawURL)
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

// redisURL returns the URL of a -redis flag: a URL as is, host:port as
// redis://host:port.
func redisURL(flag string) string {
	if strings.Contains(flag, "://") {
		return flag
	}
	return "redis://" + flag
}

// portOf returns the port of a Redis URL, 6379 by default.
func portOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Port() != "" {
		return u.Port()
	}
	return "6379"
}
