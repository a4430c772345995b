package memcachestore_test

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memcachestore"
)

// oldServer answers `version` as memcached 1.6.9 would, on a loopback
// port, and anything else with ERROR.
func oldServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					reply := "ERROR\r\n"
					if strings.HasPrefix(line, "version") {
						reply = "VERSION 1.6.9\r\n"
					}
					if _, err := c.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// TestServerTooOld: a server older than memcached 1.6.10 is refused, with
// ErrServerTooOld, by NewServers and Pool.CheckVersions up front, and by a
// Store on a Pool at its first meta command; New itself does no I/O.
func TestServerTooOld(t *testing.T) {
	addr := oldServer(t)
	if _, err := memcachestore.NewServers(addr); !errors.Is(err, memcachestore.ErrServerTooOld) {
		t.Fatalf("NewServers of a 1.6.9 = %v, want ErrServerTooOld", err)
	}
	p, err := memcachestore.NewPool(memcachestore.PoolOptions{Timeout: time.Second}, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := memcachestore.New(p, memcachestore.Options{})
	if err != nil {
		t.Fatalf("New on a Pool: %v", err)
	}
	o := backend.LeaseOptions{Holder: "h", LockTTL: time.Second, PlaceholderTTL: time.Second}
	if _, _, err := s.Lease(t.Context(), []backend.LeaseKey{{Key: "k", Lock: "l"}}, o); !errors.Is(err, memcachestore.ErrServerTooOld) {
		t.Fatalf("Lease on a 1.6.9 = %v, want ErrServerTooOld", err)
	}
	if _, _, err := s.GetForUpdate(t.Context(), []string{"k"}, time.Second); !errors.Is(err, memcachestore.ErrServerTooOld) {
		t.Fatalf("GetForUpdate on a 1.6.9 = %v, want ErrServerTooOld", err)
	}
	if err := p.CheckVersions(); !errors.Is(err, memcachestore.ErrServerTooOld) {
		t.Fatalf("CheckVersions of a 1.6.9 = %v, want ErrServerTooOld", err)
	}
	// A server that does not answer is not refused: it is checked when
	// first used.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close()
	q, err := memcachestore.NewPool(memcachestore.PoolOptions{Timeout: time.Second}, down)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.CheckVersions(); err != nil {
		t.Fatalf("CheckVersions of a server down = %v, want nil", err)
	}
}
