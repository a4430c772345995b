package redisstore_test

import (
	"context"
	"errors"
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
