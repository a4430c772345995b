package diskstore_test

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/corralcache/corral/backend/diskstore"
)

// TestCloseLeavesNoGoroutine: a Store used for reads, writes, locks and
// records leaves no goroutine behind once closed.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		s, err := diskstore.Open(filepath.Join(t.TempDir(), "cache.db"), diskstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		_ = s.Set(ctx, "k", []byte("v"), 0)
		_, _ = s.Get(ctx, "k")
		if lk, err := s.Locker().Obtain(ctx, "k", time.Second); err == nil {
			_ = lk.Release(ctx)
		}
		_ = s.Registry().Record(ctx, "fn", "k", 0)
		if err := s.Close(); err != nil {
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
