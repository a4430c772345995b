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
		out[i].Current = v.Known() && !v.Missing() && out[i].Gen >= v.Load()
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
