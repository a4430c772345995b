package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/redisstore"
)

// The store is tested against real servers (single node and Cluster) in
// package integration; these tests need none.

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name   string
		client redis.UniversalClient
		o      redisstore.Options
		ok     bool
	}{
		{"Defaults", redis.NewClient(&redis.Options{}), redisstore.Options{}, true},
		{"Cluster", redis.NewClusterClient(&redis.ClusterOptions{}), redisstore.Options{BatchSize: 10}, true},
		{"NilClient", nil, redisstore.Options{}, false},
		{"NegativeBatch", redis.NewClient(&redis.Options{}), redisstore.Options{BatchSize: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.client != nil {
				defer tc.client.Close()
			}
			_, err := redisstore.New(tc.client, tc.o)
			if tc.ok && err != nil {
				t.Fatalf("New = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, redisstore.ErrInvalidOptions) {
				t.Fatalf("New = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		url     string
		cluster bool
		ok      bool
	}{
		{"redis://localhost:6379/0", false, true},
		{"rediss://user:secret@localhost:6380/1?dial_timeout=1s", false, true},
		{"redis://localhost:7000?addr=localhost:7001&addr=localhost:7002", true, true},
		{"http://localhost:6379", false, false},
		{"redis://%zz", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			s, err := redisstore.Open(tc.url, redisstore.Options{})
			if !tc.ok {
				if !errors.Is(err, redisstore.ErrInvalidOptions) {
					t.Fatalf("Open = %v, want ErrInvalidOptions", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, isCluster := s.Client().(*redis.ClusterClient)
			if isCluster != tc.cluster {
				t.Fatalf("cluster client %t, want %t", isCluster, tc.cluster)
			}
		})
	}
}

// TestServerDown checks that failures are returned wrapped, never as a miss.
func TestServerDown(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: 0, DialerRetries: 1})
	defer c.Close()
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get = %v, want a connection error", err)
	}
	if _, err := s.GetMulti(ctx, []string{"a", "b"}); err == nil {
		t.Error("GetMulti succeeded with the server down")
	}
	if err := s.SetMulti(ctx, []backend.Item{{Key: "a"}, {Key: "b"}}); err == nil {
		t.Error("SetMulti succeeded with the server down")
	}
	if err := s.DeleteMulti(ctx, []string{"a", "b"}); err == nil {
		t.Error("DeleteMulti succeeded with the server down")
	}
	if err := s.SetMultiGrouped(ctx, []backend.Item{{Key: "a"}}, "g", []string{"a"}, time.Minute); err == nil {
		t.Error("SetMultiGrouped succeeded with the server down")
	}
	if err := s.SetMultiGrouped(ctx, []backend.Item{{Key: "a"}}, "g", nil, time.Minute); err == nil {
		t.Error("SetMultiGrouped accepted items without members")
	}
}

// TestRouteClientLogs checks that go-redis's own "failed to dial" line
// reaches the logger given to RouteClientLogs, as structured Warn, and
// that RouteClientLogs(nil) stops that.
func TestRouteClientLogs(t *testing.T) {
	var buf syncBuffer
	redisstore.RouteClientLogs(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { redisstore.RouteClientLogs(nil) })
	dial := func() {
		c := redis.NewClient(&redis.Options{Addr: closedPort(t), DialTimeout: 100 * time.Millisecond, MaxRetries: 0, DialerRetries: 1})
		defer c.Close()
		if err := c.Ping(t.Context()).Err(); err == nil {
			t.Fatal("ping of a closed port: no error")
		}
	}
	dial()
	line := buf.String()
	if !strings.Contains(line, "failed to dial") || !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, `"logger":"go-redis"`) {
		t.Fatalf("logged %q; want go-redis's failed dial as a WARN line", line)
	}
	redisstore.RouteClientLogs(nil)
	n := len(buf.String())
	dial()
	if len(buf.String()) != n {
		t.Fatalf("after RouteClientLogs(nil), still logged %q", buf.String()[n:])
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// syncBuffer is a bytes.Buffer safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
