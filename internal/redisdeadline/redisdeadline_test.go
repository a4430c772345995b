package redisdeadline

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestDefault(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client any
		want   time.Duration
	}{
		{"client that retries", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: 200 * time.Millisecond, MaxRetries: 1}), 200 * time.Millisecond},
		{"go-redis defaults (5 s in v9.23)", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), 5 * time.Second},
		{"no retries", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), 0},
		{"no read timeout", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: -1}), 0},
		{"cluster", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ReadTimeout: time.Second}), time.Second},
		{"zero client", &redis.Client{}, 0},
		{"nil client", (*redis.Client)(nil), 0},
		{"other", "x", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, ok := tc.client.(interface{ Close() error }); ok && tc.name != "zero client" && tc.name != "nil client" {
				defer c.Close()
			}
			if got := Default(tc.client); got != tc.want {
				t.Fatalf("Default = %v, want %v", got, tc.want)
			}
		})
	}
	if got := Resolve(-1, nil); got != 0 {
		t.Fatalf("Resolve(-1) = %v, want 0 (no bound)", got)
	}
	if got := Resolve(time.Second, nil); got != time.Second {
		t.Fatalf("Resolve(1s) = %v", got)
	}
}

func TestBound(t *testing.T) {
	ctx, cancel := Bound(context.Background(), time.Hour)
	defer cancel()
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Hour {
		t.Fatalf("Bound(1h) deadline %v, %v", dl, ok)
	}
	sooner, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if got, c := Bound(sooner, time.Hour); got != sooner {
		c()
		t.Fatal("Bound replaced a context that ends sooner")
	}
	if got, c := Bound(context.Background(), 0); got != context.Background() {
		c()
		t.Fatal("Bound(0) bounded")
	}
}
