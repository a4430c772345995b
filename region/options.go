package region

import (
	"time"

	"github.com/corralcache/corral/internal/engine"
	"github.com/corralcache/corral/internal/gens"
)

// CallOption adjusts one call. Options are plain values: passing them
// allocates nothing.
type CallOption struct {
	kind     optionKind
	duration time.Duration
	fn       string
	gen      *gens.Func
	outcome  *Outcome
	pred     func(key string, v any) bool // WithShouldCache
	expFn    func(v any) time.Duration    // WithExpirationFunc
	tags     []string                     // WithTags
}

type optionKind uint8

const (
	optExpiration optionKind = iota + 1
	optIgnoreExpiration
	optRecordFor
	optReportOutcome
	optTraced // internal: the call runs under a span already
	optNegExpiration
	optShouldCache
	optExpirationFunc
	optTags
)

// makeCall resolves opts into what the engine takes; later options win.
func makeCall(opts []CallOption) engine.Call {
	var c engine.Call
	for _, o := range opts {
		switch o.kind {
		case optExpiration:
			c.Expiration, c.HasExpiration = o.duration, true
		case optIgnoreExpiration:
			c.IgnoreExpiration = true
		case optRecordFor:
			c.Fn, c.Gen = o.fn, o.gen
		case optReportOutcome:
			c.Outcome = o.outcome
		case optTraced:
			c.Traced = true
		case optNegExpiration:
			c.NegExp, c.HasNegExp = o.duration, true
		case optShouldCache:
			c.ShouldCache = o.pred
		case optExpirationFunc:
			c.ExpirationFunc = o.expFn
		case optTags:
			c.Tags = append(c.Tags, o.tags...)
		}
	}
	return c
}

// WithTags tags the values a call creates or writes (GetOrCreate, Set,
// their Multi forms; a cached function's calls). InvalidateTags of any of
// them retires the value: a value whose creation began before the
// invalidation completed is never served after it — in this process at
// once, in others within Config.InvalidationRefresh. Tags add up across
// options; a value carries at most serializer.MaxTags tags of 1 to
// serializer.MaxTagLen bytes (else the call returns an error wrapping
// ErrInvalidTag when it creates or writes). Tags are shared by every region
// on the same backend: "user:42" is one tag for all of them.
func WithTags(tags ...string) CallOption {
	return CallOption{kind: optTags, tags: tags}
}

// WithExpiration sets the soft expiration of the values a call writes, in
// place of Config.Expiration. It is stored with each value, so every later
// read honours it. Zero means the values never go stale. Given to Cache1
// (and its kin, CacheBatch), it sets the expiration of every result of the
// cached function.
func WithExpiration(d time.Duration) CallOption {
	return CallOption{kind: optExpiration, duration: max(d, 0)}
}

// IgnoreExpiration makes Get and GetMulti return values whose soft
// expiration has passed (stale values). Values retired by a Hard
// invalidation stay missing.
func IgnoreExpiration() CallOption {
	return CallOption{kind: optIgnoreExpiration}
}

// ReportOutcome makes GetOrCreate, and the Call of a cached function, store
// in *o how the call was answered. It is set only when the call returns a
// value without error, or a "not found" (see ErrNotFound).
// GetOrCreateMulti does not report.
func ReportOutcome(o *Outcome) CallOption {
	return CallOption{kind: optReportOutcome, outcome: o}
}

// recordFor records every key the call stores under the cached function fn,
// whose generation is gen.
func recordFor(fn string, gen *gens.Func) CallOption {
	return CallOption{kind: optRecordFor, fn: fn, gen: gen}
}

// funcGenOf returns the generation of the cached function opts are for, if
// any, without resolving every option.
func funcGenOf(opts []CallOption) *gens.Func {
	for i := range opts {
		if opts[i].kind == optRecordFor {
			return opts[i].gen
		}
	}
	return nil
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
