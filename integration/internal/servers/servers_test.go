package servers_test

import (
	"net"
	"testing"

	"github.com/corralcache/corral/integration/internal/servers"
)

func TestServersStartStopRestart(t *testing.T) {
	for name, start := range map[string]func(testing.TB, ...string) *servers.Server{
		"redis":     servers.Redis,
		"memcached": servers.Memcached,
	} {
		t.Run(name, func(t *testing.T) {
			s := start(t)
			host, _, _ := net.SplitHostPort(s.Addr)
			if host != "127.0.0.1" {
				t.Fatalf("listening on %s, want loopback", s.Addr)
			}
			s.Stop()
			if c, err := net.Dial("tcp", s.Addr); err == nil {
				c.Close()
				t.Fatal("server still accepts connections after Stop")
			}
			s.Start()
			c, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatalf("after restart: %v", err)
			}
			c.Close()
		})
	}
}

func TestRedisCluster(t *testing.T) {
	c := servers.RedisCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatalf("addrs %v", c.Addrs())
	}
}
