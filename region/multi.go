package region

import (
	"context"
	"errors"
	"fmt"
	"github.com/corralcache/corral/observe"
	"slices"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/lock"
)

// multiCreator is an untyped creator of several values, one per key, in the
// order of keys.
type multiCreator func(context.Context, []string) ([]any, error)

// GetOrCreateMulti returns the values under keys, in the order of keys,
// creating the missing and stale ones with one call of create under the
// dogpile lock. It reads all keys in one multi-get; stale values are served
// or regenerated as by GetOrCreate. For the keys it must create it takes the
// per-key locks in sorted order (so two multi calls never deadlock), waits at
// most Config.LockWait for all of them, reads those keys again, and calls
// create once with only the keys still missing. create must return one value
// per key it is given, in that order.
//
// Unlike GetOrCreate, create runs in the caller's goroutine with ctx. A key
// holding a cached "not found" (see ErrNotFound) makes the call return an
// error wrapping ErrNotFound, since create cannot say "not found" for one
// key of many; CacheBatch can. As with GetOrCreate, a backend that keeps
// values hands out the stored values themselves: do not modify them.
// Errors: create's error; ErrCreatorResult; ErrLockTimeout; ctx.Err();
// ErrClosed; ErrBackend on a fail-closed region; a *PanicError.
func GetOrCreateMulti[T any](ctx context.Context, r *Region, keys []string, create func(context.Context, []string) ([]T, error), opts ...CallOption) ([]T, error) {
	return getOrCreateMulti(ctx, r, keys, typeOf[T]{}, create, opts)
}

