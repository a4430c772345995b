package engine

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/observe"
)

// GetOrCreateMulti is GetOrCreateMulti's untyped core: the values of keys,
// by key, the missing and stale ones created with create under their
// leases; data, when not nil, holds the bytes of a first read (nil:
// missing). See region.GetOrCreateMulti.
//
// Keys are leased in one step, without waiting: the stale ones a creator
// of another caller holds are served stale; the missing ones taken are
// created at once (one creator call). Keys whose lease another caller
// holds are then waited for one at a time, in sorted order, holding
// nothing but the keys of that wait — a call never waits while holding a
// lease another waits for, so two calls never deadlock — and are answered
// by what that caller stored, or created in a second call of create.
func (e *Engine) GetOrCreateMulti(ctx context.Context, keys []string, vt ValueType, create MultiCreator, c *Call, data [][]byte) (map[string]any, error) {
	if err := CheckTags(c.Tags); err != nil {
		return nil, err
	}
	got := make(map[string]any, len(keys))
	err := e.Span(ctx, keysSpanName(keys), time.Time{}, func(ctx context.Context) (observe.Outcome, error) {
		return e.getOrCreateMulti(ctx, keys, vt, create, c, data, got)
	})
	return got, err
}

func (e *Engine) getOrCreateMulti(ctx context.Context, keys []string, vt ValueType, create MultiCreator, c *Call, data [][]byte, got map[string]any) (observe.Outcome, error) {
	uniq := keys
	if data == nil {
		uniq = slices.Compact(slices.Sorted(slices.Values(keys)))
	}
	entries, err := e.tier.loadMulti(ctx, uniq, vt, true, data)
	if err != nil {
		if e.cfg.FailClosed || ctx.Err() != nil || IsMismatch(err) {
			return 0, err
		}
		c.faulted = true
	}
	var stale, missing []string
	var staleEntries []*backend.Entry
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
				stale, staleEntries = append(stale, key), append(staleEntries, en)
				continue
			}
		}
		missing = append(missing, key)
	}
	h := e.newHold(c)
	var regen []string
	var regenEntries []*backend.Entry
	if len(stale) > 0 {
		as, err := e.tryLease(ctx, h, stale, vt, c.Gen, nil)
		if err != nil {
			e.releaseHold(ctx, h)
			return 0, err
		}
		for i, a := range as {
			if a.status != backend.LeaseTaken || h.faulted || e.cfg.BackgroundRegeneration {
				e.stats.staleServed.Add(ctx, 1)
				got[stale[i]] = staleEntries[i].Value
			}
			if a.status == backend.LeaseTaken {
				regen, regenEntries = append(regen, stale[i]), append(regenEntries, a.entry)
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
	if len(missing) > 0 {
		e.stats.misses.Add(ctx, uint64(len(missing)))
		as, err := e.tryLease(ctx, h, missing, vt, c.Gen, nil)
		if err != nil {
			e.releaseHold(ctx, h)
			return 0, err
		}
		for i, a := range as {
			if a.status == backend.LeaseTaken {
				regen, regenEntries = append(regen, missing[i]), append(regenEntries, a.entry)
			} else {
				pending = append(pending, missing[i])
			}
		}
	}
	if err := e.createInto(ctx, h, regen, regenEntries, create, c, got); err != nil {
		return 0, err
	}
	if len(pending) == 0 {
		return observe.OutcomeCreated, nil
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
			continue
		}
		regen, regenEntries = append(regen, key), append(regenEntries, a.entry)
	}
	return observe.OutcomeCreated, e.createInto(ctx, h, regen, regenEntries, create, c, got)
}

// createInto runs the creation step for keys held in h (see createHeld)
// and puts the values into got; with no keys, it releases h.
func (e *Engine) createInto(ctx context.Context, h *hold, keys []string, entries []*backend.Entry, create MultiCreator, c *Call, got map[string]any) error {
	if len(keys) == 0 {
		e.releaseHold(ctx, h)
		return nil
	}
	values, _, _, err := e.createHeld(ctx, h, keys, entries, create, c, nil)
	if err != nil {
		return err
	}
	for i, key := range keys {
		got[key] = values[i]
	}
	return nil
}

// keysSpanName names a multi call's span by its first key.
func keysSpanName(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

var _ = errors.New
