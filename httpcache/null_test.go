package httpcache_test

import (
	"testing"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/null"
)

func nullBackend(t *testing.T) backend.Backend {
	t.Helper()
	return null.New()
}
