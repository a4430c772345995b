package integration_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/region"
)

// target is a deployment the worker processes run against: a Redis, a Redis
// Cluster or a memcached, started for the test.
type target struct {
	backend string   // the worker's -backend
	addrs   []string // the servers
	flags   []string // more worker flags this backend wants
	// counter reads a counter the workers increment on the servers (0 when
	// missing).
	counter func(t testing.TB, key string) int
}

// listable tells whether the workers' key registry lists a function's keys
// (memcachereg does not: it keeps a generation per function).
func (tg target) listable() bool { return !strings.HasPrefix(tg.backend, "memcached") }

// args returns the worker flags for tg, followed by extra.
func (tg target) args(extra ...string) []string {
	args := append([]string{"-backend", tg.backend, "-addrs", strings.Join(tg.addrs, ",")}, tg.flags...)
	return append(args, extra...)
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

// workerBinary returns the path of the worker binary, building it with the
// race detector on first use.
func workerBinary(t testing.TB) string {
	t.Helper()
	workers.once.Do(func() {
		workers.dir, workers.err = os.MkdirTemp("", "corral-worker-")
		if workers.err != nil {
			return
		}
		workers.path = filepath.Join(workers.dir, "worker")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(gobin, "build", "-race", "-o", workers.path,
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
