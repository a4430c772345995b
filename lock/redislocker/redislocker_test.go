package redislocker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/redislocker"
)

// down returns a client of a server that is not there: every call fails at
// once with "connection refused". The behaviour against a real server is
// tested in package integration (conformance suite, stampedes).
func down(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: 0, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name   string
		client redis.Scripter
		o      redislocker.Options
		ok     bool
	}{
		{"Defaults", &redis.Client{}, redislocker.Options{}, true},
		{"NilClient", nil, redislocker.Options{}, false},
		{"NegativeMin", &redis.Client{}, redislocker.Options{MinBackoff: -1}, false},
		{"NegativeMax", &redis.Client{}, redislocker.Options{MaxBackoff: -1}, false},
		{"Reversed", &redis.Client{}, redislocker.Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, false},
		{"MinAboveDefaultMax", &redis.Client{}, redislocker.Options{MinBackoff: time.Second}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redislocker.New(tc.client, tc.o)
			if tc.ok && err != nil {
				t.Fatalf("New = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, redislocker.ErrInvalidOptions) {
				t.Fatalf("New = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestInvalidTTL(t *testing.T) {
	l, err := redislocker.New(down(t), redislocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := l.TryObtain(t.Context(), "k", ttl); !errors.Is(err, lock.ErrInvalidTTL) {
			t.Errorf("TryObtain(ttl %v) = %v, want lock.ErrInvalidTTL", ttl, err)
		}
		if _, err := l.Obtain(t.Context(), "k", ttl); !errors.Is(err, lock.ErrInvalidTTL) {
			t.Errorf("Obtain(ttl %v) = %v, want lock.ErrInvalidTTL", ttl, err)
		}
	}
}

// TestServerDown checks that a failing server is an error of its own, not
// "held elsewhere", and that Obtain does not retry it until ctx ends.
func TestServerDown(t *testing.T) {
	l, err := redislocker.New(down(t), redislocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for name, obtain := range map[string]func(context.Context, string, time.Duration) (lock.Lock, error){
		"TryObtain": l.TryObtain, "Obtain": l.Obtain,
	} {
		start := time.Now()
		_, err := obtain(ctx, "k", time.Second)
		if err == nil || errors.Is(err, lock.ErrNotObtained) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with the server down = %v, want its error", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v with the server down, want an immediate error", name, d)
		}
	}
}

func TestObtainCancelled(t *testing.T) {
	l, err := redislocker.New(down(t), redislocker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Obtain(ctx, "k", time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Obtain with a cancelled ctx = %v, want context.Canceled", err)
	}
}
