package diskstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/region"
)

// The tests here re-execute the test binary as worker processes: with
// workerEnv set, TestMain runs the named worker instead of the tests.
const (
	workerEnv = "DISKSTORE_TEST_WORKER"
	pathEnv   = "DISKSTORE_TEST_PATH"
)

func TestMain(m *testing.M) {
	switch os.Getenv(workerEnv) {
	case "":
		os.Exit(m.Run())
	case "stampede":
		os.Exit(stampedeWorker(os.Getenv(pathEnv)))
	case "writer":
		os.Exit(writerWorker(os.Getenv(pathEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown worker", os.Getenv(workerEnv))
		os.Exit(2)
	}
}

// startWorker starts this test binary as the worker named kind on the store
// at path; it is killed when t ends, if still running.
func startWorker(t *testing.T, kind, path string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+kind, pathEnv+"="+path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, in, bufio.NewReader(out)
}

// readLine reads one line of a worker's output, failing t after a bound.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		ch <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ch:
		return line
	case <-time.After(60 * time.Second):
		t.Fatal("worker silent for 60s")
		return ""
	}
}

// stampedeReport is what a stampede worker prints when done.
type stampedeReport struct {
	Created int            `json:"created"`
	Values  map[string]int `json:"values"`
	Errors  []string       `json:"errors"`
}

// stampedeWorker opens the store at path, builds a region on it with the
// store's locker and registry, prints "ready", waits for a line on stdin,
// then has 100 goroutines GetOrCreate one cold key, and prints a
// stampedeReport.
func stampedeWorker(path string) int {
	s, err := diskstore.Open(path, diskstore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	r, err := region.New("stampede", region.Config{
		Backend: s, Locker: s.Locker(), Registry: s.Registry(),
		Expiration: time.Hour, LockWait: 50 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	var (
		created atomic.Int64
		mu      sync.Mutex
		rep     = stampedeReport{Values: map[string]int{}}
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	pid := os.Getpid()
	create := func(context.Context) (string, error) {
		created.Add(1)
		// Keeps the creation open while the other processes arrive; the
		// count does not depend on it.
		time.Sleep(200 * time.Millisecond)
		return fmt.Sprintf("made by %d", pid), nil
	}
	for range 100 {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
			defer cancel()
			v, err := region.GetOrCreate(ctx, r, "cold", create)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Errors = append(rep.Errors, err.Error())
				return
			}
			rep.Values[v]++
		})
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 1
	}
	close(start)
	wg.Wait()
	rep.Created = int(created.Load())
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	return 0
}

// TestMultiProcessStampede: 4 processes × 100 goroutines GetOrCreate one
// cold key of one store file at once; the creator runs exactly once in all,
// and every caller gets its value.
func TestMultiProcessStampede(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	s := openAt(t, path, diskstore.Options{}) // creates the file once
	const procs = 4
	ins := make([]io.WriteCloser, procs)
	outs := make([]*bufio.Reader, procs)
	for i := range procs {
		_, ins[i], outs[i] = startWorker(t, "stampede", path)
	}
	for i := range procs {
		if line := readLine(t, outs[i]); line != "ready" {
			t.Fatalf("worker %d: %q, want ready", i, line)
		}
	}
	for i := range procs {
		if _, err := io.WriteString(ins[i], "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	created, values := 0, map[string]int{}
	for i := range procs {
		var rep stampedeReport
		line := readLine(t, outs[i])
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("worker %d: %q: %v", i, line, err)
		}
		if len(rep.Errors) > 0 {
			t.Errorf("worker %d: %d errors, first %s", i, len(rep.Errors), rep.Errors[0])
		}
		created += rep.Created
		for v, n := range rep.Values {
			values[v] += n
		}
	}
	if created != 1 {
		t.Errorf("creator calls in all processes = %d, want exactly 1", created)
	}
	if len(values) != 1 {
		t.Errorf("callers got %d distinct values, want 1: %v", len(values), values)
	}
	for v, n := range values {
		if n != procs*100 {
			t.Errorf("value %q went to %d callers, want %d", v, n, procs*100)
		}
	}
	if u, err := s.Usage(t.Context()); err != nil || u.Entries == 0 {
		t.Errorf("Usage = %+v, %v; want the stored value", u, err)
	}
}

// checkedValue is a value that carries its own check: the key it was
// written under, a counter, padding, and a SHA-256 of all that. A torn or
// mixed-up value fails verify.
func checkedValue(key string, n uint64) []byte {
	b := binary.BigEndian.AppendUint64([]byte(key), n)
	b = append(b, bytes.Repeat([]byte{byte(n)}, 512+int(n%2048))...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func verify(key string, v []byte) error {
	if len(v) < sha256.Size+len(key)+8 {
		return fmt.Errorf("%d bytes, too short", len(v))
	}
	body, sum := v[:len(v)-sha256.Size], v[len(v)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return fmt.Errorf("checksum mismatch")
	}
	if !bytes.HasPrefix(body, []byte(key)) {
		return fmt.Errorf("value of another key")
	}
	return nil
}

// writerWorker writes checked values to 64 keys of the store at path, in
// single and multi-key transactions, without end; it prints "writing"
// after its first 100 writes.
func writerWorker(path string) int {
	s, err := diskstore.Open(path, diskstore.Options{MaxEntries: 48, AccessResolution: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	for n := uint64(1); ; n++ {
		key := fmt.Sprintf("k%d", n%64)
		if n%3 == 0 {
			items := make([]backend.Item, 8)
			for i := range items {
				k := fmt.Sprintf("k%d", (n+uint64(i))%64)
				items[i] = backend.Item{Key: k, Value: checkedValue(k, n)}
			}
			err = s.SetMulti(ctx, items)
		} else {
			err = s.Set(ctx, key, checkedValue(key, n), time.Hour)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if n == 100 {
			fmt.Println("writing")
		}
	}
}

// TestKillWriter: a process writing as fast as it can is killed with
// SIGKILL; the file then opens, passes SQLite's integrity check, serves
// only whole values, and takes writes again. Repeated a few times, at
// different points of the writer's work.
func TestKillWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	for round := range 5 {
		cmd, _, out := startWorker(t, "writer", path)
		if line := readLine(t, out); line != "writing" {
			t.Fatalf("round %d: writer said %q", round, line)
		}
		// Let it run on for a while (a varying point of its work), then
		// kill it wherever it is.
		time.Sleep(time.Duration(20+37*round) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		s, err := diskstore.Open(path, diskstore.Options{MaxEntries: 48})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := s.Check(t.Context()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		found := 0
		for i := range 64 {
			key := fmt.Sprintf("k%d", i)
			v, err := s.Get(t.Context(), key)
			if err == nil {
				found++
				if err := verify(key, v); err != nil {
					t.Fatalf("round %d: %s served a corrupt value: %v", round, key, err)
				}
			}
		}
		if found == 0 {
			t.Fatalf("round %d: no value survived the kill", round)
		}
		if err := s.Set(t.Context(), "after", checkedValue("after", 1), 0); err != nil {
			t.Fatalf("round %d: write after reopen: %v", round, err)
		}
		if u, err := s.Usage(t.Context()); err != nil || u.Entries > 48 {
			t.Fatalf("round %d: Usage = %+v, %v; want at most 48 entries", round, u, err)
		}
		_ = s.Close()
	}
}
