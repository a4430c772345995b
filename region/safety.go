package region

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"

	"github.com/corralcache/corral/serializer"
)

// A region calls code it does not own — creators, ShouldCache, the
// serializer, the locker, the registry, the logger's handler — in goroutines
// it owns. A panic there would end the process, out of any caller's reach,
// so every such call goes through one of the guards below: a panic becomes
// an error for the callers, is logged, and the lock is released.

// usable returns ErrClosed after Close, ErrNilContext for a nil ctx, and
// nil otherwise. Every public entry point checks it first.
func (r *Region) usable(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if ctx == nil {
		return ErrNilContext
	}
	return nil
}

// panicked turns a recovered panic value into a *PanicError.
func panicked(p any) *PanicError {
	return &PanicError{Value: p, Stack: debug.Stack()}
}

// warn logs at Warn level. A logger whose handler panics loses the line, not
// the process.
func (r *Region) warn(ctx context.Context, msg string, args ...any) {
	r.log(ctx, slog.LevelWarn, msg, args...)
}

// log logs at level, as warn does.
func (r *Region) log(ctx context.Context, level slog.Level, msg string, args ...any) {
	defer func() { _ = recover() }()
	r.cfg.Logger.Log(ctx, level, msg, args...)
}

// encode is the codec's EncodeFor, bound to bound (see Region.boundKey),
// with a panic of the serializer as an error.
func (r *Region) encode(bound string, v any, m serializer.Meta) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("serializer: encode %T: %w", v, panicked(p))
		}
	}()
	if isNegative(v) {
		// No payload, no type: "not found" fits any type. With a Keyring
		// the codec seals it, bound to its key like a value.
		m.Negative = true
		return r.codec.EncodeFor(bound, nil, m)
	}
	m.Type = serializer.TypeTag(reflect.TypeOf(v))
	return r.codec.EncodeFor(bound, v, m)
}

// decodeAs decodes data into *v, unless the envelope says it was written as
// a type other than T: such bytes would decode, or half decode, into the
// wrong value. Two regions or cached functions sharing a name with
// different value types make that happen; it is a decode error, hence a
// miss, and it says so. bound is the backend key data was read from (see
// Region.boundKey).
func decodeAs[T any](c *serializer.Codec, bound string, data []byte, v *T) (serializer.Meta, error) {
	if want := serializer.TypeTag(reflect.TypeFor[T]()); want != 0 {
		if m, err := c.DecodeMeta(data); err == nil && m.Type != 0 && m.Type != want {
			if c.Seals() {
				// The type tag is authenticated only with the payload:
				// bytes tampered with are a decode error, not a value of
				// another type (which a Typed read would refuse to replace).
				if _, err := c.Verify(bound, data); err != nil {
					return serializer.Meta{}, err
				}
			}
			return serializer.Meta{}, fmt.Errorf("%w: %w: the entry was written as another Go type than %v (do two regions, or cached functions, share a name?)",
				serializer.ErrDecode, ErrTypeMismatch, reflect.TypeFor[T]())
		}
	}
	return decodeInto(c, bound, data, v)
}

// decodeInto is c.DecodeFor, with a panic of the serializer as a decode
// error: the entry is a miss, like any other undecodable bytes.
func decodeInto(c *serializer.Codec, bound string, data []byte, v any) (m serializer.Meta, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = serializer.Meta{}, fmt.Errorf("%w: serializer panicked: %v", serializer.ErrDecode, p)
		}
	}()
	return c.DecodeFor(bound, data, v)
}

// shouldCache asks Config.ShouldCache about a created value. A panic in it
// is logged and counts as a refusal: the value goes back to the callers
// unstored.
func (r *Region) shouldCache(ctx context.Context, key string, v any) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			r.warn(ctx, "corral: ShouldCache panicked; value not stored", "region", r.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	return r.cfg.ShouldCache(key, v)
}

// fly runs body, the work of a flight in a goroutine the region owns, and
// lands the flight with its result. A panic in body lands it with a
// *PanicError, logged, so the waiters get an error rather than the process
// ending; locks taken in body are released by body's own defers.
func (r *Region) fly(ctx context.Context, key string, f *flight, body func() (any, bool, error)) {
	v, created, err := r.safely(ctx, key, body)
	r.land(key, f, v, created, err)
}

// safely runs body, turning a panic into a logged *PanicError.
func (r *Region) safely(ctx context.Context, key string, body func() (any, bool, error)) (v any, created bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			pe := panicked(p)
			v, created, err = nil, false, pe
			r.warn(ctx, "corral: panic in a region goroutine; returned to the callers as an error", "region", r.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	return body()
}
