package memcachestore_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend/memcachestore"
)

// The failover itself is tested against real servers in package
// integration (TestMemcachedPoolFailover).

func TestNewPoolOptions(t *testing.T) {
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("127.0.0.1:%d", 20000+i)
	}
	tests := []struct {
		name  string
		o     memcachestore.PoolOptions
		addrs []string
		ok    bool
	}{
		{"Defaults", memcachestore.PoolOptions{}, []string{"127.0.0.1:11211"}, true},
		{"NoServers", memcachestore.PoolOptions{}, nil, false},
		{"TooMany", memcachestore.PoolOptions{}, many, false},
		{"BadAddress", memcachestore.PoolOptions{}, []string{"127.0.0.1:x"}, false},
		{"NegativeCooldown", memcachestore.PoolOptions{Cooldown: -1}, []string{"127.0.0.1:11211"}, false},
		{"NegativeFailures", memcachestore.PoolOptions{Failures: -1}, []string{"127.0.0.1:11211"}, false},
		{"LoggerWithoutHandler", memcachestore.PoolOptions{Logger: &slog.Logger{}}, []string{"127.0.0.1:11211"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := memcachestore.NewPool(tc.o, tc.addrs...)
			if !tc.ok {
				if !errors.Is(err, memcachestore.ErrInvalidOptions) {
					t.Fatalf("NewPool = %v, want ErrInvalidOptions", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPoolPicksAsServerList checks that, with every server in, a Pool puts
// keys where gomemcache's ServerList does, so that processes with and
// without failover agree.
func TestPoolPicksAsServerList(t *testing.T) {
	addrs := []string{"127.0.0.1:20001", "127.0.0.1:20002", "127.0.0.1:20003"}
	p, err := memcachestore.NewPool(memcachestore.PoolOptions{}, addrs...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var sl memcache.ServerList
	if err := sl.SetServers(addrs...); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		k := fmt.Sprintf("key:%d", i)
		got, _ := p.PickServer(k)
		want, _ := sl.PickServer(k)
		if got.String() != want.String() {
			t.Fatalf("PickServer(%q) = %s, ServerList says %s", k, got, want)
		}
	}
	if out := p.Out(); len(out) != 0 {
		t.Errorf("Out() = %v with no failure", out)
	}
}
