package engine

import (
	"context"
	"slices"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/observe"
)

// GetOrCreateMulti is GetOrCreateMulti's untyped core: the values of keys,
// by key, the missing and stale ones created with create under their
// leases; data, when not nil, holds the bytes of a first read (nil:
// missing), which began at began (zero: unknown). See
// region.GetOrCreateMulti.
//
// Keys are leased in one step, without waiting: the stale ones a creator
// of another caller holds are served stale; the missing ones taken are
// created at once (one creator call). Keys whose lease another caller
// holds are then waited for one at a time, in sorted order, holding
// nothing but the keys of that wait — a call never waits while holding a
// lease another waits for, so two calls never deadlock — and are answered
// by what that caller stored, or created in a second call of create.
//
// With a Tracer, the call gets a SpanCall named by its first key, begun
// with its first read; a call whose every key is fresh gets none unless
// the Tracer traces hits, as for GetOrCreate.
func (e *Engine) GetOrCreateMulti(ctx context.Context, keys []string, vt ValueType, create MultiCreator, c *Call, data [][]byte, began time.Time) (map[string]any, error) {
	if err := CheckTags(c.Tags); err != nil {
		return nil, err
	}
	got := make(map[string]any, len(keys))
	if began.IsZero() {
		began = e.TraceStart()
	}
	if e.traceHits {
		// Every call gets a span, its first read included.
		err := e.Span(ctx, observe.CallGetOrCreateMulti, keysSpanName(keys), began, func(ctx context.Context) (observe.Outcome, error) {
			rd, err := e.readMulti(ctx, keys, vt, c, data, got)
			if err != nil {
				return 0, err
			}
			return e.createMulti(ctx, rd, vt, create, c, got)
		})
		return got, err
	}
	rd, err := e.readMulti(ctx, keys, vt, c, data, got)
	if err == nil && len(rd.stale) == 0 && len(rd.missing) == 0 {
		return got, nil // every key fresh: answered by the read, no span
	}
	err = e.Span(ctx, observe.CallGetOrCreateMulti, keysSpanName(keys), began, func(ctx context.Context) (observe.Outcome, error) {
		if err != nil {
			return 0, err
		}
		return e.createMulti(ctx, rd, vt, create, c, got)
	})
	return got, err
}

// multiRead is what a multi call's first read left to do: the keys it
// found stale (served or regenerated) and missing (created).
type multiRead struct {
	stale        []string
	staleEntries []*backend.Entry
	missing      []string
}

// readMulti reads keys (or decodes data), puts the fresh values into got,
// counting each a hit, and returns the keys left to answer.
func (e *Engine) readMulti(ctx context.Context, keys []string, vt ValueType, c *Call, data [][]byte, got map[string]any) (multiRead, error) {
	var rd multiRead
	uniq := keys
	if data == nil {
		uniq = slices.Compact(slices.Sorted(slices.Values(keys)))
	}
	entries, err := e.tier.loadMulti(ctx, uniq, vt, true, data)
	if err != nil {
		if e.cfg.FailClosed || ctx.Err() != nil || IsMismatch(err) {
			return rd, err
		}
		c.faulted = true
	}
	now := e.Now()
	for i, key := range uniq {
		en := entries[i]
		switch e.freshnessOf(ctx, en, c.Gen, now) {
		case Fresh:
			e.stats.hits.Add(ctx, 1)
			got[key] = en.Value
			continue
		case Stale:
			if !e.cfg.BlockOnStale {
				rd.stale, rd.staleEntries = append(rd.stale, key), append(rd.staleEntries, en)
				continue
			}
		}
		rd.missing = append(rd.missing, key)
	}
	return rd, nil
}

