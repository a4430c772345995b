package integration_test

import (
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// TestMain removes the worker binary that the multi-process tests build
// once (see workerBinary).
// It also silences go-redis's own logger, which would print every failed
// dial of the outage tests; the regions log what matters.
func TestMain(m *testing.M) {
	redis.SetLogger(&logging.VoidLogger{})
	code := m.Run()
	workers.cleanup()
	os.Exit(code)
}
