package redisgroup

import (
	"slices"
	"testing"
	"time"
)

// The script runs against a real server in package integration (the
// registry's and the Redis store's tests); these tests need none.

func TestRecordArgs(t *testing.T) {
	skew := ClockSkew.Milliseconds()
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want []any
	}{
		{"no ttl", 0, []any{int64(0), skew, "a", "b"}},
		{"sub-millisecond ttl", time.Microsecond, []any{int64(1), skew, "a", "b"}},
		{"minute", time.Minute, []any{int64(60000), skew, "a", "b"}},
	} {
		if got := recordArgs(tc.ttl, []string{"a", "b"}); !slices.Equal(got, tc.want) {
			t.Errorf("%s: recordArgs = %v, want %v", tc.name, got, tc.want)
		}
	}
}
