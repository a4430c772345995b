package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// mcWorkerResult mirrors the JSON line mcworker prints.
type mcWorkerResult struct {
	Values map[string]int `json:"values"`
	Errors []string       `json:"errors"`
	Stats  region.Stats   `json:"stats"`
}

// mcWorkers runs mcworker processes against one memcached.
type mcWorkers struct {
	bin, addr string
}

// mcNewWorkers builds the mcworker binary, with the race detector, into the
// test's temporary directory (the build cache makes later builds cheap).
func mcNewWorkers(t *testing.T, addr string) *mcWorkers {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcworker")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-race", "-o", bin, "./internal/mcworker").CombinedOutput()
	if err != nil {
		t.Fatalf("go build mcworker: %v\n%s", err, out)
	}
	return &mcWorkers{bin: bin, addr: addr}
}

// run runs one mcworker to completion and returns its result.
func (w *mcWorkers) run(t *testing.T, args ...string) mcWorkerResult {
	t.Helper()
	cmd := exec.Command(w.bin, append([]string{"-addrs", w.addr, "-timeout", mcTimeout.String()}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mcworker %v: %v\n%s", args, err, stderr.String())
	}
	var res mcWorkerResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("mcworker %v printed %q: %v", args, out, err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("mcworker %v: errors %v", args, res.Errors)
	}
	return res
}

// runTogether starts n workers with -wait, releases them at once
// when every one is ready, and returns their results.
func (w *mcWorkers) runTogether(t *testing.T, n int, args ...string) []mcWorkerResult {
	t.Helper()
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
		stderr *bytes.Buffer
	}
	procs := make([]*proc, n)
	for i := range procs {
		cmd := exec.Command(w.bin, append([]string{"-addrs", w.addr, "-timeout", mcTimeout.String(), "-wait"}, args...)...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), stderr: new(bytes.Buffer)}
		cmd.Stderr = p.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		procs[i] = p
	}
	for i, p := range procs {
		line, err := p.stdout.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			t.Fatalf("worker %d: %q, %v; stderr:\n%s", i, line, err, p.stderr.String())
		}
	}
	for _, p := range procs {
		if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	results := make([]mcWorkerResult, n)
	for i, p := range procs {
		out, err := io.ReadAll(p.stdout)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v; stderr:\n%s", i, err, p.stderr.String())
		}
		if err := json.Unmarshal(out, &results[i]); err != nil {
			t.Fatalf("worker %d printed %q: %v", i, out, err)
		}
		if len(results[i].Errors) > 0 {
			t.Errorf("worker %d: %d errors, first %q", i, len(results[i].Errors), results[i].Errors[0])
		}
	}
	return results
}

