package config_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/corralcache/corral/config"
)

// TestCloseLeavesNoGoroutine loads regions on every kind of URL (against
// ports where nothing listens), pings them with a cancelled context, which
// must return at once, and checks that Close leaves no goroutine behind.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	file := `
regions:
  a: {url: "memory://?max_entries=100"}
  b: {url: "redis://127.0.0.1:1"}
  c: {url: "redis+cluster://127.0.0.1:1,127.0.0.1:2"}
  d: {url: "redis+sentinel://127.0.0.1:1/m"}
  e: {url: "memcached://127.0.0.1:1,127.0.0.1:2"}
  f: {expiration: 1m}
`
	for range 3 {
		rs, err := config.Parse("leak.yaml", []byte(file), config.Options{Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		start := time.Now()
		if err := rs.Ping(ctx); err == nil {
			t.Fatal("Ping with a cancelled context and no servers: no error")
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Ping with a cancelled context took %v", took)
		}
		if err := rs.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
