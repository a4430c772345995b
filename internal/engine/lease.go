package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/serializer"
)

// The lease step.
//
// Every creation — GetOrCreate's, a multi or batch call's, a cached
// function's Refresh, a stale value's regeneration, an early refresh —
// takes its keys through this step, and stores only through it:
//
//  1. take each key's lock, which keeps the other creators of the key
//     waiting, and its lease, the fence: a backend.Version that any write,
//     delete or newer lease of the key voids; read the key under it;
//  2. store each created value only where its key still holds the leased
//     Version, so that a Set, Delete or Invalidate of the key made
//     meanwhile — in any process — stands, and a creator whose lock expired
//     cannot undo a newer creation;
//  3. release.
//
// The step has three forms, chosen by the backend once:
//
//   - a backend that leases (backend.Leaser: Redis, memcached's meta
//     protocol) takes the lock and the lease in one round trip, beside the
//     value; a waiting caller polls the lease and learns of a store from it
//     (backend.LeaseChanged) without taking the lock it no longer needs;
//   - otherwise the Locker's lock is taken first, then a read for update
//     takes the lease (backend.Conditional, backend.ConditionalValueStore);
//     a backend without conditional writes stores unconditionally (a custom
//     backend.Backend: the stale set is then possible, and documented);
//   - a call that saw the backend fail takes the in-process lock only,
//     reads nothing and stores nothing.

// hold is what a creation holds on its keys.
type hold struct {
	keys []held
	one  [1]held // keys' first array: a hold of one key allocates none
	// holder is the token of the leases of a backend that leases; empty
	// until one is taken.
	holder string
	// faulted is set once the call saw the backend fail: nothing is
	// stored, and the locks taken are in-process ones.
	faulted bool
	// tags are the views of the tags the creation stamps its values with;
	// tagsRead is set once they were read with the lease.
	tags     []*gens.TagView
	tagsRead bool
}

// newHold returns the hold of a creation for call c.
func (e *Engine) newHold(c *Call) *hold {
	return &hold{faulted: c.faulted, tags: e.tagViews(c.Tags)}
}

// add adds hk to h.
func (h *hold) add(hk held) {
	if h.keys == nil {
		h.keys = h.one[:0]
	}
	h.keys = append(h.keys, hk)
}

// held is one key of a hold.
type held struct {
	key string
	// lk names key's value and lock in the backend, once leaseKey has
	// derived them.
	lk backend.LeaseKey
	// version is the fence: the Version of the lease; zero stores nothing
	// (the lease could not be taken) unless unfenced.
	version backend.Version
	// unfenced is set on a backend without conditional writes: the store
	// is unconditional.
	unfenced bool
	lock     lock.Lock // a Locker's lock (nil: none, or a lease's)
	leased   bool      // the holder's lease of a backend that leases
	lost     bool      // its lock was found lost (and counted)
}

// leaseKey is hk's key, lock and fence, as the backend names them.
func (e *Engine) leaseKey(hk *held) backend.LeaseKey {
	if hk.lk.Key == "" {
		hk.lk = backend.LeaseKey{Key: e.BackendKey(hk.key), Lock: e.LockKey(hk.key)}
	}
	return backend.LeaseKey{Key: hk.lk.Key, Lock: hk.lk.Lock, Version: hk.version}
}

// attempt is the outcome of a lease attempt on one key.
type attempt struct {
	status backend.LeaseStatus
	// entry is what the key held, decoded: under the lease when taken;
	// nil for nothing, or when unknown (a Locker's lock held elsewhere).
	entry   *backend.Entry
	version backend.Version // the key's Version, passed back when polling
}

// leaseMode says which form of the lease step a call uses now.
type leaseMode int

const (
	leaseLocal  leaseMode = iota // in-process lock, no lease: a faulted call
	leaseLocker                  // a Locker's lock, then a read for update
	leaseMerged                  // a backend that leases
)

// mode is the form of the lease step for a call of hold h.
func (e *Engine) mode(h *hold) leaseMode {
	switch {
	case h.faulted:
		return leaseLocal
	case e.leaser() != nil:
		return leaseMerged
	}
	return leaseLocker
}

