package region

import "time"

// CallOption adjusts one call. Options are plain values: passing them
// allocates nothing.
type CallOption struct {
	kind     optionKind
	duration time.Duration
	fn       string
	gen      *funcGen
	outcome  *Outcome
	pred     func(key string, v any) bool // WithShouldCache
	expFn    func(v any) time.Duration    // WithExpirationFunc
}

type optionKind uint8

const (
	optExpiration optionKind = iota + 1
	optIgnoreExpiration
	optRecordFor
	optReportOutcome
	optTraced // internal: the call runs under a span already (observe.go)
	optNegExpiration
	optShouldCache
	optExpirationFunc
)

type callConfig struct {
	expiration       time.Duration
	hasExpiration    bool
	ignoreExpiration bool
	// fn is the cached function a key belongs to; its key is recorded in
	// the registry when a value is stored. gen is its generation.
	fn  string
	gen *funcGen
	// outcome, when set, receives how the call was answered.
	outcome *Outcome
	// due is set when the call's first read found a fresh entry and drew
	// an early refresh of it (see xfetch.go).
	due bool
	// early is set for a regeneration started by an early refresh of the
	// entry stored at earlyOf: under the lock it creates unless the entry
	// it finds is another, fresh one (someone refreshed it meanwhile).
	early   bool
	earlyOf int64
	// delta is how long the creation of the values to store took.
	delta time.Duration
	// traced is set when the call runs under a SpanCall already.
	traced bool
	// negExp is the soft expiration of cached "not found" answers, when
	// hasNegExp (see negative.go).
	negExp    time.Duration
	hasNegExp bool
	// shouldCache and expFn are the call's WithShouldCache and
	// WithExpirationFunc; each given twice, the later one wins.
	shouldCache func(key string, v any) bool
	expFn       func(v any) time.Duration
	// faulted is set once the call saw the backend fail (or skipped it):
	// every later step that would reach the backend or the distributed
	// lock is skipped, and nothing is stored (see breaker.go).
	faulted bool
}

func makeCallConfig(opts []CallOption) callConfig {
	var c callConfig
	for _, o := range opts {
		switch o.kind {
		case optExpiration:
			c.expiration, c.hasExpiration = o.duration, true
		case optIgnoreExpiration:
			c.ignoreExpiration = true
		case optRecordFor:
			c.fn, c.gen = o.fn, o.gen
		case optReportOutcome:
			c.outcome = o.outcome
		case optTraced:
			c.traced = true
		case optNegExpiration:
			c.negExp, c.hasNegExp = o.duration, true
		case optShouldCache:
			c.shouldCache = o.pred
		case optExpirationFunc:
			c.expFn = o.expFn
		}
	}
	return c
}

// report tells the caller, if it asked, how its call was answered.
func (c *callConfig) report(o Outcome) {
	if c.outcome != nil {
		*c.outcome = o
	}
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
// value without error, or a cached "not found" (see ErrNotFound).
// GetOrCreateMulti does not report.
func ReportOutcome(o *Outcome) CallOption {
	return CallOption{kind: optReportOutcome, outcome: o}
}

// recordFor records every key the call stores under the cached function fn,
// whose generation is gen.
func recordFor(fn string, gen *funcGen) CallOption {
	return CallOption{kind: optRecordFor, fn: fn, gen: gen}
}

// funcGenOf returns the generation of the cached function opts are for, if
// any, without building a callConfig.
func funcGenOf(opts []CallOption) *funcGen {
	for i := range opts {
		if opts[i].kind == optRecordFor {
			return opts[i].gen
		}
	}
	return nil
}
