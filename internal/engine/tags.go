package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/internal/keyspace"
	"github.com/corralcache/corral/serializer"
)

// Tags are generations too (see gens.TagView): a counter per tag, in the
// backend, raised by InvalidateTags; a value carries the counts of its
// tags its creation began under, read with the creation's lease (or, for a
// Set, before it), and is retired once a count it carries is behind.
// Judging an entry that carries tags reads first the tags' counters this
// process has not read (tagsCurrent): once per process, then they are
// refreshed with the region's generations, every InvalidationRefresh. In-process stores keep
// the counters in the store itself, read at every judgment.

// ErrInvalidTag is wrapped by the error for an empty tag, one longer than
// serializer.MaxTagLen bytes, or more than serializer.MaxTags tags on one
// value.
var ErrInvalidTag = errors.New("invalid tag")

// CheckTags returns an error wrapping ErrInvalidTag unless tags may tag
// one value.
func CheckTags(tags []string) error {
	if len(tags) > serializer.MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d per value", ErrInvalidTag, len(tags), serializer.MaxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > serializer.MaxTagLen {
			return fmt.Errorf("%w: %q: a tag is 1 to %d bytes", ErrInvalidTag, t, serializer.MaxTagLen)
		}
	}
	return nil
}

// tagKey is the backend key of tag's counter.
func (e *Engine) tagKey(tag string) string { return e.mangle(keyspace.Tag(tag)) }

// tagViews returns the views of tags.
func (e *Engine) tagViews(tags []string) []*gens.TagView {
	if len(tags) == 0 {
		return nil
	}
	out := make([]*gens.TagView, len(tags))
	for i, t := range tags {
		out[i] = e.tagView(t)
	}
	return out
}

// tagView returns the view of tag.
func (e *Engine) tagView(tag string) *gens.TagView {
	if v, ok := e.gens.LookupTag(tag); ok {
		return v
	}
	return e.gens.Tag(tag, e.tagKey(tag))
}

// tagsCurrent reports whether g is current with every tag it carries,
// reading first the counters this process has not read (in-process: every
// one): the judgment of a tagged value, in one pass over its tags. A read
// that fails leaves them unknown: not current.
func (e *Engine) tagsCurrent(ctx context.Context, g *serializer.Gens) bool {
	_, inProcess := e.tier.(*valueTier)
	var need []*gens.TagView
	for tag, gen, pos := g.Tags.Next(0); pos > 0; tag, gen, pos = g.Tags.Next(pos) {
		v := e.tagView(tag)
		switch {
		case inProcess || !v.Known():
			need = append(need, v)
		case !v.Current(gen):
			return false
		}
	}
	if len(need) == 0 {
		return true
	}
	if e.readTags(ctx, need) != nil {
		return false
	}
	for tag, gen, pos := g.Tags.Next(0); pos > 0; tag, gen, pos = g.Tags.Next(pos) {
		if v, ok := e.gens.LookupTag(tag); !ok || !v.Current(gen) {
			return false
		}
	}
	return true
}

// readTags reads the counters of views and sets the views.
func (e *Engine) readTags(ctx context.Context, views []*gens.TagView) error {
	if t, ok := e.tier.(*valueTier); ok {
		for _, v := range views {
			var data []byte
			if en, ok := t.store.LoadEntry("", v.Key); ok {
				if g, ok := en.Value.(uint64); ok {
					data = gens.Encode(g)
				}
			}
			v.Learn(data)
		}
		return nil
	}
	return e.readGens(ctx, nil, nil, views...)
}

