// Package redisgroup records keys in a Redis sorted set, a group, scored by
// when their values expire. The Redis key registry keeps its records so,
// and the Redis store writes a record in the same round trip as the values
// it stands for; both use this package, so that the store does not import
// the registry.
package redisgroup

import (
	"context"
	_ "embed"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClockSkew is added to every record's expiry, so that a record outlives its
// value even when the clocks of the Redis nodes holding the value and the
// record disagree by up to this much.
const ClockSkew = 5 * time.Second

// Record records keys in the set, for values that expire from Redis after
// ttl (zero: never), and returns the server's error.
func Record(ctx context.Context, c redis.Scripter, set string, ttl time.Duration, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return recordScript.Run(ctx, c, []string{set}, recordArgs(ttl, keys)...).Err()
}

// QueueRecord queues on p the command Record sends; its error is reported
// by p's Exec. The command names one key, so p may belong to a Cluster
// client.
func QueueRecord(ctx context.Context, p redis.Pipeliner, set string, ttl time.Duration, keys ...string) {
	if len(keys) == 0 {
		return
	}
	// EVAL (not EVALSHA): a pipeline cannot fall back on NOSCRIPT, and the
	// server caches the compiled script by its digest either way.
	recordScript.Eval(ctx, p, []string{set}, recordArgs(ttl, keys)...)
}

// recordArgs are the ARGV of recordScript.
func recordArgs(ttl time.Duration, keys []string) []any {
	args := make([]any, 0, 2+len(keys))
	ms := int64(0)
	if ttl > 0 {
		ms = max(ttl.Milliseconds(), 1)
	}
	args = append(args, ms, ClockSkew.Milliseconds())
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

//go:embed record.lua
var recordLua string

// recordScript is record.lua.
var recordScript = redis.NewScript(recordLua)
