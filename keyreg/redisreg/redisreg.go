package redisreg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/internal/redisgroup"
	"github.com/corralcache/corral/keyreg"
)

// ErrInvalidOptions is returned (wrapped) by [New] when its arguments cannot
// be used.
var ErrInvalidOptions = errors.New("redisreg: invalid options")

// DefaultPrefix is the Prefix New uses when Options.Prefix is empty.
const DefaultPrefix = "corral:keyreg:"

// ClockSkew is added to every record's expiry, so that a record outlives its
// value even when the clocks of the Redis nodes holding the value and the
// record disagree by up to this much.
const ClockSkew = redisgroup.ClockSkew

// Options configures a [Registry]. The zero value is ready to use.
type Options struct {
	// Prefix is prepended to a function's name to give the key of its set.
	// Processes that share records must use the same prefix. Default:
	// DefaultPrefix.
	Prefix string
}

// Registry records the keys of cached functions in Redis sorted sets, one
// per function. It is safe for concurrent use.
type Registry struct {
	client redis.Cmdable
	prefix string
}

var _ keyreg.Registry = (*Registry)(nil)
var _ keyreg.Grouped = (*Registry)(nil)

// New returns a Registry that keeps its records in the Redis server (or
// Cluster) behind client, which the caller keeps ownership of. It returns an
// error wrapping ErrInvalidOptions when client is nil.
func New(client redis.Cmdable, o Options) (*Registry, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: client is nil", ErrInvalidOptions)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	return &Registry{client: client, prefix: o.Prefix}, nil
}

// Group returns the key of the sorted set that holds fn's records. A region
// whose backend writes values and records together (redisstore.Store) passes
// it to the backend with each write of fn's values.
func (r *Registry) Group(fn string) string { return r.prefix + fn }

// Namespace returns fn: keys are derived from the function's name alone,
// since ForgetAll deletes them one by one.
func (r *Registry) Namespace(_ context.Context, fn string) (string, error) { return fn, nil }

// Record notes that key was stored for fn, with a value that expires from
// Redis after ttl (zero: never). Errors are Redis errors, wrapped.
func (r *Registry) Record(ctx context.Context, fn, key string, ttl time.Duration) error {
	if err := redisgroup.Record(ctx, r.client, r.Group(fn), ttl, key); err != nil {
		return fmt.Errorf("redisreg: record %q for %q: %w", key, fn, err)
	}
	return nil
}

// Recorded reports whether key is recorded for fn and its record has not
// expired. Errors are Redis errors, wrapped.
func (r *Registry) Recorded(ctx context.Context, fn, key string) (bool, error) {
	score, err := r.client.ZScore(ctx, r.Group(fn), key).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redisreg: lookup %q for %q: %w", key, fn, err)
	}
	return score > float64(time.Now().UnixMilli()), nil
}

// Keys lists the keys recorded for fn whose records have not expired, in no
// particular order. Errors are Redis errors, wrapped.
func (r *Registry) Keys(ctx context.Context, fn string) ([]string, error) {
	keys, err := r.client.ZRangeByScore(ctx, r.Group(fn), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(time.Now().UnixMilli(), 10),
		Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisreg: keys of %q: %w", fn, err)
	}
	return keys, nil
}

// Forget drops the records of keys for fn. Errors are Redis errors, wrapped.
func (r *Registry) Forget(ctx context.Context, fn string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	members := make([]any, len(keys))
	for i, k := range keys {
		members[i] = k
	}
	if err := r.client.ZRem(ctx, r.Group(fn), members...).Err(); err != nil {
		return fmt.Errorf("redisreg: forget keys of %q: %w", fn, err)
	}
	return nil
}

// ForgetAll drops every record of fn and returns the keys it held, expired
// records included (deleting a missing key is harmless). It reads and
// deletes the set in one MULTI/EXEC transaction, so no record made
// concurrently is lost: it is either returned or kept. Errors are Redis
// errors, wrapped.
func (r *Registry) ForgetAll(ctx context.Context, fn string) ([]string, error) {
	set := r.Group(fn)
	var members *redis.StringSliceCmd
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		members = p.ZRange(ctx, set, 0, -1)
		p.Del(ctx, set)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisreg: forget all of %q: %w", fn, err)
	}
	return members.Val(), nil
}

// QueueRecord queues on p the command that records keys in the set (a key
// returned by [Registry.Group]) for values that expire from Redis after ttl
// (zero: never). It is how a backend records keys in the same round
// trip as it writes their values; the command's error is reported by p's
// Exec. The command names one key, so p may belong to a Cluster client.
// (redisstore.Store records through the same internal function.)
func QueueRecord(ctx context.Context, p redis.Pipeliner, set string, ttl time.Duration, keys ...string) {
	redisgroup.QueueRecord(ctx, p, set, ttl, keys...)
}
