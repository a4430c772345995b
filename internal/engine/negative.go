package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// negativeMarker is the value of a cached "not found". One pointer of it,
// Negative, stands for every such entry: in a tier that keeps values it is
// the stored value; in bytes it is an envelope with the negative flag and
// no payload (see serializer.Meta.Negative).
type negativeMarker struct{}

// Negative is the value of a cached "not found".
var Negative any = &negativeMarker{}

// absentMarker stands, in a batch cached function's results, for a key its
// function did not return when there is no negative caching: it goes back
// to nobody and is never stored.
type absentMarker struct{}

// Absent is a batch result the function left out.
var Absent any = &absentMarker{}

// notFoundAnswer is a "not found" a creator just gave, to be cached: the
// calls it answers get the creator's own error, not "a cached answer".
type notFoundAnswer struct{ cause error }

// IsNegative reports whether v is a cached "not found", or one to cache.
func IsNegative(v any) bool {
	switch p := v.(type) {
	case *negativeMarker:
		return p != nil
	case *notFoundAnswer:
		return p != nil
	}
	return false
}

// NotFoundError is the error of a call answered with v, a "not found"
// (IsNegative): the creator's own error when a creation just gave it,
// NotFound(key) when it was cached.
func (e *Engine) NotFoundError(key string, v any) error {
	if a, ok := v.(*notFoundAnswer); ok && a != nil {
		return a.cause
	}
	return e.NotFound(key)
}

// IsAbsent reports whether v is a batch result the function left out.
func IsAbsent(v any) bool {
	p, ok := v.(*absentMarker)
	return ok && p != nil
}

// NotFound is the error a caller receives for a cached "not found" of key.
func (e *Engine) NotFound(key string) error {
	return fmt.Errorf("%w: region %q: key %q (cached answer)", ErrNotFound, e.name, key)
}

// negativeExpiration is the soft expiration of the "not found" answers a
// call caches; zero: they are not cached.
func (e *Engine) negativeExpiration(c *Call) time.Duration {
	if c.HasNegExp {
		return c.NegExp
	}
	return e.cfg.NegativeExpiration
}

// NegativeCaching reports whether the call caches "not found" answers.
func (e *Engine) NegativeCaching(c *Call) bool { return e.negativeExpiration(c) > 0 }

// asNegative turns a creator's error wrapping ErrNotFound into the
// negative marker when the call caches such answers; cause is the
// creator's own error, which the call that ran it returns (see
// createdNotFound). A panic is never an answer, whatever it panicked with.
func (e *Engine) asNegative(v any, err error, c *Call) (any, error) {
	if err == nil || e.negativeExpiration(c) == 0 || !errors.Is(err, ErrNotFound) {
		return v, err
	}
	if pe := (*PanicError)(nil); errors.As(err, &pe) {
		return v, err
	}
	return &notFoundAnswer{cause: err}, nil
}

// callShouldCache asks the call's own predicate, as shouldCache asks the
// region's.
func (e *Engine) callShouldCache(ctx context.Context, key string, v any, c *Call) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			e.warn(ctx, "corral: WithShouldCache predicate panicked; value not stored", "region", e.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	return c.ShouldCache(key, v)
}

// shouldCache asks Config.ShouldCache about a created value. A panic in it
// is logged and counts as a refusal.
func (e *Engine) shouldCache(ctx context.Context, key string, v any) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			e.warn(ctx, "corral: ShouldCache panicked; value not stored", "region", e.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	return e.cfg.ShouldCache(key, v)
}

// expiration is the soft expiration of a write of the call.
func (e *Engine) expiration(c *Call) time.Duration {
	if c.HasExpiration {
		return c.Expiration
	}
	return e.cfg.Expiration
}

// expirationOf is the soft expiration of created value v; ok is false when
// it is not to be stored (WithExpirationFunc said so, or panicked).
func (e *Engine) expirationOf(ctx context.Context, key string, v any, c *Call) (exp time.Duration, ok bool) {
	if c.ExpirationFunc == nil {
		return e.expiration(c), true
	}
	defer func() {
		if p := recover(); p != nil {
			exp, ok = 0, false
			e.warn(ctx, "corral: WithExpirationFunc panicked; value not stored", "region", e.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	exp = c.ExpirationFunc(v)
	return exp, exp >= 0
}

// storeGroup is the created values of one store that share a soft
// expiration; idx are their indexes among the creation's keys.
type storeGroup struct {
	exp time.Duration
	idx []int
}

// groupForStore sorts created values into the writes a store makes: values
// the predicates refuse, that WithExpirationFunc refuses, and absent batch
// results are left out (counted as not cached, except absent ones);
// "not found" answers take the negative expiration, values theirs.
func (e *Engine) groupForStore(ctx context.Context, keys []string, values []any, c *Call) []storeGroup {
	if e.cfg.ShouldCache == nil && c.ShouldCache == nil && c.ExpirationFunc == nil && !anyMarker(values) {
		idx := make([]int, len(keys))
		for i := range idx {
			idx[i] = i
		}
		return []storeGroup{{exp: e.expiration(c), idx: idx}}
	}
	var groups []storeGroup
	for i, key := range keys {
		v := values[i]
		var exp time.Duration
		switch {
		case IsAbsent(v):
			continue
		case IsNegative(v):
			exp = e.negativeExpiration(c)
		default:
			if (e.cfg.ShouldCache != nil && !e.shouldCache(ctx, key, v)) ||
				(c.ShouldCache != nil && !e.callShouldCache(ctx, key, v, c)) {
				e.stats.notCached.Add(ctx, 1)
				continue
			}
			var ok bool
			if exp, ok = e.expirationOf(ctx, key, v, c); !ok {
				e.stats.notCached.Add(ctx, 1)
				continue
			}
		}
		g := 0
		for g < len(groups) && groups[g].exp != exp {
			g++
		}
		if g == len(groups) {
			groups = append(groups, storeGroup{exp: exp})
		}
		groups[g].idx = append(groups[g].idx, i)
	}
	return groups
}

func anyMarker(values []any) bool {
	for _, v := range values {
		if IsNegative(v) || IsAbsent(v) {
			return true
		}
	}
	return false
}
