package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/breaker"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/observe"
)

// The generations' I/O: reading the shared counters (when due, and fresh
// for a creation or a write), and raising one (an invalidation). The
// counters' meaning is package gens'.

// refreshGens reads the shared generation counters (the region's and its
// cached functions') from a byte backend when the view is older than
// Config.InvalidationRefresh, in one multi-get. One caller at a time
// refreshes; the others go on with the view they have.
//
// A refresh that fails is retried after a backoff, not at the next call;
// while the breaker is not closed, the breaker's probe refreshes them.
// Until one succeeds the view may be older than the bound, so the callers
// get an error (the refresh's, or e.gensErr without touching the network)
// and must not serve what the backend holds: they skip it, as for any
// backend failure.
func (e *Engine) refreshGens(ctx context.Context) error {
	if _, ok := e.tier.(*byteTier); !ok {
		return nil
	}
	switch e.gens.Due(e.Now(), e.cfg.InvalidationRefresh, func() bool { return e.retryGens(ctx) }) {
	case gens.Fresh:
		return nil
	case gens.Distrust:
		e.stats.backendSkipped.Add(ctx, 1)
		return e.gensErr
	}
	now := e.Now()
	keys, views := e.gens.Keys(e.markKey(false), e.markKey(true))
	err := e.readGens(ctx, keys, views, e.gens.KnownTags()...)
	// A breaker that skipped the read paces the attempts (its probe may be
	// the next refresh); the caller's own cancellation says nothing.
	backoff := err != nil && !errors.Is(err, ErrBreakerOpen) && ctx.Err() == nil
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrBreakerOpen) {
		e.gens.Abandon() // not a failure; the next call reads
		return err
	}
	e.gens.Done(now, err, backoff, e.breakerCooldown(), breaker.Monotonic())
	return err
}

// retryGens reports whether a failed refresh may be retried now: while the
// breaker is not closed, only if the breaker admits the call (it may send
// its probe, which refreshes them); otherwise once the backoff is over.
func (e *Engine) retryGens(ctx context.Context) bool {
	if e.breakerOpen() {
		return e.admit(ctx) == nil
	}
	return e.gens.RetryDue(breaker.Monotonic())
}

func (e *Engine) breakerCooldown() (d time.Duration) {
	if b := e.cfg.Breaker; b != nil {
		return b.Cooldown()
	}
	return gens.MaxBackoff
}

// readGensFor reads, whatever their age, the shared generations a creation
// or a write is stamped with — the region's, and fn's when not nil — so
// that it carries every invalidation completed before it began, in any
// process.
func (e *Engine) readGensFor(ctx context.Context, fn *gens.Func) error {
	if _, ok := e.tier.(*byteTier); !ok {
		return nil
	}
	keys, views := e.stampKeys(fn)
	return e.readGens(ctx, keys, views)
}

// readGens reads the counters under keys in one multi-get and raises
// views[i] to the one under keys[i]; and the counters of tags, in the
// same multi-get.
func (e *Engine) readGens(ctx context.Context, keys []string, views []*gens.View, tags ...*gens.TagView) error {
	if len(tags) > 0 {
		all := make([]string, len(keys), len(keys)+len(tags))
		copy(all, keys)
		for _, t := range tags {
			all = append(all, t.Key)
		}
		keys = all
	}
	var data [][]byte
	err := e.guardAs(ctx, observe.OpReadGens, "read invalidation generations", keys[0], func(ctx context.Context) (err error) {
		data, err = e.cfg.Backend.GetMulti(ctx, keys)
		if err == nil && len(data) != len(keys) {
			err = fmt.Errorf("backend returned %d values for %d keys", len(data), len(keys))
		}
		return err
	})
	if err != nil {
		return err
	}
	gens.Apply(views, data[:len(views)])
	for i, t := range tags {
		t.Learn(data[len(views)+i])
	}
	return nil
}

// bump raises the shared counter under key past every value it or view
// held, and raises view to it; on a tier that keeps values, the view alone.
// On a backend without conditional writes the read and the write are not
// atomic: two concurrent bumps may count once, which retires the same
// entries. A failure still raises the view: the invalidation holds in this
// process at least.
func (e *Engine) bump(ctx context.Context, key string, view *gens.View) error {
	if _, ok := e.tier.(*byteTier); !ok {
		view.Bump()
		return nil
	}
	var next uint64
	err := e.guardAs(ctx, observe.OpBumpGeneration, "invalidate", key, func(ctx context.Context) (err error) {
		next, err = e.bumpShared(ctx, key, view.Load())
		return err
	})
	if err != nil {
		view.Bump()
		return err
	}
	view.Raise(next)
	return nil
}

// maxBumpTries bounds the compare-and-swap loop of bumpShared under
// contention.
const maxBumpTries = 32

// errBumpContended is returned when maxBumpTries compare-and-swaps lost.
var errBumpContended = errors.New("region: invalidation counter too contended")

func (e *Engine) bumpShared(ctx context.Context, key string, seen uint64) (uint64, error) {
	c, ok := backend.As[backend.Conditional](e.cfg.Backend)
	if !ok {
		data, err := e.cfg.Backend.Get(ctx, key)
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return 0, err
		}
		next := gens.Next(data, seen)
		return next, e.cfg.Backend.Set(ctx, key, gens.Encode(next), 0)
	}
	for range maxBumpTries {
		vals, vers, err := c.GetForUpdate(ctx, []string{key}, e.cfg.LockTTL)
		if err != nil {
			return 0, err
		}
		next := gens.Next(vals[0], seen)
		stored, err := c.SetIf(ctx, []backend.Item{{Key: key, Value: gens.Encode(next)}}, vers)
		if err != nil {
			return 0, err
		}
		if stored[0] {
			return next, nil
		}
	}
	return 0, errBumpContended
}

// Invalidate retires every entry of the region: Hard makes them missing,
// soft stale.
func (e *Engine) Invalidate(ctx context.Context, soft bool) error {
	defer e.epochs.WroteAll()
	view := &e.gens.Hard
	if soft {
		view = &e.gens.Soft
	}
	return e.bump(ctx, e.markKey(soft), view)
}

// InvalidateFunc retires every result of the cached function of fn.
func (e *Engine) InvalidateFunc(ctx context.Context, fn *gens.Func) error {
	defer e.epochs.WroteAll()
	return e.bump(ctx, fn.Key, &fn.View)
}