// leaser is the backend's Leaser, when the lease is the lock.
func (e *Engine) leaser() backend.Leaser {
	if t, ok := e.tier.(*byteTier); ok {
		return t.leaser
	}
	return nil
}

// newHolder returns the token of a creation's leases, unique everywhere:
// the engine's random prefix and a count.
func (e *Engine) newHolder() string {
	var b [40]byte
	out := append(b[:0], e.holders.prefix...)
	out = strconv.AppendUint(out, e.holders.n.Add(1), 36)
	return string(out)
}

// holders draws the engine's lease tokens (see newHolder).
type holders struct {
	prefix string // 96 random bits
	n      atomic.Uint64
}

// holderPrefix draws a holders' prefix.
func holderPrefix() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) + "."
}

// tryLease tries to take the leases of keys without waiting, adding the
// ones taken to h, and reads the keys (under the lease when taken). fn is
// the cached function whose generation the creation is stamped with.
// seen, when not nil, holds the Versions the caller saw (see
// backend.LeaseKey.Version). A backend failure makes h faulted and takes
// the in-process locks instead (or returns the failure on a fail-closed
// region).
func (e *Engine) tryLease(ctx context.Context, h *hold, keys []string, vt ValueType, fn *gens.Func, seen []backend.Version) ([]attempt, error) {
	switch e.mode(h) {
	case leaseMerged:
		out, err := e.leaseMerged(ctx, h, keys, vt, fn, seen)
		if err == nil || ctx.Err() != nil || e.cfg.FailClosed {
			return out, err
		}
		h.faulted = true
		return e.tryLocks(ctx, h, keys, vt, fn)
	default:
		return e.tryLocks(ctx, h, keys, vt, fn)
	}
}

// tryLocks is tryLease with a Locker's locks (or the in-process lock, for
// a faulted call), then a read for update of the keys locked.
func (e *Engine) tryLocks(ctx context.Context, h *hold, keys []string, vt ValueType, fn *gens.Func) ([]attempt, error) {
	out := make([]attempt, len(keys))
	var taken []string
	var at []int
	for i, key := range keys {
		l, err := e.tryLock(ctx, h, key)
		switch {
		case errors.Is(err, lock.ErrNotObtained):
			out[i].status = backend.LeaseHeld
			continue
		case err != nil:
			return out, err
		}
		out[i].status = backend.LeaseTaken
		h.add(held{key: key, lock: l})
		taken, at = append(taken, key), append(at, i)
	}
	if len(taken) == 0 || h.faulted {
		return out, nil
	}
	entries, err := e.loadForUpdate(ctx, h, len(h.keys)-len(taken), taken, vt, fn)
	if err != nil {
		return out, err
	}
	for j, i := range at {
		out[i].entry = entries[j]
	}
	return out, nil
}

// tryLock takes key's lock without waiting: the Locker's (or the
// in-process one while the Locker's breaker is open, or for a faulted
// call). A Locker that fails makes h faulted and takes the in-process lock
// instead, unless the region is fail-closed.
func (e *Engine) tryLock(ctx context.Context, h *hold, key string) (lock.Lock, error) {
	var lk lock.Locker = e.local
	if !h.faulted {
		lk = e.locker(ctx, key)
	}
	l, err := lk.TryObtain(ctx, e.LockKey(key), e.cfg.LockTTL)
	e.settleLock(ctx, lk, err, false)
	if err == nil || errors.Is(err, lock.ErrNotObtained) || lk == e.local {
		return l, err
	}
	err = e.backendError(ctx, "lock", key, err)
	if e.cfg.FailClosed || ctx.Err() != nil {
		return nil, err
	}
	h.faulted = true
	return e.local.TryObtain(ctx, e.LockKey(key), e.cfg.LockTTL)
}