// createMulti answers the keys rd left: it serves or regenerates the stale
// ones and creates the missing ones, putting their values into got. The
// outcome is the costliest way a key of the call was answered (see
// costlier).
func (e *Engine) createMulti(ctx context.Context, rd multiRead, vt ValueType, create MultiCreator, c *Call, got map[string]any) (observe.Outcome, error) {
	outcome := observe.OutcomeHit
	h := e.newHold(c)
	var regen []string
	var regenEntries []*backend.Entry
	if len(rd.stale) > 0 {
		as, err := e.tryLease(ctx, h, rd.stale, vt, c.Gen, nil)
		if err != nil {
			e.releaseHold(ctx, h)
			return 0, err
		}
		for i, a := range as {
			if a.status != backend.LeaseTaken || h.faulted || e.cfg.BackgroundRegeneration {
				e.stats.staleServed.Add(ctx, 1)
				got[rd.stale[i]] = rd.staleEntries[i].Value
				outcome = costlier(outcome, observe.OutcomeStale)
			}
			if a.status == backend.LeaseTaken {
				regen, regenEntries = append(regen, rd.stale[i]), append(regenEntries, a.entry)
			}
		}
		if e.cfg.BackgroundRegeneration && len(regen) > 0 {
			bg, bgKeys, bgEntries, cc := h, regen, regenEntries, *c
			if !e.goOwned(ctx, func(ctx context.Context) {
				_, _, err := e.safely(ctx, bgKeys[0], func() (any, bool, error) {
					_, _, _, err := e.createHeld(ctx, bg, bgKeys, bgEntries, create, &cc, nil)
					return nil, false, err
				})
				if err != nil {
					e.warn(ctx, "corral: background regeneration failed", "region", e.name, "keys", bgKeys, "err", err)
				}
			}) {
				e.releaseHold(ctx, bg)
			}
			h, regen, regenEntries = e.newHold(c), nil, nil
		}
	}
	var pending []string
	if len(rd.missing) > 0 {
		e.stats.misses.Add(ctx, uint64(len(rd.missing)))
		as, err := e.tryLease(ctx, h, rd.missing, vt, c.Gen, nil)
		if err != nil {
			e.releaseHold(ctx, h)
			return 0, err
		}
		for i, a := range as {
			if a.status == backend.LeaseTaken {
				regen, regenEntries = append(regen, rd.missing[i]), append(regenEntries, a.entry)
			} else {
				pending = append(pending, rd.missing[i])
			}
		}
	}
	o, err := e.createInto(ctx, h, regen, regenEntries, create, c, got)
	if err != nil {
		return 0, err
	}
	outcome = costlier(outcome, o)
	if len(pending) == 0 {
		return outcome, nil
	}
	// The keys another caller is creating: wait for each, holding only the
	// keys of this wait, in sorted order.
	w := e.lockWait(ctx)
	defer w.stop()
	h = e.newHold(c)
	regen, regenEntries = nil, nil
	for _, key := range pending {
		a, err := e.waitLease(ctx, h, key, vt, c, w)
		if err != nil {
			e.releaseHold(ctx, h)
			return 0, err
		}
		if a.status != backend.LeaseTaken {
			got[key] = a.entry.Value // stored by the other caller
			outcome = costlier(outcome, observe.OutcomeShared)
			continue
		}
		regen, regenEntries = append(regen, key), append(regenEntries, a.entry)
	}
	o, err = e.createInto(ctx, h, regen, regenEntries, create, c, got)
	if err != nil {
		return 0, err
	}
	return costlier(outcome, o), nil
}

// createInto runs the creation step for keys held in h (see createHeld)
// and puts the values into got; with no keys, it releases h. The outcome
// is OutcomeCreated when create ran, OutcomeShared when every key was
// found fresh under its lease (created meanwhile by another caller), and
// OutcomeHit with no keys.
func (e *Engine) createInto(ctx context.Context, h *hold, keys []string, entries []*backend.Entry, create MultiCreator, c *Call, got map[string]any) (observe.Outcome, error) {
	if len(keys) == 0 {
		e.releaseHold(ctx, h)
		return observe.OutcomeHit, nil
	}
	values, created, _, err := e.createHeld(ctx, h, keys, entries, create, c, nil)
	if err != nil {
		return 0, err
	}
	outcome := observe.OutcomeShared
	for i, key := range keys {
		got[key] = values[i]
		if created[i] {
			outcome = observe.OutcomeCreated
		}
	}
	return outcome, nil
}

// costlier returns whichever of two outcomes of a multi call's keys cost
// the call more: a value its own creator made, then one another caller's
// creation made, then a stale value, then a fresh one.
func costlier(a, b observe.Outcome) observe.Outcome {
	if outcomeCost(b) > outcomeCost(a) {
		return b
	}
	return a
}

// outcomeCost ranks an outcome for costlier.
func outcomeCost(o observe.Outcome) int {
	switch o {
	case observe.OutcomeHit:
		return 1
	case observe.OutcomeStale:
		return 2
	case observe.OutcomeShared:
		return 3
	case observe.OutcomeCreated:
		return 4
	}
	return 0
}

// keysSpanName names a multi call's span by its first key.
func keysSpanName(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}
