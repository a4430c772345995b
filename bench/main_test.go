package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisAddr is the address of the redis-server the Redis scenarios use: the
// one named by CORRAL_BENCH_REDIS, or one TestMain starts on a free loopback
// port. It is empty when neither is available; those scenarios then fail.
var redisAddr string

func TestMain(m *testing.M) {
	stop, err := startRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	stopMC, err := startMemcached()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	_, closeLogs := logToFile()
	code := m.Run()
	stop()
	stopMC()
	closeLogs()
	os.Exit(code)
}

// logToFile sends the log lines of the regions under test (slog's default
// logger) to a file, so that they do not land in the middle of a result
// line; at the end it says how many there were and where.
func logToFile() (path string, done func()) {
	f, err := os.CreateTemp("", "corral-bench-*.log")
	if err != nil {
		return "", func() {}
	}
	var lines atomic.Int64
	slog.SetDefault(slog.New(slog.NewTextHandler(countingWriter{f, &lines}, nil)))
	return f.Name(), func() {
		f.Close()
		if n := lines.Load(); n > 0 {
			fmt.Printf("bench: %d log lines of the regions under test in %s\n", n, f.Name())
		} else {
			os.Remove(f.Name())
		}
	}
}

// countingWriter counts the lines written through it.
type countingWriter struct {
	w     io.Writer
	lines *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return c.w.Write(p)
}

// startRedis points redisAddr at a redis-server and returns what stops it.
func startRedis() (stop func(), err error) {
	stop = func() {}
	if addr := os.Getenv("CORRAL_BENCH_REDIS"); addr != "" {
		redisAddr = addr
		return stop, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return stop, fmt.Errorf("redis-server not found (bench/run.sh installs it): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stop, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "corral-bench-redis-")
	if err != nil {
		return stop, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return stop, err
	}
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c.Ping(context.Background()).Err() == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return func() {}, fmt.Errorf("redis-server did not answer on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	redisAddr = addr
	return stop, nil
}

// newRedis returns a client of redisAddr with an empty database, or fails b.
func newRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	if redisAddr == "" {
		tb.Fatal("no redis-server: set CORRAL_BENCH_REDIS or install redis-server")
	}
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