// mcCounter reads the creation counter the workers increment.
func mcCounter(t *testing.T, s *mcStack, key string) int {
	t.Helper()
	it, err := s.client.Get(key)
	if err != nil {
		t.Fatalf("counter %q: %v", key, err)
	}
	n, err := strconv.Atoi(string(it.Value))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const (
	mcProcs      = 4
	mcGoroutines = 100
)

func TestMemcachedMultiProcessStampedeCold(t *testing.T) {
	srv := mcServer(t)
	w := mcNewWorkers(t, srv.Addr)
	s := newMCStack(t, memcachereg.Options{}, srv.Addr)
	results := w.runTogether(t, mcProcs,
		"-op", "getorcreate", "-key", "cold", "-goroutines", strconv.Itoa(mcGoroutines),
		"-counter", "creations", "-hold", "300ms")
	if n := mcCounter(t, s, "creations"); n != 1 {
		t.Fatalf("%d processes × %d goroutines on one cold key: %d creator calls, want exactly 1", mcProcs, mcGoroutines, n)
	}
	total := 0
	for i, r := range results {
		for v, n := range r.Values {
			if v != "created #1" {
				t.Errorf("worker %d: %d callers got %q, want the one created value", i, n, v)
			}
			total += n
		}
	}
	if total != mcProcs*mcGoroutines {
		t.Errorf("%d callers served, want %d", total, mcProcs*mcGoroutines)
	}
}

func TestMemcachedMultiProcessStampedeStale(t *testing.T) {
	srv := mcServer(t)
	w := mcNewWorkers(t, srv.Addr)
	s := newMCStack(t, memcachereg.Options{}, srv.Addr)
	r := s.region(t, "mp", region.Config{})
	ctx := mcCtx(t, 10*time.Second)
	// A stale entry: its soft expiration has passed, its hard TTL has not.
	if err := r.Set(ctx, "warm", "old", region.WithExpiration(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	mcEventually(t, time.Second, "entry stale", func() bool {
		_, found, _ := region.Get[string](ctx, r, "warm")
		return !found
	})
	results := w.runTogether(t, mcProcs,
		"-op", "getorcreate", "-key", "warm", "-goroutines", strconv.Itoa(mcGoroutines),
		"-counter", "regenerations", "-hold", "300ms")
	if n := mcCounter(t, s, "regenerations"); n != 1 {
		t.Fatalf("stale key under %d×%d callers: %d regenerations, want exactly 1", mcProcs, mcGoroutines, n)
	}
	var stale, fresh, lockWaits uint64
	for i, res := range results {
		for v, n := range res.Values {
			switch v {
			case "old":
				stale += uint64(n)
			case "created #1":
				fresh += uint64(n)
			default:
				t.Errorf("worker %d: %d callers got %q", i, n, v)
			}
		}
		lockWaits += res.Stats.LockWaits
	}
	if stale+fresh != mcProcs*mcGoroutines {
		t.Errorf("%d callers served, want %d", stale+fresh, mcProcs*mcGoroutines)
	}
	if stale < mcProcs*mcGoroutines/2 || fresh < 1 {
		t.Errorf("%d served stale, %d fresh: want most stale and the regenerating caller fresh", stale, fresh)
	}
	if lockWaits != 0 {
		t.Errorf("%d callers waited for a lock, want none (a stale value is served)", lockWaits)
	}
	t.Logf("%d stale, %d fresh", stale, fresh)
}

func TestMemcachedMultiProcessIllegalKeys(t *testing.T) {
	srv := mcServer(t)
	w := mcNewWorkers(t, srv.Addr)
	s := newMCStack(t, memcachereg.Options{}, srv.Addr)
	r := s.region(t, "mp", region.Config{})
	ctx := mcCtx(t, 10*time.Second)
	for _, key := range []string{strings.Repeat("x", 400), "a key with spaces"} {
		// Written by a worker, read here, and the other way round.
		w.run(t, "-op", "set", "-key", key, "-value", "from worker")
		if v, found, err := region.Get[string](ctx, r, key); err != nil || !found || v != "from worker" {
			t.Fatalf("key of %d bytes written by a worker: read %q, %t, %v", len(key), v, found, err)
		}
		if err := r.Set(ctx, key, "from test"); err != nil {
			t.Fatal(err)
		}
		if res := w.run(t, "-op", "get", "-key", key); res.Values["from test"] != 1 {
			t.Fatalf("key of %d bytes written here: worker read %v", len(key), res.Values)
		}
	}
}

func TestMemcachedMultiProcessFunctionInvalidation(t *testing.T) {
	srv := mcServer(t)
	w := mcNewWorkers(t, srv.Addr)
	// This process's registry re-reads generations at once, so the test
	// needs no wait for CacheFor.
	s := newMCStack(t, memcachereg.Options{CacheFor: -1}, srv.Addr)
	r := s.region(t, "mp", region.Config{})
	ctx := mcCtx(t, 20*time.Second)
	var mu sync.Mutex
	calls := 0
	user, err := region.Cache1(r, func(_ context.Context, id int) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return fmt.Sprintf("user %d local #%d", id, calls), nil
	}, region.Named("getUser"))
	if err != nil {
		t.Fatal(err)
	}
	call := func(id int) string {
		t.Helper()
		v, err := user.Call(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Values created by a worker are served here.
	w.run(t, "-op", "call", "-arg", "1", "-counter", "fn")
	w.run(t, "-op", "call", "-arg", "2", "-counter", "fn")
	if v := call(1); v != "user 1 created #1" {
		t.Fatalf("Call(1) = %q, want the worker's value", v)
	}
	if v := call(2); v != "user 2 created #2" {
		t.Fatalf("Call(2) = %q, want the worker's value", v)
	}
	// invalidate(function, args) from another process.
	w.run(t, "-op", "invalidate", "-arg", "1")
	if v := call(1); v != "user 1 local #1" {
		t.Fatalf("Call(1) after the worker's Invalidate(1) = %q, want a new local value", v)
	}
	if v := call(2); v != "user 2 created #2" {
		t.Fatalf("Call(2) after Invalidate(1) = %q, want it untouched", v)
	}
	// invalidate-all(function) from another process.
	w.run(t, "-op", "invalidate-all")
	if v := call(2); v != "user 2 local #2" {
		t.Fatalf("Call(2) after the worker's InvalidateAll = %q, want a new local value", v)
	}
	if v := call(1); v != "user 1 local #3" {
		t.Fatalf("Call(1) after the worker's InvalidateAll = %q, want a new local value", v)
	}
	// And the other way round: the worker sees this process's InvalidateAll.
	if err := user.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	if res := w.run(t, "-op", "call", "-arg", "1", "-counter", "fn"); res.Values["user 1 created #3"] != 1 {
		t.Fatalf("worker Call(1) after InvalidateAll here = %v, want a new value", res.Values)
	}
}

func TestMemcachedMultiProcessRegionInvalidation(t *testing.T) {
	srv := mcServer(t)
	w := mcNewWorkers(t, srv.Addr)
	s := newMCStack(t, memcachereg.Options{}, srv.Addr)
	r := s.region(t, "mp", region.Config{InvalidationRefresh: 20 * time.Millisecond})
	ctx := mcCtx(t, 20*time.Second)
	get := func(opts ...region.CallOption) (string, bool) {
		v, found, err := region.Get[string](ctx, r, "k", opts...)
		if err != nil {
			t.Fatal(err)
		}
		return v, found
	}
	for _, how := range []string{"soft", "hard"} {
		t.Run(how, func(t *testing.T) {
			if err := r.Set(ctx, "k", "before "+how); err != nil {
				t.Fatal(err)
			}
			if _, found := get(); !found {
				t.Fatal("fresh value not found")
			}
			w.run(t, "-op", "region-invalidate", "-how", how)
			mcEventually(t, 2*time.Second, "the worker's "+how+" invalidation seen", func() bool {
				_, found := get()
				return !found
			})
			v, found := get(region.IgnoreExpiration())
			switch how {
			case "soft":
				if !found || v != "before soft" {
					t.Errorf("after a soft invalidation the stale value = %q, %t; want it served", v, found)
				}
			case "hard":
				if found {
					t.Errorf("after a hard invalidation the value = %q, want missing", v)
				}
			}
			// A value written after the invalidation is fresh again.
			if err := r.Set(ctx, "k", "after"); err != nil {
				t.Fatal(err)
			}
			if v, found := get(); !found || v != "after" {
				t.Errorf("value written after the invalidation = %q, %t", v, found)
			}
		})
	}
}
