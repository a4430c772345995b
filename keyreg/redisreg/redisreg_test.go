package redisreg_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/keyreg/redisreg"
)

// The registry is tested against a real server in package integration;
// these tests need none.

func TestNew(t *testing.T) {
	if _, err := redisreg.New(nil, redisreg.Options{}); !errors.Is(err, redisreg.ErrInvalidOptions) {
		t.Fatalf("New(nil) = %v, want ErrInvalidOptions", err)
	}
	c := redis.NewClient(&redis.Options{})
	defer c.Close()
	tests := []struct {
		prefix, want string
	}{
		{"", redisreg.DefaultPrefix + "GetUser"},
		{"app:", "app:GetUser"},
	}
	for _, tc := range tests {
		r, err := redisreg.New(c, redisreg.Options{Prefix: tc.prefix})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Group("GetUser"); got != tc.want {
			t.Errorf("Group with prefix %q = %q, want %q", tc.prefix, got, tc.want)
		}
		if ns, err := r.Namespace(context.Background(), "GetUser"); err != nil || ns != "GetUser" {
			t.Errorf("Namespace = %q, %v; want the function's name", ns, err)
		}
	}
}

func TestServerDown(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: 0, DialerRetries: 1})
	defer c.Close()
	r, err := redisreg.New(c, redisreg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Record(ctx, "f", "k", time.Minute); err == nil {
		t.Error("Record succeeded with the server down")
	}
	if _, err := r.Recorded(ctx, "f", "k"); err == nil {
		t.Error("Recorded succeeded with the server down")
	}
	if _, err := r.Keys(ctx, "f"); err == nil {
		t.Error("Keys succeeded with the server down")
	}
	if err := r.Forget(ctx, "f", "k"); err == nil {
		t.Error("Forget succeeded with the server down")
	}
	if err := r.Forget(ctx, "f"); err != nil {
		t.Errorf("Forget of no keys = %v, want nil without a round trip", err)
	}
	if _, err := r.ForgetAll(ctx, "f"); err == nil {
		t.Error("ForgetAll succeeded with the server down")
	}
}
