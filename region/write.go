package region

import (
	"context"
	"maps"
	"slices"

	"github.com/corralcache/corral/internal/engine"
)

// Set stores value under key, created now, with the region's expiration or
// the one WithExpiration gives. On an in-process backend that keeps values
// the value itself is stored, so read it back as the same type. Errors wrap
// ErrBackend (with ErrBreakerOpen when the backend was skipped) or
// ErrClosed, wrap backend.ErrTooLarge for a value the backend cannot hold
// (counted in Stats.NotCached), or report a value the serializer cannot
// encode.
func (r *Region) Set(ctx context.Context, key string, value any, opts ...CallOption) error {
	return r.setMulti(ctx, []string{key}, []any{value}, makeCall(opts))
}

// SetMulti stores every value of values under its key, in as few round trips
// as the backend allows. Errors are those of Set.
func (r *Region) SetMulti(ctx context.Context, values map[string]any, opts ...CallOption) error {
	keys := slices.Sorted(maps.Keys(values))
	vs := make([]any, len(keys))
	for i, key := range keys {
		vs[i] = values[key]
	}
	return r.setMulti(ctx, keys, vs, makeCall(opts))
}

func (r *Region) setMulti(ctx context.Context, keys []string, values []any, c engine.Call) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	return r.e.Set(ctx, keys, values, &c)
}

// Delete removes key. Deleting a missing key is not an error. Errors wrap
// ErrBackend or ErrClosed.
func (r *Region) Delete(ctx context.Context, key string) error {
	return r.DeleteMulti(ctx, []string{key})
}

// DeleteMulti removes every key. Errors are those of Delete.
func (r *Region) DeleteMulti(ctx context.Context, keys []string) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return r.e.Delete(ctx, keys)
}

// Add stores value under key only if the key holds no value — nothing, or
// an entry retired by an invalidation — and reports whether it did. It is
// fenced like a creation (see Set for what a stored value carries): it takes
// the key's lease, waiting within Config.LockWait for a creation in
// progress (whose value then counts as present), and stores under it; a
// write of the key that lands meanwhile, in any process, makes it judge
// again. Errors are those of Set, and ErrLockTimeout.
func (r *Region) Add(ctx context.Context, key string, value any, opts ...CallOption) (bool, error) {
	return r.put(ctx, key, value, typeOf[any]{}, engine.IfAbsent, opts)
}

// Replace stores value under key only if the key holds a value, fresh or
// stale, and reports whether it did; fenced as Add is.
func (r *Region) Replace(ctx context.Context, key string, value any, opts ...CallOption) (bool, error) {
	return r.put(ctx, key, value, typeOf[any]{}, engine.IfPresent, opts)
}

func (r *Region) put(ctx context.Context, key string, value any, vt engine.ValueType, cond engine.Condition, opts []CallOption) (bool, error) {
	if err := r.usable(ctx); err != nil {
		return false, err
	}
	c := makeCall(opts)
	return r.e.Put(ctx, key, vt, value, cond, &c)
}
