package region

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is the answer "there is no such value". A creator (of
// GetOrCreate, a cached function, Refresh) that returns an error wrapping
// it on a region with negative caching (Config.NegativeExpiration or
// WithNegativeExpiration) has that answer cached, like a value, for the
// negative expiration; until it goes stale, callers of the key get an
// error wrapping ErrNotFound without calling the creator. Get returns it
// with found false; GetMulti leaves such keys out; a batch cached function
// leaves them out of its map. Without negative caching the creator's error
// is returned as it is and nothing is stored.
//
// A cached "not found" is an entry like any other: Set, Delete, Invalidate,
// InvalidateAll, region-wide invalidation and leases treat it as they treat
// values, on every backend.
var ErrNotFound = errors.New("region: not found")

// negativeMarker is the value of a cached "not found". One pointer of it,
// negative, stands for every such entry: in a backend that keeps values it
// is the stored value; in bytes it is an envelope with the negative flag
// and no payload (see serializer.Meta.Negative).
type negativeMarker struct{}

var negative = &negativeMarker{}

// absentMarker stands, in a batch cached function's results, for a key its
// function did not return when there is no negative caching: it goes back to
// nobody and is never stored.
type absentMarker struct{}

var absent = &absentMarker{}

// isNegative reports whether v is a cached "not found".
func isNegative(v any) bool {
	p, ok := v.(*negativeMarker)
	return ok && p != nil
}

// isAbsent reports whether v is a batch result that the function left out.
func isAbsent(v any) bool {
	p, ok := v.(*absentMarker)
	return ok && p != nil
}

// notFound is the error a caller receives for a cached "not found" of key.
func (r *Region) notFound(key string) error {
	return fmt.Errorf("%w: region %q: key %q (cached answer)", ErrNotFound, r.name, key)
}

// negativeExpiration is the soft expiration of the "not found" answers a
// call with options co caches; zero: they are not cached.
func (r *Region) negativeExpiration(co callConfig) time.Duration {
	if co.hasNegExp {
		return co.negExp
	}
	return r.cfg.NegativeExpiration
}

// asNegative turns a creator's error wrapping ErrNotFound into the negative
// marker when the call caches such answers.
// A panic is never an answer, whatever it panicked with.
func (r *Region) asNegative(v any, err error, co callConfig) (any, error) {
	if err == nil || r.negativeExpiration(co) == 0 || !errors.Is(err, ErrNotFound) {
		return v, err
	}
	if pe := (*PanicError)(nil); errors.As(err, &pe) {
		return v, err
	}
	return negative, nil
}

// WithNegativeExpiration sets the soft expiration of the "not found" answers
// a call caches (see ErrNotFound), in place of Config.NegativeExpiration.
// Zero turns negative caching off for the call.
func WithNegativeExpiration(d time.Duration) CallOption {
	return CallOption{kind: optNegExpiration, duration: max(d, 0)}
}

// WithShouldCache adds a predicate to Config.ShouldCache for one call (or,
// given to Cache1 and its kin, for every call of a cached function): a
// created value is stored only when both accept it; a rejected one is
// returned to the callers unstored and counted in Stats.NotCached. A panic
// in fn is recovered, logged, and counts as a refusal. A cached "not found"
// (ErrNotFound) is governed by the negative expiration, not by fn.
func WithShouldCache[T any](fn func(key string, value T) bool) CallOption {
	if fn == nil {
		return CallOption{}
	}
	return CallOption{kind: optShouldCache, pred: func(key string, v any) bool {
		t, ok := v.(T)
		return ok && fn(key, t)
	}}
}

// WithExpirationFunc makes the soft expiration of each value a call
// creates a function of the value: fn's result stands in place of
// WithExpiration and Config.Expiration for that value, and is stored with
// it like any expiration. Zero means the value never goes stale; a
// negative result stores nothing (counted in Stats.NotCached), as does a
// panic in fn, which is logged. It applies to created values (GetOrCreate,
// GetOrCreateMulti, the Call and Refresh of cached functions); Set takes a
// plain WithExpiration. Values created together that get different
// expirations are written in one round trip per distinct expiration.
func WithExpirationFunc[T any](fn func(value T) time.Duration) CallOption {
	if fn == nil {
		return CallOption{}
	}
	return CallOption{kind: optExpirationFunc, expFn: func(v any) time.Duration {
		t, _ := v.(T)
		return fn(t)
	}}
}

// callShouldCache asks the call's own predicate, as shouldCache asks the
// region's.
func (r *Region) callShouldCache(ctx context.Context, key string, v any, co callConfig) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			r.warn(ctx, "corral: WithShouldCache predicate panicked; value not stored", "region", r.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	return co.shouldCache(key, v)
}

// expirationOf is the soft expiration of created value v; ok is false when
// it is not to be stored (WithExpirationFunc said so, or panicked).
func (r *Region) expirationOf(ctx context.Context, key string, v any, co callConfig) (exp time.Duration, ok bool) {
	if co.expFn == nil {
		return r.expiration(co), true
	}
	defer func() {
		if p := recover(); p != nil {
			exp, ok = 0, false
			r.warn(ctx, "corral: WithExpirationFunc panicked; value not stored", "region", r.name, "key", key, "panic", fmt.Sprint(p))
		}
	}()
	exp = co.expFn(v)
	return exp, exp >= 0
}

// storeGroup is the created values of one store that share a soft
// expiration.
type storeGroup struct {
	exp    time.Duration
	keys   []string
	values []any
	lease  lease
}

// groupForStore sorts created values into the writes store makes: values
// the predicates refuse, that WithExpirationFunc refuses, and absent batch
// results are left out (counted as not cached, except absent ones);
// "not found" answers take the negative expiration, values theirs.
func (r *Region) groupForStore(ctx context.Context, keys []string, values []any, l lease, co callConfig) []storeGroup {
	var groups []storeGroup
	for i, key := range keys {
		v := values[i]
		var exp time.Duration
		switch {
		case isAbsent(v):
			continue
		case isNegative(v):
			exp = r.negativeExpiration(co)
		default:
			if (r.cfg.ShouldCache != nil && !r.shouldCache(ctx, key, v)) ||
				(co.shouldCache != nil && !r.callShouldCache(ctx, key, v, co)) {
				r.stats.notCached.Add(1)
				continue
			}
			var ok bool
			if exp, ok = r.expirationOf(ctx, key, v, co); !ok {
				r.stats.notCached.Add(1)
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
		groups[g].keys = append(groups[g].keys, key)
		groups[g].values = append(groups[g].values, v)
		if l != nil {
			groups[g].lease = append(groups[g].lease, l[i])
		}
	}
	return groups
}

// plainStore reports whether created values can be stored as they are, in
// one write under the call's expiration: no predicate, no expiration
// function, no marker among them.
func (r *Region) plainStore(values []any, co callConfig) bool {
	if r.cfg.ShouldCache != nil || co.shouldCache != nil || co.expFn != nil {
		return false
	}
	for _, v := range values {
		if isNegative(v) || isAbsent(v) {
			return false
		}
	}
	return true
}
