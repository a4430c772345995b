package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/serializer"
)

// Writes: Set and Delete. A write drops the near copies of its keys before
// it returns, and marks them written in this process's epochs, so that no
// later read or creation of this process joins work begun before it.

// Set stores values[i] under keys[i], created now, with the call's
// expiration, and records the keys for the cached function of c.
func (e *Engine) Set(ctx context.Context, keys []string, values []any, c *Call) error {
	if err := CheckTags(c.Tags); err != nil {
		return err
	}
	defer e.epochs.Wrote(keys...)
	defer e.nearDrop(keys...)
	// A written value is as new as the write: stamp it with every
	// invalidation completed before it, in any process, or processes that
	// know of one would treat it as retired. A backend that cannot be read
	// will not be written either: fail fast.
	if err := e.readGensFor(ctx, c.Gen); err != nil {
		return err
	}
	views := e.tagViews(c.Tags)
	if err := e.stampTags(ctx, views); err != nil {
		return err
	}
	exp := e.expiration(c)
	if len(keys) == 0 {
		return nil
	}
	return e.tier.save(ctx, keys, values, metaOf(e.Now(), exp, e.gens.Stamp(c.Gen, views...), 0), e.hardTTL(exp), c.Fn)
}

// Delete removes keys.
func (e *Engine) Delete(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	defer e.epochs.Wrote(keys...)
	defer e.nearDrop(keys...)
	return e.tier.remove(ctx, keys)
}

// Inspection is what Inspect found under a key.
type Inspection struct {
	Present            bool
	State              string
	Meta               serializer.Meta
	Size               int
	Compressed, Sealed bool
	NotFound           bool
	Tags               []TagState
}

// TagState is a tag of an inspected entry: the count it carries, and
// whether that is the tag's current one.
type TagState struct {
	Name    string
	Gen     uint64
	Current bool
}

// inspectTags reads the counters of every tag g carries, whatever the age
// of this process's view, and tells which ones g is current with.
func (e *Engine) inspectTags(ctx context.Context, g *serializer.Gens) []TagState {
	var out []TagState
	var views []*gens.TagView
	for name, gen, pos := g.Tags.Next(0); pos > 0; name, gen, pos = g.Tags.Next(pos) {
		out = append(out, TagState{Name: name, Gen: gen})
		views = append(views, e.tagView(name))
	}
	if len(views) == 0 || e.readTags(ctx, views) != nil {
		return out
	}
	for i, v := range views {
		out[i].Current = v.Current(out[i].Gen)
	}
	return out
}

// Inspect reads the entry under key without decoding its value, creating
// anything, or counting a hit or miss, after reading the region-wide
// generations whatever their age.
func (e *Engine) Inspect(ctx context.Context, key string) (Inspection, error) {
	var in Inspection
	if t, ok := e.tier.(*valueTier); ok {
		ns, k := t.localKey(key)
		en, ok := t.store.LoadEntry(ns, k)
		if !ok {
			return in, nil
		}
		in.Present = true
		in.Meta = serializer.Meta{Created: en.Created, Expiration: en.Expiration, Gens: en.Gens}
		in.NotFound = IsNegative(en.Value)
		in.Tags = e.inspectTags(ctx, &en.Gens)
		in.State = stateName(e.Judge(ctx, en.Created, en.Expiration, &en.Gens, nil, e.Now()))
		return in, nil
	}
	if err := e.readGensFor(ctx, nil); err != nil {
		return in, err
	}
	data, err := e.cfg.Backend.Get(ctx, e.BackendKey(key))
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return in, nil
	case err != nil:
		return in, fmt.Errorf("%w: region %q: inspect %q: %w", ErrBackend, e.name, key, err)
	}
	in.Present = true
	in.Size = len(data)
	env, err := serializer.InspectEnvelope(data)
	if err != nil {
		in.State = "undecodable"
		return in, nil
	}
	in.Compressed, in.Sealed, in.NotFound = env.Compressed, env.Sealed, env.Meta.Negative
	in.Meta = env.Meta
	in.Tags = e.inspectTags(ctx, &env.Meta.Gens)
	in.State = stateName(e.Judge(ctx, env.Meta.Created, env.Meta.Expiration, &env.Meta.Gens, nil, e.Now()))
	return in, nil
}

func stateName(f Freshness) string {
	switch f {
	case Fresh:
		return "fresh"
	case Stale:
		return "stale"
	}
	return "invalidated"
}

var _ = time.Second

// Condition is what a conditional write asks of the key's value.
type Condition uint8

const (
	IfAbsent  Condition = iota + 1 // Add: no usable value (missing, or retired)
	IfPresent                      // Replace: a value, fresh or stale
)

// maxPutTries bounds how often a conditional write starts again after a
// write of its key overtook it.
const maxPutTries = 8

// Put stores value under key if the key's value meets cond, and reports
// whether it did. It is fenced as a creation is: it takes the key's lease
// (waiting, within Config.LockWait, for a creation in progress, so that the
// creation's value counts), judges what the key holds under the lease, and
// stores under it — a write of the key that lands meanwhile, in any
// process, voids the store and Put judges again. A stored value is
// stamped like Set's and is a completed write. A backend that fails, or a
// value it refuses, is an error wrapping ErrBackend: nothing was stored.
func (e *Engine) Put(ctx context.Context, key string, vt ValueType, value any, cond Condition, c *Call) (bool, error) {
	if err := CheckTags(c.Tags); err != nil {
		return false, err
	}
	if _, ok := e.tier.(*byteTier); ok && e.breakerOpen() {
		e.stats.backendSkipped.Add(ctx, 1)
		return false, e.skipErr
	}
	w := e.lockWait(ctx)
	defer w.stop()
	for range maxPutTries {
		h := e.newHold(c)
		a, err := e.waitLease(ctx, h, key, vt, c, w)
		if err != nil {
			return false, err
		}
		if h.faulted {
			e.releaseHold(ctx, h)
			return false, fmt.Errorf("%w: region %q: conditional write of %q: the backend failed", ErrBackend, e.name, key)
		}
		present := a.entry != nil && e.freshnessOf(ctx, a.entry, c.Gen, e.Now()) != Missing
		if present != (cond == IfPresent) {
			e.releaseHold(ctx, h)
			return false, nil
		}
		if a.status != backend.LeaseTaken {
			continue // another creator stored it as we waited: take the lease now
		}
		if err := e.stampHeld(ctx, h); err != nil {
			e.releaseHold(ctx, h)
			return false, err
		}
		out := e.storeHeld(ctx, h, []string{key}, []any{value}, e.gens.Stamp(c.Gen, h.tags...), c)
		switch out[0] {
		case stored:
			e.epochs.Wrote(key)
			return true, nil
		case notStored:
			return false, fmt.Errorf("%w: region %q: conditional write of %q: not stored (see the log)", ErrBackend, e.name, key)
		}
		// Overtaken by a write of the key: judge again.
	}
	return false, fmt.Errorf("%w: region %q: conditional write of %q overtaken %d times", ErrBackend, e.name, key, maxPutTries)
}
