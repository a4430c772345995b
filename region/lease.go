package region

import (
	"context"
	"errors"
	"fmt"
	"github.com/corralcache/corral/observe"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/serializer"
)

// Leases.
//
// A creation reads the keys it creates once more under their locks, and
// that read takes a lease on each key: the backend.Version of what the key
// holds (a placeholder when it holds nothing). The created values are stored
// with conditional writes, only where the key still holds the leased
// version. Whatever reached a key in between — a Set, a Delete, a cached
// function's Invalidate, a newer creation that took the lock after this one
// lost it — changed or removed that version, so it stands and the older
// value is not stored. One mechanism for every backend and every process:
// memory compares and swaps an entry, Redis checks and writes in one script,
// memcached uses gets/cas.
//
// Backends without conditional writes (a custom backend.Backend) store
// unconditionally: the stale set is then possible, and documented.

// leaseTTL is how long a placeholder lease on a missing key lives: long
// enough for any creation the lock keeps alive for a while; a creation
// slower than that stores nothing, which is safe.
func (r *Region) leaseTTL() time.Duration {
	return max(10*r.cfg.LockTTL, time.Minute)
}

// lease is what a creation holds on the keys it creates: versions[i] is
// the leased version of keys[i]. A nil lease stores unconditionally (the
// backend has no conditional writes); a zero version stores nothing (the
// lease could not be taken).
type lease []backend.Version

// loadForUpdate reads keys again under their locks, as loadMulti does with
// reread, and takes a lease on each. On a byte backend it first reads the
// shared generations, so that a creation stamped after it carries every
// invalidation completed before it, in any process (one round trip).
//
// A backend failure (or a backend skipped) gives faulted, no entries and a
// lease of zero versions: nothing will be stored over what is there, and
// the caller skips the backend for the rest of its call.
func (r *Region) loadForUpdate(ctx context.Context, keys []string, vt valueType, fn *funcGen) (_ []*backend.Entry, _ lease, faulted bool) {
	entries := make([]*backend.Entry, len(keys))
	if r.values != nil {
		cvs, ok := r.values.(backend.ConditionalValueStore)
		if !ok {
			entries, _ = r.loadMulti(ctx, keys, vt, reread, nil)
			return entries, nil, false
		}
		versions := make(lease, len(keys))
		for i, key := range keys {
			ns, k := r.localKey(key)
			var e *backend.Entry
			if e, versions[i] = cvs.LoadEntryForUpdate(ns, k, r.leaseTTL()); e != nil {
				entries[i] = r.checkType(key, e, vt, reread)
			}
		}
		return entries, versions, false
	}
	c, ok := r.cfg.Backend.(backend.Conditional)
	if !ok {
		entries, err := r.loadMulti(ctx, keys, vt, reread, nil)
		if err != nil {
			return make([]*backend.Entry, len(keys)), make(lease, len(keys)), true
		}
		return entries, nil, false
	}
	if err := r.readGensFor(ctx, fn); err != nil {
		return entries, make(lease, len(keys)), true
	}
	if err := r.admit(ctx); err != nil {
		return entries, make(lease, len(keys)), true
	}
	full := make([]string, len(keys))
	for i, key := range keys {
		full[i] = r.fullKey(key)
	}
	t0 := r.tick()
	data, versions, err := c.GetForUpdate(ctx, full, r.leaseTTL())
	r.took(observe.TimingBackend, observe.OpGetForUpdate, t0)
	r.settle(ctx, err)
	if err == nil && (len(data) != len(keys) || len(versions) != len(keys)) {
		err = fmt.Errorf("backend returned %d values and %d versions for %d keys", len(data), len(versions), len(keys))
	}
	if err != nil {
		_ = r.backendError(ctx, "get for update", keys[0], err)
		return entries, make(lease, len(keys)), true
	}
	for i, d := range data {
		if d != nil {
			entries[i] = r.decode(ctx, keys[i], d, vt, reread)
		}
	}
	return entries, lease(versions), false
}

// storeLeased writes created values whose keys are leased by l (see
// saveMulti); the values whose lease no longer holds are not stored, and
// are counted and reported as superseded.
func (r *Region) storeLeased(ctx context.Context, keys []string, values []any, l lease, gens serializer.Gens, exp, delta time.Duration, fn string) (superseded int, err error) {
	if l == nil {
		return 0, r.saveMulti(ctx, keys, values, gens, exp, delta, fn)
	}
	defer func() { r.stats.superseded.Add(uint64(superseded)) }()
	defer r.nearDrop(keys...)
	// Keys whose lease could not be taken are not written at all.
	var held []int
	for i, v := range l {
		if v != 0 {
			held = append(held, i)
		} else {
			superseded++
		}
	}
	if len(held) == 0 {
		return superseded, nil
	}
	created := r.now()
	ttl := r.cfg.hardTTL(exp)
	var stored []string
	if r.values != nil {
		cvs := r.values.(backend.ConditionalValueStore)
		for _, i := range held {
			ns, k := r.localKey(keys[i])
			e := &backend.Entry{Value: values[i], Created: created, Expiration: exp, Gens: gens, Delta: delta}
			if cvs.StoreEntryIf(ns, k, e, ttl, l[i]) {
				stored = append(stored, keys[i])
			} else {
				superseded++
			}
		}
		r.record(ctx, fn, stored, exp)
		return superseded, nil
	}
	versions := make([]backend.Version, len(held))
	members := make([]string, len(held))
	heldValues := make([]any, len(held))
	for j, i := range held {
		versions[j], members[j], heldValues[j] = l[i], keys[i], values[i]
	}
	items, err := r.encodeItems(members, heldValues, serializer.Meta{Created: created, Expiration: exp, Gens: gens, Delta: delta}, ttl)
	if err != nil {
		return superseded, err
	}
	if err := r.admit(ctx); err != nil {
		return superseded, err
	}
	var ok []bool
	grouped := false
	t0 := r.tick()
	if cg, isCG := r.cfg.Backend.(backend.ConditionalGrouper); fn != "" && r.grouped != nil && isCG {
		ok, err = cg.SetIfGrouped(ctx, items, versions, r.grouped.Group(fn), members, ttl)
		grouped = true
		r.took(observe.TimingBackend, observe.OpSetIfGrouped, t0)
	} else {
		ok, err = r.cfg.Backend.(backend.Conditional).SetIf(ctx, items, versions)
		r.took(observe.TimingBackend, observe.OpSetIf, t0)
	}
	r.settle(ctx, err)
	if err != nil && !errors.Is(err, backend.ErrTooLarge) {
		return superseded, r.backendError(ctx, "conditional set", members[0], err)
	}
	var refused []string
	for j, key := range members {
		switch {
		case j < len(ok) && ok[j]:
			stored = append(stored, key)
		case err != nil:
			// Too large, or not stored beside one that was: not
			// superseded, not cached.
			refused = append(refused, key)
		default:
			superseded++
		}
	}
	if len(refused) > 0 {
		_ = r.notStoredTooLarge(ctx, refused, err)
	}
	if !grouped {
		r.record(ctx, fn, stored, exp)
	}
	return superseded, nil
}
