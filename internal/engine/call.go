package engine

import (
	"time"

	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/serializer"
)

// Call is what one call asks of the engine: its options, resolved by
// package region, and what the engine learns while answering it.
type Call struct {
	Expiration       time.Duration
	HasExpiration    bool
	IgnoreExpiration bool
	// Fn is the cached function (its registry scope) the call's keys
	// belong to, Gen its generation; empty and nil for other calls.
	Fn  string
	Gen *gens.Func
	// Outcome, when set, receives how the call was answered.
	Outcome *observe.Outcome
	// NegExp is the soft expiration of cached "not found" answers, when
	// HasNegExp.
	NegExp    time.Duration
	HasNegExp bool
	// ShouldCache and ExpirationFunc are the call's WithShouldCache and
	// WithExpirationFunc.
	ShouldCache    func(key string, v any) bool
	ExpirationFunc func(v any) time.Duration
	// Traced is set when the call runs under a SpanCall already.
	Traced bool
	// Tags are the tags of the values the call creates (checked by the
	// façade: see CheckTags).
	Tags []string
	// TagsOf, when set, adds the tags of each key's value (a batch
	// function's per-key tags).
	TagsOf func(key string) ([]string, error)

	// due is set when the call's first read found a fresh entry and drew
	// an early refresh of it.
	due bool
	// early is set for a regeneration started by an early refresh of the
	// entry stored at earlyOf: under the lock it creates unless the entry
	// it finds is another, fresh one.
	early   bool
	earlyOf int64
	// delta is how long the creation of the values to store took.
	delta time.Duration
	// keyTags are the tags each created value is stamped with, when they
	// differ by key (TagsOf).
	keyTags map[string]serializer.Tags
	// faulted is set once the call saw the backend fail (or skipped it):
	// every later step that would reach the backend or the distributed
	// lock is skipped, and nothing is stored.
	faulted bool
}

// report tells the caller, if it asked, how its call was answered.
func (c *Call) report(o observe.Outcome) {
	if c.Outcome != nil {
		*c.Outcome = o
	}
}

// Fault marks the call as having seen the backend fail: the façade's first
// read failed on a fail-open region.
func (c *Call) Fault() { c.faulted = true }
