package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// Short client timeouts, so that an outage fails calls fast instead of
// stalling the tests.
func redisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr: addr, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		MaxRetries: 0, DialerRetries: 1, PoolSize: 128,
	}
}

// redisClient returns a client of its own for the server at addr, closed
// when the test ends.
func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(redisOptions(addr))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clusterClient returns a Cluster client of its own, closed when the test
// ends.
func clusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 3, DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// redisStack is what one process uses: a store, a locker and a registry on
// one client.
type redisStack struct {
	client redis.UniversalClient
	store  *redisstore.Store
	locker *redislocker.Locker
	reg    *redisreg.Registry
}

func newRedisStack(t testing.TB, c redis.UniversalClient) *redisStack {
	t.Helper()
	store, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	locker, err := redislocker.New(c, redislocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := redisreg.New(c, redisreg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &redisStack{client: c, store: store, locker: locker, reg: reg}
}

// region returns a region named name on the stack, closed when the test
// ends; cfg's Backend, Locker and Registry are filled in, and its Logger
// when nil.
func (s *redisStack) region(t testing.TB, name string, cfg region.Config) *region.Region {
	t.Helper()
	cfg.Backend, cfg.Locker, cfg.Registry = s.store, s.locker, s.reg
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := region.New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// cmdCounter is a go-redis hook that counts commands and round trips.
type cmdCounter struct {
	trips atomic.Int64 // round trips: single commands and pipelines
	// match, when set, selects the commands counted in matched.
	match   func(args []any) bool
	matched atomic.Int64
}

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Add(1)
		if h.match != nil && h.match(cmd.Args()) {
			h.matched.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		for _, cmd := range cmds {
			if h.match != nil && h.match(cmd.Args()) {
				h.matched.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// isLockAttempt matches redislock's obtain script on lockKey: EVALSHA sha 1
// key token tokenLen ttl (release and refresh have fewer arguments).
func isLockAttempt(lockKey string) func(args []any) bool {
	return func(args []any) bool {
		name, _ := args[0].(string)
		return strings.EqualFold(name, "evalsha") && len(args) == 7 && args[3] == lockKey
	}
}

// eventually polls cond every 10ms until it holds, failing the test after
// limit: a hang guard, not a timing assertion.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// workerBuild builds the worker binary once per test run.
type workerBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// workers is the worker binary of this test run; TestMain removes it.
var workers workerBuild

func (w *workerBuild) cleanup() {
	if w.dir != "" {
		_ = os.RemoveAll(w.dir)
	}
}

// workerBinary returns the path of the worker binary, building it on first
// use.
func workerBinary(t testing.TB) string {
	t.Helper()
	workers.once.Do(func() {
		workers.dir, workers.err = os.MkdirTemp("", "corral-worker-")
		if workers.err != nil {
			return
		}
		workers.path = filepath.Join(workers.dir, "worker")
		out, err := exec.Command("go", "build", "-o", workers.path,
			"github.com/corralcache/corral/integration/internal/worker").CombinedOutput()
		if err != nil {
			workers.err = fmt.Errorf("go build worker: %v\n%s", err, out)
		}
	})
	if workers.err != nil {
		t.Fatal(workers.err)
	}
	return workers.path
}

// stampedeResult mirrors the worker's output in stampede mode.
type stampedeResult struct {
	Values  map[string]int `json:"values"`
	Errors  []string       `json:"errors"`
	Created int            `json:"created"`
	Stats   region.Stats   `json:"stats"`
}

// workerCmd returns the command running the worker with args, killed when
// the test ends.
func workerCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(workerBinary(t), append([]string{"-timeout", "60s"}, args...)...)
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return cmd
}

// stampedes runs n worker processes in stampede mode with args, all callers
// starting at the same moment, and returns their results.
func stampedes(t testing.TB, n int, args ...string) []stampedeResult {
	t.Helper()
	start := time.Now().Add(1500 * time.Millisecond).UnixMilli()
	type out struct {
		res stampedeResult
		err error
	}
	done := make(chan out, n)
	for range n {
		cmd := workerCmd(t, append([]string{"-mode", "stampede", "-start", fmt.Sprint(start)}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := cmd.Wait()
			var o out
			if err != nil {
				o.err = fmt.Errorf("worker: %v\n%s", err, stderr.Bytes())
			} else if err := json.Unmarshal(stdout.Bytes(), &o.res); err != nil {
				o.err = fmt.Errorf("worker output %q: %v", stdout.Bytes(), err)
			}
			done <- o
		}()
	}
	var results []stampedeResult
	timeout := time.After(90 * time.Second)
	for range n {
		select {
		case o := <-done:
			if o.err != nil {
				t.Fatal(o.err)
			}
			results = append(results, o.res)
		case <-timeout:
			t.Fatal("stampede workers did not finish within 90s")
		}
	}
	return results
}

// tally sums the results of stampedes.
func tally(results []stampedeResult) (values map[string]int, errs []string, created int) {
	values = map[string]int{}
	for _, r := range results {
		for v, n := range r.Values {
			values[v] += n
		}
		errs = append(errs, r.Errors...)
		created += r.Created
	}
	return values, errs, created
}

// serveReply mirrors a worker's reply in serve mode.
type serveReply struct {
	Cmd      string        `json:"cmd"`
	Error    string        `json:"error"`
	Value    string        `json:"value"`
	Found    bool          `json:"found"`
	Computed bool          `json:"computed"`
	Stats    *region.Stats `json:"stats"`
}

// server is a worker process in serve mode.
type server struct {
	t      testing.TB
	name   string
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

// serveWorker starts a worker in serve mode with args and waits until it is
// ready.
func serveWorker(t testing.TB, name string, args ...string) *server {
	t.Helper()
	cmd := workerCmd(t, append([]string{"-mode", "serve"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, name: name, stdin: stdin, lines: make(chan string, 16), stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if r := s.read(); r.Cmd != "ready" {
		t.Fatalf("worker %s: first line %+v, want ready", name, r)
	}
	return s
}

func (s *server) read() serveReply {
	s.t.Helper()
	select {
	case line, ok := <-s.lines:
		if !ok {
			s.t.Fatalf("worker %s exited:\n%s", s.name, s.stderr)
		}
		var r serveReply
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			s.t.Fatalf("worker %s: reply %q: %v", s.name, line, err)
		}
		return r
	case <-time.After(20 * time.Second):
		s.t.Fatalf("worker %s: no reply within 20s\n%s", s.name, s.stderr)
	}
	return serveReply{}
}

// do sends one command and returns the reply, failing the test on an error
// reply.
func (s *server) do(cmd string) serveReply {
	s.t.Helper()
	if _, err := fmt.Fprintln(s.stdin, cmd); err != nil {
		s.t.Fatalf("worker %s: %v", s.name, err)
	}
	r := s.read()
	if r.Error != "" {
		s.t.Fatalf("worker %s: %s: %s", s.name, cmd, r.Error)
	}
	return r
}
