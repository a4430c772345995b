package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/serializer"
)

// The creation step: one function for every creation — GetOrCreate's,
// GetOrCreateMulti's and a batch function's, a cached function's Refresh,
// a stale value's regeneration and an early refresh.

// MultiCreator is an untyped creator of several values, one per key, in the
// order of keys.
type MultiCreator func(context.Context, []string) ([]any, error)

// createHeld runs with h held on keys, which read entries under their
// leases: the keys whose entry is fresh (someone created it meanwhile) are
// answered with it — unless it is the entry an early refresh was started
// to replace — and the others are created with one call of create, stored
// under their leases (see storeHeld), and answered with what create
// returned. It releases h. settle, when not nil, is called just before the
// store is sent.
//
// created[i] tells whether values[i] comes from create, out[i] what became
// of it (see storeOutcome). A call that saw the backend fail (h.faulted)
// stores nothing.
func (e *Engine) createHeld(ctx context.Context, h *hold, keys []string, entries []*backend.Entry, create MultiCreator, c *Call, settle func()) (values []any, created []bool, out []storeOutcome, err error) {
	values = make([]any, len(keys))
	created = make([]bool, len(keys))
	out = make([]storeOutcome, len(keys))
	// The generations the values are stamped with: read under the lease
	// (so they hold every invalidation completed before it), now.
	if !h.faulted && e.stampHeld(ctx, h) != nil {
		h.faulted = true // unstamped: nothing is stored
	}
	g := e.gens.Stamp(c.Gen, h.tags...)
	now := e.Now()
	var todo []string
	var at []int
	for i, key := range keys {
		en := entries[i]
		if !h.faulted && e.freshnessOf(ctx, en, c.Gen, now) == Fresh && (!c.early || en.Created != c.earlyOf) {
			values[i] = en.Value
			continue
		}
		todo, at = append(todo, key), append(at, i)
	}
	if len(todo) == 0 {
		e.releaseHold(ctx, h)
		return values, created, out, nil
	}
	if c.TagsOf != nil && !h.faulted {
		if err := e.stampKeyTags(ctx, todo, c); err != nil {
			if errors.Is(err, ErrInvalidTag) || !engineFault(ctx, err) {
				e.releaseHold(ctx, h)
				return nil, nil, nil, err
			}
			h.faulted = true // unstamped: nothing is stored
		}
	}
	keep := e.keepalive(ctx, h)
	if c.early {
		e.stats.earlyRefreshes.Add(ctx, 1)
	}
	cctx, st := e.startStep(ctx, observe.SpanCreate, observe.TimingCreator, todo[0])
	watch := e.startWatch()
	made, err := callCreator(cctx, create, todo)
	c.delta = e.elapsed(watch)
	st.end(err)
	keep.stop()
	if err == nil && len(made) != len(todo) {
		err = fmt.Errorf("%w: %d values for %d keys", ErrCreatorResult, len(made), len(todo))
	}
	if err != nil {
		e.releaseHold(ctx, h)
		return nil, nil, nil, err
	}
	e.stats.regenerations.Add(ctx, uint64(len(todo)))
	for j, i := range at {
		values[i], created[i] = made[j], true
	}
	if h.faulted {
		e.releaseHold(ctx, h)
		return values, created, out, nil
	}
	if settle != nil {
		settle()
	}
	done := e.storeHeld(ctx, h, todo, made, g, c)
	for j, i := range at {
		out[i] = done[j]
	}
	return values, created, out, nil
}

// single is the creator of one key as a MultiCreator; a "not found" it
// returns is an answer to cache when the call caches them.
func (e *Engine) single(create Creator, c *Call) MultiCreator {
	return func(ctx context.Context, _ []string) ([]any, error) {
		v, err := create(ctx)
		v, err = e.asNegative(v, err, c)
		return []any{v}, err
	}
}

// callCreator runs create, turning a panic into a *PanicError.
func callCreator(ctx context.Context, create MultiCreator, keys []string) (values []any, err error) {
	defer func() {
		if p := recover(); p != nil {
			values, err = nil, panicked(p)
		}
	}()
	return create(ctx, keys)
}

// metaOf is the envelope metadata of values stored at created with soft
// expiration exp, whose creation began under g and took delta.
func metaOf(created int64, exp time.Duration, g serializer.Gens, delta time.Duration) serializer.Meta {
	return serializer.Meta{Created: created, Expiration: exp, Gens: g, Delta: delta}
}

// Refresh creates key's value now, whatever the cache holds, and stores it
// under a lease like any creation: a write or invalidation of the key while
// create runs stands. After a backend failure the value is returned, not
// stored. It takes the key's lease without waiting for another creator:
// a refresh is asked for, not shared.
func (e *Engine) Refresh(ctx context.Context, key string, vt ValueType, create Creator, c *Call) (any, error) {
	if err := CheckTags(c.Tags); err != nil {
		return nil, err
	}
	var v any
	err := e.Span(ctx, observe.CallRefresh, key, time.Time{}, func(ctx context.Context) (observe.Outcome, error) {
		h := e.newHold(c)
		_, err := e.tryLease(ctx, h, []string{key}, vt, c.Gen, nil)
		if err != nil && (e.cfg.FailClosed || ctx.Err() != nil || IsMismatch(err)) {
			return 0, err
		}
		if !h.holds(key) {
			// Another creator holds the key's lock: create anyway, under
			// a lease of our own where the backend can give one without the
			// lock — a fence still decides whether this value stores.
			h.faulted = h.faulted || !e.leaseWithoutLock(ctx, h, key)
		}
		defer e.epochs.Wrote(key)
		values, _, _, err := e.createHeld(ctx, h, []string{key}, []*backend.Entry{nil}, e.single(create, c), c, nil)
		if err != nil {
			return 0, err
		}
		v = values[0]
		return observe.OutcomeCreated, nil
	})
	return v, err
}

// holds reports whether h holds key.
func (h *hold) holds(key string) bool {
	for _, hk := range h.keys {
		if hk.key == key {
			return true
		}
	}
	return false
}

// leaseWithoutLock takes a fence on key without its lock, for a Refresh
// whose lock another creator holds: a read for update on a Conditional
// backend (it voids the other creator's fence: the newer creation wins).
// false: no fence can be had, so the refresh will not store.
func (e *Engine) leaseWithoutLock(ctx context.Context, h *hold, key string) bool {
	if _, ok := e.tier.(*byteTier); ok && e.tier.(*byteTier).cond == nil {
		return false
	}
	if t, ok := e.tier.(*valueTier); ok && t.cond == nil {
		return false
	}
	h.add(held{key: key})
	if _, err := e.loadForUpdate(ctx, h, len(h.keys)-1, []string{key}, anyType{}, nil); err != nil || h.faulted {
		return false
	}
	return true
}

// anyType is a ValueType that holds anything and decodes nothing: for
// reads whose value does not matter.
type anyType struct{}

func (anyType) Decode(c *serializer.Codec, bound string, data []byte) (any, serializer.Meta, error) {
	m, err := c.DecodeMeta(data)
	return nil, m, err
}
func (anyType) Holds(any) bool { return true }
func (anyType) Strict() bool   { return false }
func (anyType) Name() string   { return "any" }