// ensureTags makes the counters of the views found missing: it raises
// them (a missing counter has retired every value carrying it already, so
// raising it retires nothing more). A creation does so before it stamps
// its value, which would be retired at once otherwise.
func (e *Engine) ensureTags(ctx context.Context, views []*gens.TagView) error {
	for _, v := range views {
		if v.Known() && !v.Missing() {
			continue
		}
		if err := e.bumpTag(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// bumpTag raises v's counter.
func (e *Engine) bumpTag(ctx context.Context, v *gens.TagView) error {
	t, ok := e.tier.(*valueTier)
	if !ok {
		// The shared counter, as the region's marks (a failure raises the
		// view here at least).
		if err := e.bump(ctx, v.Key, &v.View); err != nil {
			return err
		}
		v.Made(v.Load())
		return nil
	}
	// In-process: the counter is an entry of the store, raised by a
	// compare-and-swap where the store has one.
	for {
		var cur []byte
		var ver backend.Version
		var en *backend.Entry
		if t.cond != nil {
			en, ver = t.cond.LoadEntryForUpdate("", v.Key, e.leaseTTL())
		} else {
			en, _ = t.store.LoadEntry("", v.Key)
		}
		if en != nil {
			if g, ok := en.Value.(uint64); ok {
				cur = gens.Encode(g)
			}
		}
		next := gens.Next(cur, v.Load())
		stored := &backend.Entry{Value: next, Created: e.Now()}
		if t.cond == nil {
			t.store.StoreEntry("", v.Key, stored, 0)
		} else if !t.cond.StoreEntryIf("", v.Key, stored, 0, ver) {
			continue
		}
		v.Made(next)
		return nil
	}
}

// stampTags reads the counters of the tags of a creation or a write that
// begins now, making the missing ones; the views then hold what it is
// stamped with. A failure makes the call faulted: nothing is stored.
func (e *Engine) stampTags(ctx context.Context, views []*gens.TagView) error {
	if len(views) == 0 {
		return nil
	}
	if err := e.readTags(ctx, views); err != nil {
		return err
	}
	return e.ensureTags(ctx, views)
}

// stampHeld makes the tag views of h hold what its values are stamped
// with: the counters read with the lease when they were (else read now),
// the missing ones made.
func (e *Engine) stampHeld(ctx context.Context, h *hold) error {
	if h.tagsRead {
		return e.ensureTags(ctx, h.tags)
	}
	return e.stampTags(ctx, h.tags)
}

// stampKeyTags reads (and makes) the counters of the per-key tags of keys
// (c.TagsOf, beside c.Tags) in one read, and keeps what each key's value
// is stamped with in c.keyTags. A tag function's invalid tag is an error
// wrapping ErrInvalidTag.
func (e *Engine) stampKeyTags(ctx context.Context, keys []string, c *Call) error {
	perKey := make(map[string][]*gens.TagView, len(keys))
	var all []*gens.TagView
	seen := map[*gens.TagView]bool{}
	for _, key := range keys {
		more, err := c.TagsOf(key)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		names := append(slices.Clip(c.Tags), more...)
		if err := CheckTags(names); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		views := e.tagViews(names)
		perKey[key] = views
		for _, v := range views {
			if !seen[v] {
				seen[v] = true
				all = append(all, v)
			}
		}
	}
	if err := e.stampTags(ctx, all); err != nil {
		return err
	}
	c.keyTags = make(map[string]serializer.Tags, len(keys))
	for key, views := range perKey {
		c.keyTags[key] = e.gens.Stamp(nil, views...).Tags
	}
	return nil
}

// metaFor is m for key's value: with its own tags when they differ by key.
func (c *Call) metaFor(key string, m serializer.Meta) serializer.Meta {
	if t, ok := c.keyTags[key]; ok {
		m.Gens.Tags = t
	}
	return m
}

// InvalidateTags retires every value carrying any of tags, in every region
// of any process whose backend holds the counters: it raises each tag's
// counter. In this engine it holds at once; other engines read the
// counters within InvalidationRefresh.
func (e *Engine) InvalidateTags(ctx context.Context, tags []string) error {
	defer e.epochs.WroteAll()
	var first error
	for _, v := range e.tagViews(tags) {
		e.stats.tagInvalidations.Add(ctx, 1)
		if err := e.bumpTag(ctx, v); err != nil { // held here at least: see bump
			if first == nil {
				first = err
			}
		}
	}
	return first
}
