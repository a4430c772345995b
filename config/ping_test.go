package config_test

import (
	"context"
	"errors"
	"testing"

	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/region"
)

// TestPingNilContext: Ping with a nil context returns an error wrapping
// region.ErrNilContext, as every region call does, on every kind of URL;
// it used to panic inside go-redis's pool.
func TestPingNilContext(t *testing.T) {
	file := `
regions:
  a: {url: "memory://?max_entries=100"}
  b: {url: "redis://127.0.0.1:1"}
  c: {url: "redis+cluster://127.0.0.1:1,127.0.0.1:2"}
  d: {url: "redis+sentinel://127.0.0.1:1/m"}
  e: {url: "memcached://127.0.0.1:1"}
`
	rs, err := config.Parse("ping.yaml", []byte(file), config.Options{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var nilCtx context.Context
	if err := rs.Ping(nilCtx); !errors.Is(err, region.ErrNilContext) {
		t.Errorf("Regions.Ping(nil) = %v, want ErrNilContext", err)
	}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		c, err := rs.Connection(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(nilCtx); !errors.Is(err, region.ErrNilContext) {
			t.Errorf("Connection(%s).Ping(nil) = %v, want ErrNilContext", name, err)
		}
	}
}