// getOrCreateMulti is GetOrCreateMulti, with vt as for get.
func getOrCreateMulti[T any](ctx context.Context, r *Region, keys []string, vt valueType, create func(context.Context, []string) ([]T, error), opts []CallOption) ([]T, error) {
	if err := r.usable(ctx); err != nil {
		return nil, err
	}
	// The first read, typed: when every value is fresh, it is the answer,
	// decoded straight into the result; otherwise its bytes go to the core.
	var first map[string][]byte
	co := makeCallConfig(opts)
	if r.values == nil && len(keys) > 0 {
		data, err := r.getMulti(ctx, keys)
		switch {
		case err != nil && (r.cfg.FailClosed || ctx.Err() != nil):
			return nil, err
		case err != nil:
			first = map[string][]byte{} // fail-open: all missing
			co.faulted = true
		default:
			if out, ok := decodeFresh[T](r, keys, data, funcGenOf(opts)); ok {
				r.stats.hits.Add(uint64(len(keys)))
				return out, nil
			}
			first = make(map[string][]byte, len(keys))
			for i, d := range data {
				if d != nil {
					first[keys[i]] = d
				}
			}
		}
	}
	got, err := r.getOrCreateMulti(ctx, keys, vt, func(ctx context.Context, keys []string) ([]any, error) {
		values, err := create(ctx, keys)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(values))
		for i, v := range values {
			out[i] = v
		}
		return out, nil
	}, co, first)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(keys))
	for i, key := range keys {
		if isNegative(got[key]) {
			return nil, r.notFound(key)
		}
		if out[i], err = typed[T](got[key], nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeFresh decodes data, one value per key, into a []T, and reports
// whether every value was there, decodable and fresh.
func decodeFresh[T any](r *Region, keys []string, data [][]byte, fn *funcGen) ([]T, bool) {
	out := make([]T, len(data))
	now := r.now()
	for i, d := range data {
		if d == nil {
			return nil, false
		}
		m, err := decodeAs(r.codec, r.boundKey(keys[i]), d, &out[i])
		if err != nil || m.Negative || r.freshness(m.Created, m.Expiration, m.Gens, fn, now) != fresh {
			return nil, false
		}
	}
	return out, true
}

// getOrCreateMulti is GetOrCreateMulti's untyped core; first is as for
// loadMulti.
func (r *Region) getOrCreateMulti(ctx context.Context, keys []string, vt valueType, create multiCreator, co callConfig, first map[string][]byte) (map[string]any, error) {
	uniq := slices.Compact(slices.Sorted(slices.Values(keys)))
	entries, err := r.loadMulti(ctx, uniq, vt, firstRead, first)
	if err != nil {
		if r.cfg.FailClosed || ctx.Err() != nil || isMismatch(err) {
			return nil, err
		}
		co.faulted = true
	}
	got := make(map[string]any, len(uniq))
	var regen, missing []string
	var locks []lock.Lock
	now := r.now()
	for i, key := range uniq {
		e := entries[i]
		switch r.freshnessOf(e, co.gen, now) {
		case fresh:
			r.stats.hits.Add(1)
			got[key] = e.Value
			continue
		case stale:
			if r.cfg.Stale == ServeStale {
				l, err := r.tryLock(ctx, key)
				if err != nil || r.cfg.BackgroundRegeneration {
					if err != nil && !errors.Is(err, lock.ErrNotObtained) {
						_ = r.backendError(ctx, "try lock", key, err)
					}
					r.stats.staleServed.Add(1)
					got[key] = e.Value
				}
				if err == nil {
					regen, locks = append(regen, key), append(locks, l)
				}
				continue
			}
		}
		r.stats.misses.Add(1)
		missing = append(missing, key)
	}
	if r.cfg.BackgroundRegeneration && len(regen) > 0 {
		bgKeys, bgLocks := regen, locks
		if !r.goOwned(ctx, func(ctx context.Context) {
			_, _, err := r.safely(ctx, bgKeys[0], func() (any, bool, error) {
				_, err := r.createLocked(ctx, bgKeys, bgLocks, vt, create, co)
				return nil, false, err
			})
			if err != nil {
				r.warn(ctx, "corral: background regeneration failed", "region", r.name, "keys", bgKeys, "err", err)
			}
		}) {
			r.releaseAll(ctx, bgKeys, bgLocks)
		}
		regen, locks = nil, nil
	}
	if len(missing) > 0 {
		wait := r.lockWait(ctx)
		defer wait.stop()
		for _, key := range missing {
			l, faulted, err := r.obtain(ctx, wait, key, co.faulted)
			co.faulted = faulted
			if err != nil {
				r.releaseAll(ctx, regen, locks)
				return nil, err
			}
			regen, locks = append(regen, key), append(locks, l)
		}
	}
	if len(regen) == 0 {
		return got, nil
	}
	created, err := r.createLocked(ctx, regen, locks, vt, create, co)
	if err != nil {
		return nil, err
	}
	for key, v := range created {
		got[key] = v
	}
	return got, nil
}

// createLocked runs with the locks of keys held (locks[i] for keys[i], nil
// where a fail-open region went on without one): it reads keys again, creates
// the ones still not fresh with one call of create, stores them and releases
// every lock. A call that saw the backend fail (co.faulted, or the re-read
// fails) creates every key and stores none.
func (r *Region) createLocked(ctx context.Context, keys []string, locks []lock.Lock, vt valueType, create multiCreator, co callConfig) (map[string]any, error) {
	got := make(map[string]any, len(keys))
	entries, leased := make([]*backend.Entry, len(keys)), lease(nil)
	if !co.faulted {
		entries, leased, co.faulted = r.loadForUpdate(ctx, keys, vt, co.gen)
	}
	defer func() { r.releaseAfter(ctx, keys, locks, co.faulted) }()
	gens := r.stampGens(co.gen)
	now := r.now()
	var todo []string
	var todoLease lease
	for i, key := range keys {
		if r.freshnessOf(entries[i], co.gen, now) == fresh {
			got[key] = entries[i].Value
		} else {
			todo = append(todo, key)
			if leased != nil {
				todoLease = append(todoLease, leased[i])
			}
		}
	}
	if len(todo) == 0 {
		return got, nil
	}
	stop := r.keepalive(ctx, locks...)
	cctx, st := r.startStep(ctx, observe.SpanCreate, observe.TimingCreator, todo[0])
	watch := r.startWatch()
	values, err := callMulti(cctx, create, todo)
	co.delta = r.elapsed(watch)
	st.end(err)
	stop()
	if err != nil {
		return nil, err
	}
	if len(values) != len(todo) {
		return nil, fmt.Errorf("%w: %d values for %d keys", ErrCreatorResult, len(values), len(todo))
	}
	r.stats.regenerations.Add(uint64(len(todo)))
	if !co.faulted {
		r.store(ctx, todo, values, todoLease, gens, co)
	}
	for i, key := range todo {
		got[key] = values[i]
	}
	return got, nil
}

// callMulti runs create, turning a panic into a *PanicError.
func callMulti(ctx context.Context, create multiCreator, keys []string) (values []any, err error) {
	_, err = call(ctx, func(ctx context.Context) (any, error) {
		values, err = create(ctx, keys)
		return nil, err
	})
	return values, err
}

func (r *Region) releaseAll(ctx context.Context, keys []string, locks []lock.Lock) {
	for i, l := range locks {
		r.release(ctx, keys[i], l)
	}
}
