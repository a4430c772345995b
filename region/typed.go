package region

import (
	"context"
	"fmt"

	"github.com/corralcache/corral/internal/engine"
)

// Typed is a region seen through one value type, named once: its methods
// are the package-level generic functions with T filled in. Unlike them, a
// first read that finds a key holding a value of another type returns an
// error wrapping ErrTypeMismatch, instead of a miss: GetOrCreate then does
// not call its creator, nor overwrite the other value. (The package-level
// functions count such an entry as a decode error, log it and treat it as
// missing, so that GetOrCreate replaces it; they keep doing so.) On a
// backend that stores bytes the check uses the type tag the envelope
// carries (authenticated first on a region with a Keyring, so a tampered
// tag is a miss); on one that keeps values, the stored value's dynamic type. A
// value of another type written between a creation's first read and its
// store is not detected: the creation replaces it.
//
// A cached "not found" (ErrNotFound) fits every type. The zero Typed has no
// region: its methods return an error wrapping ErrInvalidConfig.
type Typed[T any] struct {
	r *Region
}

// NewTyped returns r seen through the value type T.
func NewTyped[T any](r *Region) Typed[T] { return Typed[T]{r: r} }

// strictOf is the ValueType of T for Typed: another type is an error.
type strictOf[T any] struct{ typeOf[T] }

func (strictOf[T]) Strict() bool { return true }

// Region returns the region t reads and writes.
func (t Typed[T]) Region() *Region { return t.r }

// errNoRegion is what the methods of a Typed without a region return.
var errNoRegion = fmt.Errorf("%w: Typed has no region (use NewTyped)", ErrInvalidConfig)

// Get is Get[T] on t's region, except that a value of another type is an
// error wrapping ErrTypeMismatch.
func (t Typed[T]) Get(ctx context.Context, key string, opts ...CallOption) (value T, found bool, err error) {
	if t.r == nil {
		return value, false, errNoRegion
	}
	return get[T](ctx, t.r, key, strictOf[T]{}, opts)
}

// GetMulti is GetMulti[T] on t's region, except that a value of another
// type is an error wrapping ErrTypeMismatch.
func (t Typed[T]) GetMulti(ctx context.Context, keys []string, opts ...CallOption) (map[string]T, error) {
	if t.r == nil {
		return nil, errNoRegion
	}
	return getMulti[T](ctx, t.r, keys, strictOf[T]{}, opts)
}

// GetOrCreate is GetOrCreate[T] on t's region, except that a value of
// another type is an error wrapping ErrTypeMismatch and create is not
// called. As with GetOrCreate, a backend that keeps values hands out the
// stored value itself: do not modify it.
func (t Typed[T]) GetOrCreate(ctx context.Context, key string, create func(context.Context) (T, error), opts ...CallOption) (T, error) {
	if t.r == nil {
		var zero T
		return zero, errNoRegion
	}
	return getOrCreate(ctx, t.r, key, strictOf[T]{}, create, opts)
}

// GetOrCreateMulti is GetOrCreateMulti[T] on t's region, except that a
// value of another type under any key is an error wrapping ErrTypeMismatch
// and create is not called.
func (t Typed[T]) GetOrCreateMulti(ctx context.Context, keys []string, create func(context.Context, []string) ([]T, error), opts ...CallOption) ([]T, error) {
	if t.r == nil {
		return nil, errNoRegion
	}
	return getOrCreateMulti(ctx, t.r, keys, strictOf[T]{}, create, opts)
}

// Set stores value under key, as Region.Set does.
func (t Typed[T]) Set(ctx context.Context, key string, value T, opts ...CallOption) error {
	if t.r == nil {
		return errNoRegion
	}
	return t.r.Set(ctx, key, value, opts...)
}

// Add stores value under key only if the key holds no value, as
// Region.Add does; a value of another type under key is ErrTypeMismatch.
func (t Typed[T]) Add(ctx context.Context, key string, value T, opts ...CallOption) (bool, error) {
	if t.r == nil {
		return false, errNoRegion
	}
	return t.r.put(ctx, key, value, strictOf[T]{}, engine.IfAbsent, opts)
}

// Replace stores value under key only if the key holds a value, as
// Region.Replace does; a value of another type under key is
// ErrTypeMismatch.
func (t Typed[T]) Replace(ctx context.Context, key string, value T, opts ...CallOption) (bool, error) {
	if t.r == nil {
		return false, errNoRegion
	}
	return t.r.put(ctx, key, value, strictOf[T]{}, engine.IfPresent, opts)
}

// Delete removes key, as Region.Delete does.
func (t Typed[T]) Delete(ctx context.Context, key string) error {
	if t.r == nil {
		return errNoRegion
	}
	return t.r.Delete(ctx, key)
}
