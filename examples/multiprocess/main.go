// Command multiprocess shows two instances of the email service
// (examples/webapp) sharing one cache on Redis: a write through one instance
// drops what the other serves, because the key registry that records what
// was cached lives in Redis too.
//
// It starts both instances in this process, on two free loopback ports, with
// their own Redis clients, as two processes would have, and prints what
// happens step by step. It needs a running redis-server:
//
//	redis-server --port 6379 &
//	go run ./examples/multiprocess -redis 127.0.0.1:6379
//
// -redis also takes a full URL (redis://user:pass@host:port/db?options, see
// redisstore.NewClient); the password never appears in the output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/examples/webapp/emailapp"
)

func main() {
	redisAddr := flag.String("redis", "", "a running Redis server: host:port or a URL, e.g. 127.0.0.1:6379 or redis://user:pass@127.0.0.1:6379/0 (required)")
	delay := flag.Duration("delay", time.Second, "how long a store lookup takes")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if *redisAddr == "" {
		fmt.Fprintln(os.Stderr, "multiprocess: -redis is required: start a server (redis-server --port 6379) and pass -redis 127.0.0.1:6379")
		os.Exit(2)
	}
	if err := run(*redisAddr, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "multiprocess:", err)
		os.Exit(1)
	}
}

// instance is one running copy of the service.
type instance struct {
	name   string
	url    string
	client redis.UniversalClient
	app    *emailapp.App
	srv    *http.Server
}

func start(ctx context.Context, name, redisAddr string, delay time.Duration) (*instance, error) {
	rawURL := redisAddr
	if !strings.Contains(rawURL, "://") {
		rawURL = "redis://" + rawURL
	}
	client, err := redisstore.NewClient(rawURL) // its errors never show the password
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = client.Ping(pctx).Err()
	cancel()
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s (%v): start one with redis-server", redisstore.RedactURL(rawURL), err)
	}
	app, err := emailapp.New(ctx, emailapp.Config{Name: name, Delay: delay, Redis: client})
	if err != nil {
		client.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		app.Close()
		client.Close()
		return nil, err
	}
	in := &instance{name: name, url: "http://" + ln.Addr().String(), client: client, app: app,
		srv: &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := in.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("%s: %v", name, err)
		}
	}()
	log.Printf("%s: serving on %s", name, in.url)
	return in, nil
}

func (in *instance) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = in.srv.Shutdown(ctx)
	_ = in.app.Close()
	_ = in.client.Close()
}

var client = &http.Client{Timeout: 30 * time.Second}

// get fetches alice's email from in and says what came back.
func (in *instance) get() error {
	start := time.Now()
	resp, err := client.Get(in.url + "/email?username=alice")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Printf("    %s answered %s in %v: %s\n", in.name, resp.Header.Get("X-Cache"),
		time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(body)))
	return nil
}

// post sets alice's email through in.
func (in *instance) post(email string) error {
	resp, err := client.PostForm(in.url+"/email", url.Values{"username": {"alice"}, "email": {email}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST through %s: %s", in.name, resp.Status)
	}
	fmt.Printf("    %s stored %s and dropped the cached results\n", in.name, email)
	return nil
}

func run(redisAddr string, delay time.Duration) error {
	ctx := context.Background()
	a, err := start(ctx, "A", redisAddr, delay)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := start(ctx, "B", redisAddr, delay)
	if err != nil {
		return err
	}
	defer b.stop()

	steps := []struct {
		say string
		do  func() error
	}{
		{"Reset alice's email through A (drops whatever an earlier run cached).", func() error { return a.post("alice@example.com") }},
		{"Ask B: nothing cached yet, so B reads the slow store.", b.get},
		{"Ask A: B's answer is in the shared cache.", a.get},
		{"Change alice's email through B.", func() error { return b.post("alice@example.org") }},
		{"Ask A: B's write dropped A's cached answer, so A reads the store again.", a.get},
		{"Ask B: A's fresh answer is cached for both.", b.get},
	}
	for i, s := range steps {
		fmt.Printf("%d. %s\n", i+1, s.say)
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}
