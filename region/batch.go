package region

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corralcache/corral/internal/engine"
	"github.com/corralcache/corral/keyreg"
)

// BatchFunc is a cached batch function, made by CacheBatch: a function that
// loads many values in one call (a SQL "WHERE id IN (…)", a multi-get of
// another service) whose results are cached one per key.
type BatchFunc[K comparable, V any] struct {
	cachedFunc[V]
	fn func(context.Context, []K) (map[K]V, error)
}

// CacheBatch wraps fn, which returns the values of the keys it is given
// (leaving out those it has none for), into a cached batch function whose
// results are stored in r one per key, under the key a Cache1 of the same
// name would use for that argument (see Named). Its options are those of
// Cache1. Errors wrap ErrInvalidConfig.
func CacheBatch[K comparable, V any](r *Region, fn func(context.Context, []K) (map[K]V, error), opts ...FuncOption) (*BatchFunc[K, V], error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: CacheBatch of a nil function", ErrInvalidConfig)
	}
	core, err := newCachedFunc[V](r, fn, opts, 0)
	if err != nil {
		return nil, err
	}
	return &BatchFunc[K, V]{cachedFunc: core, fn: fn}, nil
}

// Call returns the results for keys, by key. It reads every key in one
// multi-get and calls the function once, with only the keys that are
// missing or stale, under their dogpile locks (as GetOrCreateMulti does:
// locks taken in sorted order, bounded by Config.LockWait, the keys read
// again once held); the results are stored with leases and recorded in the
// registry one key at a time, so Invalidate(k) and InvalidateAll reach them
// from any process sharing the backend.
//
// A key the function leaves out of its map is left out of Call's map too:
// with negative caching (WithNegativeExpiration, Config.NegativeExpiration)
// that answer is cached and later calls do not ask the function for the
// key until it goes stale; without, nothing is stored for it. The function
// runs in the caller's goroutine, with ctx. A backend that keeps values
// hands out the stored values themselves: do not modify them.
//
// Errors: the function's error (nothing is stored then); ErrLockTimeout;
// ctx.Err(); ErrClosed; ErrNilContext; ErrBackend on a fail-closed region;
// a *PanicError; an error wrapping keyreg.ErrUnencodable for a key that
// cannot be encoded.
func (f *BatchFunc[K, V]) Call(ctx context.Context, keys []K, opts ...CallOption) (map[K]V, error) {
	if err := f.r.usable(ctx); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return map[K]V{}, nil
	}
	skeys, args, err := f.keysOf(ctx, keys)
	if err != nil {
		if errors.Is(err, ErrBackend) && !f.r.cfg.FailClosed {
			return f.fn(ctx, keys) // the registry failed: uncached
		}
		return nil, err
	}
	if len(opts) > 0 {
		opts = append(slices.Clip(f.opts), opts...)
	} else {
		opts = f.opts
	}
	c := makeCall(opts)
	if f.keyTags != nil {
		c.TagsOf = func(key string) ([]string, error) { return f.keyTags(args[key]) }
	}
	negCache := f.r.e.NegativeCaching(&c)
	uniq := sortedUnique(skeys)
	got, err := f.r.e.GetOrCreateMulti(ctx, uniq, typeOf[V]{}, func(ctx context.Context, todo []string) ([]any, error) {
		ks := make([]K, len(todo))
		for i, k := range todo {
			ks[i] = args[k]
		}
		found, err := f.fn(ctx, ks)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(todo))
		for i, k := range ks {
			v, ok := found[k]
			switch {
			case ok:
				out[i] = v
			case negCache:
				out[i] = engine.Negative
			default:
				out[i] = engine.Absent
			}
		}
		return out, nil
	}, &c, nil, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make(map[K]V, len(got))
	for k, v := range got {
		if engine.IsNegative(v) || engine.IsAbsent(v) {
			continue
		}
		t, err := typed[V](v, nil)
		if err != nil {
			return nil, err
		}
		out[args[k]] = t
	}
	return out, nil
}

// keysOf derives the key of every argument, in order, and maps each key
// back to its argument.
func (f *BatchFunc[K, V]) keysOf(ctx context.Context, keys []K) ([]string, map[string]K, error) {
	if err := f.r.usable(ctx); err != nil {
		return nil, nil, err
	}
	out := make([]string, len(keys))
	args := make(map[string]K, len(keys))
	for i, k := range keys {
		key, err := keyreg.Key(f.name, k)
		if err != nil {
			return nil, nil, err
		}
		out[i] = key
		args[key] = k
	}
	return out, args, nil
}

// Get returns the cached result for k without calling the function; found
// is false when there is no fresh one, and err wraps ErrNotFound for a
// cached "not found".
func (f *BatchFunc[K, V]) Get(ctx context.Context, k K) (v V, found bool, err error) {
	return f.get(ctx, k)
}

// Set stores v as the result for k (write-through after a write) and
// records its key.
func (f *BatchFunc[K, V]) Set(ctx context.Context, k K, v V) error {
	return f.set(ctx, v, k)
}

// Invalidate removes the cached result for k and forgets its key.
func (f *BatchFunc[K, V]) Invalidate(ctx context.Context, k K) error {
	return f.invalidate(ctx, k)
}

// Key returns the key of k and whether the registry has it recorded.
func (f *BatchFunc[K, V]) Key(ctx context.Context, k K) (key string, recorded bool, err error) {
	return f.lookup(ctx, k)
}