// loadForUpdate reads keys (the last of h.keys, from index from) again
// under their locks and takes a lease on each. On a byte backend it first
// reads the shared generations, so that a creation stamped after it
// carries every invalidation completed before it, in any process (one
// round trip). A backend failure makes h faulted: no entries, nothing
// stored.
func (e *Engine) loadForUpdate(ctx context.Context, h *hold, from int, keys []string, vt ValueType, fn *gens.Func) ([]*backend.Entry, error) {
	entries := make([]*backend.Entry, len(keys))
	switch t := e.tier.(type) {
	case *valueTier:
		for j, key := range keys {
			ns, k := t.localKey(key)
			hk := &h.keys[from+j]
			if t.cond == nil {
				if en, ok := t.store.LoadEntry(ns, k); ok {
					entries[j] = e.checkType(ctx, key, en, vt, false)
				}
				hk.unfenced = true
				continue
			}
			var en *backend.Entry
			if en, hk.version = t.cond.LoadEntryForUpdate(ns, k, e.leaseTTL()); en != nil {
				entries[j] = e.checkType(ctx, key, en, vt, false)
			}
		}
		return entries, nil
	case *byteTier:
		if t.cond == nil {
			got, err := t.loadMulti(ctx, keys, vt, false, nil)
			if err != nil {
				if !engineFault(ctx, err) {
					return entries, err
				}
				h.faulted = true
				return entries, nil
			}
			for j := range keys {
				h.keys[from+j].unfenced = true
			}
			return got, nil
		}
		gkeys, views := e.stampKeys(fn)
		if err := e.readGens(ctx, gkeys, views, h.tags...); err != nil {
			h.faulted = true
			return entries, nil
		}
		h.tagsRead = len(h.tags) > 0
		full := make([]string, len(keys))
		for j, key := range keys {
			full[j] = e.BackendKey(key)
		}
		var data [][]byte
		var versions []backend.Version
		err := e.guard(ctx, observe.OpGetForUpdate, keys[0], func(ctx context.Context) (err error) {
			data, versions, err = t.cond.GetForUpdate(ctx, full, e.leaseTTL())
			if err == nil && (len(data) != len(keys) || len(versions) != len(keys)) {
				err = fmt.Errorf("backend returned %d values and %d versions for %d keys", len(data), len(versions), len(keys))
			}
			return err
		})
		if err != nil {
			h.faulted = true
			return entries, nil
		}
		for j, d := range data {
			h.keys[from+j].version = versions[j]
			if d != nil {
				en, err := e.decodeEntry(ctx, keys[j], d, vt, false)
				if err != nil {
					return entries, err
				}
				entries[j] = en
			}
		}
	}
	return entries, nil
}

// engineFault reports whether err is the backend's failure (a call may go
// on without it), rather than the caller's cancellation or a strict read's
// type mismatch.
func engineFault(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !IsMismatch(err)
}

