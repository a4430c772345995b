package memcachestore_test

import (
	"testing"
	"time"

	"github.com/corralcache/corral/backend/memcachestore"
)

// legal mirrors memcached's key rules.
func legal(k string) bool {
	if len(k) == 0 || len(k) > memcachestore.MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}

// TestKeyHelpers checks the exported helpers against the storage format
// (their implementation and full tests are in internal/memcachekey).
func TestKeyHelpers(t *testing.T) {
	if got, want := memcachestore.MangleKey("region:\x00invalidated:hard"), "region:_invalidated:hard~b6ccae471f1bdcd875ce39c7f9150f81abe050ada04c0371ffc99fd9ecadef45"; got != want {
		t.Errorf("MangleKey = %q, want %q", got, want)
	}
	if got := memcachestore.Expiration(1500*time.Millisecond, time.Unix(1_700_000_000, 0)); got != 2 {
		t.Errorf("Expiration(1.5s) = %d, want 2", got)
	}
}
