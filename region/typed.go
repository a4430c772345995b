package region

import (
	"context"
	"errors"
	"fmt"

	"github.com/corralcache/corral/backend"
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

// strictOf is the valueType of T for Typed: another type is an error.
type strictOf[T any] struct{ typeOf[T] }

func (strictOf[T]) strict() bool { return true }

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

// Delete removes key, as Region.Delete does.
func (t Typed[T]) Delete(ctx context.Context, key string) error {
	if t.r == nil {
		return errNoRegion
	}
	return t.r.Delete(ctx, key)
}

// isMismatch reports whether a read's err is a value of another type found
// by a strict read (see Typed), rather than a backend failure.
func isMismatch(err error) bool {
	return err != nil && errors.Is(err, ErrTypeMismatch)
}

// mismatch is the error of a strict read of key that found v, a value of
// another type than vt's, in a backend that keeps values.
func (r *Region) mismatch(key string, v any, vt valueType) error {
	return fmt.Errorf("%w: region %q: key %q holds a %T, not a %s", ErrTypeMismatch, r.name, key, v, vt.name())
}

// mismatchDecoding is the error of a strict read of key whose envelope says
// another type; err is decodeAs's.
func (r *Region) mismatchDecoding(key string, err error) error {
	return fmt.Errorf("region %q: key %q: %w", r.name, key, err)
}

// decodeStrict is decode for a strict valueType: an entry written as
// another type is an error rather than a logged miss.
func (r *Region) decodeStrict(ctx context.Context, key string, data []byte, vt valueType, how read) (*backend.Entry, error) {
	v, m, err := vt.decode(r.codec, r.boundKey(key), data)
	if err != nil && errors.Is(err, ErrTypeMismatch) {
		return nil, r.mismatchDecoding(key, err)
	}
	if err != nil {
		if how == firstRead {
			r.decodeError(ctx, key, err)
		}
		return nil, nil
	}
	return &backend.Entry{Value: v, Created: m.Created, Expiration: m.Expiration, Gens: m.Gens, Delta: m.Delta}, nil
}