// leaseMerged is tryLease on a backend that leases: one round trip takes
// the lock and the lease of each key and reads it, and reads the shared
// generations the creation is stamped with.
func (e *Engine) leaseMerged(ctx context.Context, h *hold, keys []string, vt ValueType, fn *gens.Func, seen []backend.Version) ([]attempt, error) {
	if h.holder == "" {
		h.holder = e.newHolder()
	}
	lkeys := make([]backend.LeaseKey, len(keys))
	for i, key := range keys {
		lkeys[i] = backend.LeaseKey{Key: e.BackendKey(key), Lock: e.LockKey(key)}
		if seen != nil {
			lkeys[i].Version = seen[i]
		}
	}
	gkeys, views := e.stampKeys(fn)
	if len(h.tags) > 0 { // the tags' counters, in the same round trip
		gkeys = append(slices.Clip(gkeys), make([]string, len(h.tags))...)
		for i, t := range h.tags {
			gkeys[len(views)+i] = t.Key
		}
	}
	var leases []backend.Lease
	var also [][]byte
	err := e.guard(ctx, observe.OpLease, keys[0], func(ctx context.Context) (err error) {
		leases, also, err = e.leaser().Lease(ctx, lkeys, backend.LeaseOptions{
			Holder: h.holder, LockTTL: e.cfg.LockTTL, PlaceholderTTL: e.leaseTTL(), Also: gkeys,
		})
		if err == nil && (len(leases) != len(keys) || len(also) != len(gkeys)) {
			err = fmt.Errorf("backend returned %d leases and %d values for %d keys", len(leases), len(also), len(keys)+len(gkeys))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	gens.Apply(views, also[:len(views)])
	for i, t := range h.tags {
		t.Learn(also[len(views)+i])
	}
	h.tagsRead = len(h.tags) > 0
	out := make([]attempt, len(keys))
	for i, l := range leases {
		out[i] = attempt{status: l.Status, version: l.Version}
		if l.Status == backend.LeaseTaken {
			h.add(held{key: keys[i], lk: lkeys[i], version: l.Version, leased: true})
		}
		if l.Value != nil {
			en, err := e.decodeEntry(ctx, keys[i], l.Value, vt, false)
			if err != nil {
				h.faulted = false
				e.releaseHold(ctx, h)
				return nil, err
			}
			out[i].entry = en
		}
	}
	return out, nil
}

// stampKeys are the keys of the generations a creation is stamped with —
// the region's, and fn's when not nil — with the views they raise.
func (e *Engine) stampKeys(fn *gens.Func) ([]string, []*gens.View) {
	if fn == nil {
		return e.marks[:], []*gens.View{&e.gens.Hard, &e.gens.Soft}
	}
	return []string{e.marks[0], e.marks[1], fn.Key}, []*gens.View{&e.gens.Hard, &e.gens.Soft, &fn.View}
}

// lockWait is the bound of a call's waits for locks: Config.LockWait from
// the first wait. Its context is made when a wait begins, so a call that
// finds its locks free makes no timer.
type lockWait struct {
	parent context.Context
	d      time.Duration
	ctx    context.Context // nil until the first wait
	cancel context.CancelFunc
}

func (e *Engine) lockWait(ctx context.Context) *lockWait {
	return &lockWait{parent: ctx, d: e.cfg.LockWait}
}

// context returns the context that bounds the waits, starting the bound at
// the first call.
func (w *lockWait) context() context.Context {
	if w.ctx == nil {
		w.ctx, w.cancel = context.WithTimeout(w.parent, w.d)
	}
	return w.ctx
}

// expired reports whether a wait ran out of time (or its parent ended).
func (w *lockWait) expired() bool { return w.ctx != nil && w.ctx.Err() != nil }

// stop releases the bound's timer.
func (w *lockWait) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}

// waitLease takes key's lease, waiting while another creator holds it
// (bounded by w), and reads the key under it. A backend that leases may
// answer instead with what another creator stored meanwhile (status
// LeaseChanged, and a fresh entry): the caller then holds nothing. A lock
// wait that runs out gives ErrLockTimeout.
func (e *Engine) waitLease(ctx context.Context, h *hold, key string, vt ValueType, c *Call, w *lockWait) (attempt, error) {
	if e.mode(h) == leaseMerged {
		a, err := e.pollLease(ctx, h, key, vt, c, w)
		if err == nil || ctx.Err() != nil || e.cfg.FailClosed || errors.Is(err, ErrLockTimeout) || IsMismatch(err) {
			return a, err
		}
		h.faulted = true // the backend failed: the in-process lock, as below
	}
	l, err := e.obtain(ctx, h, w, key)
	if err != nil {
		return attempt{}, err
	}
	h.add(held{key: key, lock: l})
	if h.faulted {
		return attempt{status: backend.LeaseTaken}, nil
	}
	entries, err := e.loadForUpdate(ctx, h, len(h.keys)-1, []string{key}, vt, c.Gen)
	if err != nil {
		return attempt{}, err
	}
	return attempt{status: backend.LeaseTaken, entry: entries[0]}, nil
}

// Bounds of the wait between two polls of a lease held by another creator.
const (
	minPoll = 2 * time.Millisecond
	maxPoll = 100 * time.Millisecond
)

// pollLease is waitLease on a backend that leases: it tries the lease, and
// while another creator holds it, waits a jittered, growing time and tries
// again, passing back the Version it saw, so that a store by the holder
// answers it (LeaseChanged) without taking the lock.
func (e *Engine) pollLease(ctx context.Context, h *hold, key string, vt ValueType, c *Call, w *lockWait) (attempt, error) {
	keys := []string{key}
	var seen []backend.Version
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	step := minPoll
	var st step_
	waiting := false
	for {
		as, err := e.leaseMerged(ctx, h, keys, vt, c.Gen, seen)
		if err != nil {
			if waiting {
				st.end(err)
			}
			return attempt{}, err
		}
		a := as[0]
		switch {
		case a.status == backend.LeaseTaken,
			a.status == backend.LeaseChanged && e.freshnessOf(ctx, a.entry, c.Gen, e.Now()) == Fresh:
			if waiting {
				st.end(nil)
			}
			return a, nil
		}
		// Held, or changed into something still not fresh: wait, then
		// try again with the Version seen.
		seen = []backend.Version{a.version}
		if !waiting {
			waiting = true
			e.stats.lockWaits.Add(ctx, 1)
			_, st.s = e.startStep(w.context(), observe.SpanLockWait, observe.TimingLockWait, key)
		}
		wait := step/2 + mrand.N(step/2+1)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		wctx := w.context()
		select {
		case <-wctx.Done():
			st.end(wctx.Err())
			if ctx.Err() != nil {
				return attempt{}, ctx.Err()
			}
			return attempt{}, e.lockTimeout(ctx, key)
		case <-timer.C:
		}
		step = min(2*step, maxPoll)
	}
}

// step_ holds a step that may not have started.
type step_ struct{ s step }

func (s *step_) end(err error) {
	if s.s.e != nil {
		s.s.end(err)
	}
}

// obtain takes key's lock, waiting while w allows: the Locker's, or the
// in-process one for a faulted call (or while the Locker's breaker is
// open). A Locker that fails makes h faulted and the in-process lock is
// taken instead; a fail-closed region returns the failure.
func (e *Engine) obtain(ctx context.Context, h *hold, w *lockWait, key string) (lock.Lock, error) {
	var lk lock.Locker = e.local
	if !h.faulted {
		lk = e.locker(ctx, key)
	}
	for {
		waited := false
		l, err := lk.TryObtain(ctx, e.LockKey(key), e.cfg.LockTTL)
		if errors.Is(err, lock.ErrNotObtained) {
			e.settleLock(ctx, lk, err, false)
			e.stats.lockWaits.Add(ctx, 1)
			sctx, st := e.startStep(w.context(), observe.SpanLockWait, observe.TimingLockWait, key)
			l, err = lk.Obtain(sctx, e.LockKey(key), e.cfg.LockTTL)
			st.end(err)
			waited = w.expired()
		}
		e.settleLock(ctx, lk, err, waited)
		switch {
		case err == nil:
			return l, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case w.expired():
			return nil, e.lockTimeout(ctx, key)
		case lk == e.local:
			h.faulted = true // cannot happen with a valid TTL; create unlocked
			return nil, nil
		}
		err = e.backendError(ctx, "lock", key, err)
		if e.cfg.FailClosed {
			return nil, err
		}
		lk, h.faulted = e.local, true
	}
}

// storeHeld writes the created values[i] of keys[i] (each held in h), whose
// creation began under g, where their fences still hold, and records their
// keys for the cached function of c; it releases every lease and lock of h
// in the same round trip where the backend allows. out[i] tells what
// became of values[i]. Failures are counted and logged: the values are
// good and go back to the callers all the same.
func (e *Engine) storeHeld(ctx context.Context, h *hold, keys []string, values []any, g serializer.Gens, c *Call) (out []storeOutcome) {
	defer e.nearDrop(keys...)
	out = make([]storeOutcome, len(keys))
	groups := e.groupForStore(ctx, keys, values, c)
	created := e.Now() // expiry counts from the store, not the creation's start
	byKey := make(map[string]*held, len(h.keys))
	for i := range h.keys {
		byKey[h.keys[i].key] = &h.keys[i]
	}
	mergedDone := false
	for gi, grp := range groups {
		ttl := e.hardTTL(grp.exp)
		m := metaOf(created, grp.exp, g, c.delta)
		gkeys, gvals := keys, values // a group of every key: idx is 0, 1, …
		if len(grp.idx) < len(keys) {
			gkeys, gvals = pick(keys, grp.idx), pick(values, grp.idx)
		}
		last := gi == len(groups)-1
		done, merged, err := e.storeGroup(ctx, h, byKey, gkeys, gvals, m, ttl, c, last)
		mergedDone = mergedDone || merged
		for j, i := range grp.idx {
			out[i] = done[j]
		}
		if err != nil && !errors.Is(err, backend.ErrTooLarge) { // logged already
			e.warn(ctx, "corral: created value not stored", "region", e.name, "err", err)
		}
	}
	if !mergedDone {
		e.releaseHold(ctx, h)
	} else {
		e.releaseLocks(ctx, h)
	}
	superseded := 0
	for _, o := range out {
		if o == overtaken {
			superseded++
		}
	}
	e.stats.superseded.Add(ctx, uint64(superseded))
	return out
}

// storeOutcome is what became of a created value: stored under its lease;
// overtaken, not stored because a write of its key voided the lease; or
// neither (not to be cached, too large, or the backend failed).
type storeOutcome uint8

const (
	notStored storeOutcome = iota
	stored
	overtaken
)

// storeGroup stores values that share a soft expiration under their
// fences; on a backend that leases, the last group's write also releases
// every lease of h (merged reports it did).
func (e *Engine) storeGroup(ctx context.Context, h *hold, byKey map[string]*held, keys []string, values []any, m serializer.Meta, ttl time.Duration, c *Call, last bool) (out []storeOutcome, merged bool, err error) {
	out = make([]storeOutcome, len(keys))
	// Keys whose fence could not be taken are not written at all.
	var ok []int
	for i, key := range keys {
		hk := byKey[key]
		if hk != nil && (hk.version != 0 || hk.unfenced) {
			ok = append(ok, i)
		} else {
			out[i] = overtaken
		}
	}
	if len(ok) < len(keys) {
		keys, values = pick(keys, ok), pick(values, ok)
	}
	// mark sets the outcome of the written keys: stored, or, when err is
	// nil, overtaken; the others were not stored.
	mark := func(written []bool, err error) {
		for j, i := range ok {
			switch {
			case j < len(written) && written[j]:
				out[i] = stored
			case err == nil:
				out[i] = overtaken
			}
		}
	}
	if len(keys) == 0 && !(last && h.holder != "") {
		return out, false, nil
	}
	switch t := e.tier.(type) {
	case *valueTier:
		written := make([]bool, len(keys))
		for i, key := range keys {
			hk := byKey[key]
			ns, k := t.localKey(key)
			km := c.metaFor(key, m)
			en := &backend.Entry{Value: values[i], Created: km.Created, Expiration: km.Expiration, Gens: km.Gens, Delta: km.Delta}
			if hk.unfenced {
				t.store.StoreEntry(ns, k, en, ttl)
				written[i] = true
			} else {
				written[i] = t.cond.StoreEntryIf(ns, k, en, ttl, hk.version)
			}
		}
		mark(written, nil)
		e.record(ctx, c.Fn, storedKeys(keys, written), ttl)
		return out, false, nil
	case *byteTier:
		if len(keys) > 0 && byKey[keys[0]].unfenced {
			var err error
			if c.keyTags == nil {
				err = t.save(ctx, keys, values, m, ttl, c.Fn)
			} else {
				for i, key := range keys { // tags differ by key: one save each
					if err = t.save(ctx, keys[i:i+1], values[i:i+1], c.metaFor(key, m), ttl, c.Fn); err != nil {
						break
					}
				}
			}
			if err == nil {
				mark(slices.Repeat([]bool{true}, len(keys)), nil)
			}
			return out, false, err
		}
		items, err := e.encodeItems(keys, values, m, ttl, c)
		if err != nil {
			return out, false, err
		}
		var stored []bool
		grouped := c.Fn != "" && t.grouped != nil
		switch {
		case t.leaser != nil && h.holder != "":
			held := make([]backend.LeaseKey, 0, len(h.keys))
			for _, key := range keys {
				hk := byKey[key]
				held = append(held, e.leaseKey(hk))
			}
			for _, key := range keys {
				byKey[key].leased = false
			}
			if last { // release every other lease of h in the same round trip
				for i := range h.keys {
					if hk := &h.keys[i]; hk.leased {
						held = append(held, e.leaseKey(hk))
						hk.leased = false
					}
				}
			}
			var g backend.Group
			if grouped {
				g = backend.Group{Name: t.grouped.Group(c.Fn), Members: keys, TTL: ttl}
			}
			var lost []bool
			err = e.guard(ctx, observe.OpStoreLeased, firstOr(keys, h), func(ctx context.Context) (err error) {
				stored, lost, err = t.leaser.StoreLeased(ctx, items, held, h.holder, g)
				return err
			})
			for i, l := range lost {
				if hk := heldOf(h, held[i].Key, e); l && hk != nil && !hk.lost {
					hk.lost = true
					e.lockLost(ctx, hk.key)
				}
			}
			merged = last
			if !grouped && c.Fn != "" {
				defer func() { e.record(ctx, c.Fn, storedKeys(keys, stored), ttl) }()
			}
		case grouped && t.cgrouper != nil:
			versions := make([]backend.Version, len(keys))
			for i, key := range keys {
				versions[i] = byKey[key].version
			}
			err = e.guard(ctx, observe.OpSetIfGrouped, keys[0], func(ctx context.Context) (err error) {
				stored, err = t.cgrouper.SetIfGrouped(ctx, items, versions, t.grouped.Group(c.Fn), keys, ttl)
				return err
			})
		default:
			versions := make([]backend.Version, len(keys))
			for i, key := range keys {
				versions[i] = byKey[key].version
			}
			err = e.guard(ctx, observe.OpSetIf, keys[0], func(ctx context.Context) (err error) {
				stored, err = t.cond.SetIf(ctx, items, versions)
				return err
			})
			defer func() { e.record(ctx, c.Fn, storedKeys(keys, stored), ttl) }()
		}
		// Too large (or not stored beside one that was) is not cached,
		// not overtaken.
		mark(stored, err)
		if err != nil && !errors.Is(err, backend.ErrTooLarge) {
			return out, merged, err
		}
		if err != nil {
			var refused []string
			for i, key := range keys {
				if i >= len(stored) || !stored[i] {
					refused = append(refused, key)
				}
			}
			_ = e.notStoredTooLarge(ctx, refused, err)
		}
		return out, merged, nil
	}
	return out, false, nil
}

// heldOf is the key of h whose backend key is full, or nil.
func heldOf(h *hold, full string, e *Engine) *held {
	for i := range h.keys {
		if e.leaseKey(&h.keys[i]).Key == full {
			return &h.keys[i]
		}
	}
	return nil
}

func firstOr(keys []string, h *hold) string {
	if len(keys) > 0 {
		return keys[0]
	}
	if len(h.keys) > 0 {
		return h.keys[0].key
	}
	return ""
}

func pick[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for j, i := range idx {
		out[j] = s[i]
	}
	return out
}

func storedKeys(keys []string, stored []bool) []string {
	var out []string
	for i, k := range keys {
		if i < len(stored) && stored[i] {
			out = append(out, k)
		}
	}
	return out
}

// releaseHold releases every lease and lock of h. After a backend failure
// the release of a distributed lock goes to a goroutine the engine owns, so
// that the callers do not wait for a locker that may time out too; the
// lock expires by its TTL if the release fails.
func (e *Engine) releaseHold(ctx context.Context, h *hold) {
	var leases []backend.LeaseKey
	for i := range h.keys {
		if hk := &h.keys[i]; hk.leased {
			leases = append(leases, e.leaseKey(hk))
			hk.leased = false
		}
	}
	if len(leases) > 0 {
		holder := h.holder
		release := func(ctx context.Context) {
			_ = e.guard(ctx, observe.OpReleaseLeases, leases[0].Key, func(ctx context.Context) error {
				return e.leaser().ReleaseLeases(ctx, leases, holder)
			})
		}
		if !h.faulted || !e.goOwned(ctx, release) {
			release(context.WithoutCancel(ctx))
		}
	}
	e.releaseLocks(ctx, h)
}

// releaseLocks releases the Locker's (or in-process) locks of h.
func (e *Engine) releaseLocks(ctx context.Context, h *hold) {
	var locks []held
	for i := range h.keys {
		if h.keys[i].lock != nil {
			locks = append(locks, h.keys[i])
			h.keys[i].lock = nil
		}
	}
	if len(locks) == 0 {
		return
	}
	all := func(ctx context.Context) {
		for _, hk := range locks {
			e.release(ctx, hk.key, hk.lock)
		}
	}
	if h.faulted && !e.allLocal(locks) && e.goOwned(ctx, all) {
		return
	}
	all(ctx)
}

// allLocal reports whether every lock is the in-process lock's, whose
// release cannot block.
func (e *Engine) allLocal(locks []held) bool {
	for _, hk := range locks {
		if !e.local.Issued(hk.lock) {
			return false
		}
	}
	return true
}

// release frees l, counting a lock that was lost meanwhile.
func (e *Engine) release(ctx context.Context, key string, l lock.Lock) {
	err := l.Release(context.WithoutCancel(ctx))
	switch {
	case errors.Is(err, lock.ErrNotHeld):
		e.lockLost(ctx, key)
	case err != nil:
		_ = e.backendError(ctx, "unlock", key, err)
	}
}

// lockLost counts and logs a lock found lost.
func (e *Engine) lockLost(ctx context.Context, key string) {
	e.stats.locksLost.Add(ctx, 1)
	e.warn(ctx, "corral: lock lost while creating; another caller may have created too",
		"region", e.name, "key", key, "lock_ttl", e.cfg.LockTTL)
}

// keepalive extends the locks and leases of h every third of
// Config.LockTTL until the returned stop is called, so a creator slower
// than the TTL keeps them. The extensions run from a timer, so a creator
// faster than a third of the TTL — nearly all of them — costs no goroutine
// and no hand-off; stop waits for an extension under way to end, and no
// extension starts after it returns.
func (e *Engine) keepalive(ctx context.Context, h *hold) *keeper {
	has := false
	for _, hk := range h.keys {
		if hk.lock != nil || hk.leased {
			has = true
		}
	}
	if !has {
		return nil
	}
	k := &keeper{e: e, ctx: ctx, h: h}
	k.mu.Lock()
	k.t = time.AfterFunc(e.cfg.LockTTL/3, k.extend)
	k.mu.Unlock()
	return k
}

// keeper extends a creation's locks; see keepalive.
type keeper struct {
	e   *Engine
	ctx context.Context
	h   *hold

	mu      sync.Mutex // protects t and stopped; held while extending
	t       *time.Timer
	stopped bool
}

// extend extends every held lock and lease once, then arms the next
// extension.
func (k *keeper) extend() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	e := k.e
	defer func() {
		if p := recover(); p != nil {
			k.stopped = true
			e.warn(k.ctx, "corral: panic while extending locks; they are no longer extended", "region", e.name, "panic", fmt.Sprint(p))
		}
	}()
	var leases []backend.LeaseKey
	var leasedAt []int
	for i := range k.h.keys {
		hk := &k.h.keys[i]
		switch {
		case hk.leased:
			leases = append(leases, e.leaseKey(hk))
			leasedAt = append(leasedAt, i)
		case hk.lock != nil:
			err := hk.lock.Extend(k.ctx, e.cfg.LockTTL)
			switch {
			case errors.Is(err, lock.ErrNotHeld):
				// Counted by release, which will find it lost too.
				e.warn(k.ctx, "corral: lock lost while extending it", "region", e.name, "lock", hk.lock.Key())
			case err != nil:
				_ = e.backendError(k.ctx, "extend lock", hk.key, err)
			}
		}
	}
	if len(leases) > 0 {
		var ok []bool
		err := e.guard(k.ctx, observe.OpExtendLeases, leases[0].Key, func(ctx context.Context) (err error) {
			ok, err = e.leaser().ExtendLeases(ctx, leases, k.h.holder, e.cfg.LockTTL)
			return err
		})
		for j, i := range leasedAt {
			if err == nil && j < len(ok) && !ok[j] {
				// The lease's lock expired: another creator may be on the
				// key; the fence still decides whether this one stores.
				k.h.keys[i].leased, k.h.keys[i].lost = false, true
				e.lockLost(k.ctx, k.h.keys[i].key)
			}
		}
	}
	k.t.Reset(e.cfg.LockTTL / 3)
}

// stop ends the extensions, waiting for one under way.
// stop stops the extensions; on a nil keeper (nothing to keep) it does
// nothing.
func (k *keeper) stop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.t.Stop()
}
