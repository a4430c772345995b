package diskstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/internal/fakeclock"
)

// open opens a store in a fresh file of t's, closed when t ends.
func open(t testing.TB, o diskstore.Options) *diskstore.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "cache.db"), o)
}

func openAt(t testing.TB, path string, o diskstore.Options) *diskstore.Store {
	t.Helper()
	s, err := diskstore.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance runs the backend conformance suite, the conditional
// contract included, with a fake clock for the TTL subtests.
func TestConformance(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	backendtest.RunWith(t, backendtest.RunOptions{TTL: time.Second, Sleep: clock.Advance}, func(t *testing.T) backend.Backend {
		return open(t, diskstore.Options{Now: clock.Now})
	})
}

// TestConformanceSystemClock runs the suite on the system clock, with
// short TTLs.
func TestConformanceSystemClock(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	backendtest.RunWith(t, backendtest.RunOptions{TTL: 300 * time.Millisecond}, func(t *testing.T) backend.Backend {
		return open(t, diskstore.Options{})
	})
}
