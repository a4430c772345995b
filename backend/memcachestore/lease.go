package memcachestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/mcmeta"
)

// ErrNoGroups is wrapped by the error of a StoreLeased that asks to record
// its keys in a group: memcached has no sets, and memcachereg keeps its
// records by generation, beside the values, not in groups. It wraps
// backend.ErrInvalidArgument.
var ErrNoGroups = fmt.Errorf("memcachestore: memcached records no groups: %w", backend.ErrInvalidArgument)

// Leases ([backend.Leaser]).
//
// A lease has two parts on memcached: the lock, an item of its own under
// LeaseKey.Lock holding the holder, added with a TTL — the item the
// memcached locker (memcachelocker) adds for the same key, so that
// processes that lock through a Locker and processes that lease exclude
// each other — and the fence, the CAS value of the value's item, which
// taking the lease renews (see meta.go) and StoreLeased compares.
//
// On the meta protocol (a Store on a Pool) one pipeline per server does
// what the text protocol needs several round trips for:
//
//   - Lease: `ms <lock> ME T<ttl> c` (add the lock) and `mg <key>
//     N<ttl> c v f` (read the key, vivifying it if it is missing) in one
//     round trip. A lock added and a key vivified by this read: taken, one
//     round trip. A lock added and a key holding a value or a placeholder:
//     one more round trip renews its CAS value. A lock not added: held.
//   - StoreLeased: `ms <key> C<version> T<ttl>` per item and `md <lock>
//     C<lock's CAS>` per lock, one round trip.
//   - ExtendLeases: `ms <lock> C<lock's CAS> T<ttl> c`; ReleaseLeases:
//     `md <lock> C<lock's CAS>`. One round trip.
//
// The lock's CAS value, which lets a command act on the holder's lock and
// on no other, is returned by the add; the Store remembers it for the
// holder (lockMemo). A lock this Store did not take, or took too long ago,
// is first read (`mg <lock> v c`) to check its holder: one more round trip.

// Lease reads each key and tries to take its lease for o.Holder; see
// [backend.Leaser.Lease]. A key that holds nothing gets a placeholder that
// lives max(o.PlaceholderTTL, o.LockTTL), rounded up to whole seconds plus
// one; a lock lives o.LockTTL, rounded likewise.
//
// A key whose lock another holder holds reports LeaseHeld; so does one
// whose lock o.Holder itself holds already (a creation leases a key once).
// On the meta protocol, a held key that was missing is left holding a
// placeholder (memcached vivifies a missing key in the read itself, before
// the server knows whether the lock was added): no reader sees it, and it
// voids no live lease, since the holder's own placeholder was already gone.
// A key that holds nothing at all reports the zero Version.
//
// It returns an error wrapping backend.ErrInvalidArgument when o.Holder is
// empty or a TTL is not positive.
func (s *Store) Lease(ctx context.Context, keys []backend.LeaseKey, o backend.LeaseOptions) ([]backend.Lease, [][]byte, error) {
	switch {
	case o.Holder == "":
		return nil, nil, fmt.Errorf("memcachestore: lease with no holder: %w", backend.ErrInvalidArgument)
	case o.LockTTL <= 0 || o.PlaceholderTTL <= 0:
		return nil, nil, fmt.Errorf("memcachestore: lease with lock TTL %v and placeholder TTL %v: %w", o.LockTTL, o.PlaceholderTTL, backend.ErrInvalidArgument)
	}
	if len(keys) == 0 && len(o.Also) == 0 {
		return []backend.Lease{}, [][]byte{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	slots, of := distinctLeases(keys)
	var also [][]byte
	var err error
	if s.meta != nil {
		also, err = s.leaseSlotsMeta(ctx, slots, o)
	} else {
		also, err = s.leaseSlotsText(ctx, slots, o)
	}
	if err != nil {
		return nil, nil, err
	}
	leases := make([]backend.Lease, len(keys))
	given := make([]bool, len(slots))
	for i, j := range of {
		leases[i] = slots[j].out
		if given[j] && leases[i].Value != nil {
			leases[i].Value = append([]byte{}, leases[i].Value...)
		}
		given[j] = true
	}
	return leases, also, nil
}

// leaseSlot is the lease of one distinct key in a call of Lease.
type leaseSlot struct {
	lk        backend.LeaseKey // as first named
	key, lock string           // mangled
	out       backend.Lease
}

// distinctLeases returns one slot per distinct key, and the slot of each
// key.
func distinctLeases(keys []backend.LeaseKey) (slots []*leaseSlot, of []int) {
	of = make([]int, len(keys))
	seen := make(map[string]int, len(keys))
	for i, lk := range keys {
		m := MangleKey(lk.Key)
		j, ok := seen[m]
		if !ok {
			j = len(slots)
			seen[m] = j
			slots = append(slots, &leaseSlot{lk: lk, key: m, lock: MangleKey(lk.Lock)})
		}
		of[i] = j
	}
	return slots, of
}

// lockExp is memcached's expiration of a lock that must live at least
// ttl, as the memcached locker's: whole seconds rounded up, plus one for
// memcached's clock tick.
func (s *Store) lockExp(ttl time.Duration) int32 { return Expiration(ttl+time.Second, s.opts.Now()) }

// leaseSlotsMeta leases slots on the meta protocol, and reads o.Also.
func (s *Store) leaseSlotsMeta(ctx context.Context, slots []*leaseSlot, o backend.LeaseOptions) ([][]byte, error) {
	lockExp, phExp := s.lockExp(o.LockTTL), s.placeholderExp(max(o.PlaceholderTTL, o.LockTTL))
	now := s.opts.Now()
	alsoMangled, alsoUnique := mangleAll(o.Also)
	reqs := make([]mcmeta.Request, 0, 2*len(slots)+len(alsoUnique))
	for _, sl := range slots {
		if sl.lk.Version != 0 {
			// A poll: is the lock still held, and the key unchanged?
			reqs = append(reqs,
				mcmeta.Request{Cmd: mcmeta.Get, Key: sl.lock},
				mcmeta.Request{Cmd: mcmeta.Get, Key: sl.key, Flags: mcmeta.Flags(nil).Flag('c').Flag('v').Flag('f')})
			continue
		}
		reqs = append(reqs, addLock(sl.lock, o.Holder, lockExp), leaseRead(sl.key, phExp))
	}
	for _, m := range alsoUnique {
		reqs = append(reqs, mcmeta.Request{Cmd: mcmeta.Get, Key: m, Flags: mcmeta.Flags(nil).Flag('v').Flag('f')})
	}
	replies := make([]mcmeta.Reply, len(reqs))
	if err := s.do(ctx, "lease", reqs, replies); err != nil {
		return nil, err
	}
	var taken []*metaLease
	takenBy := make(map[*metaLease]*leaseSlot)
	var retake []*leaseSlot // polls that found the lock free and the key unchanged
	for j, sl := range slots {
		lockRep, keyRep := &replies[2*j], &replies[2*j+1]
		if sl.lk.Version != 0 {
			if err := checkRead(sl.key, keyRep); err != nil {
				return nil, err
			}
			switch {
			case keyRep.Status != mcmeta.VA || s.version(sl.key, keyRep.CAS) != sl.lk.Version:
				sl.out = s.readLease(backend.LeaseChanged, sl.key, keyRep)
			case lockRep.Status == mcmeta.HD:
				sl.out = s.readLease(backend.LeaseHeld, sl.key, keyRep)
			case lockRep.Status == mcmeta.EN:
				retake = append(retake, sl)
			default:
				return nil, fmt.Errorf("memcachestore: lease: unexpected reply %s %s to mg of lock %q", lockRep.Status, lockRep.Message, sl.lock)
			}
			continue
		}
		added, err := lockAdded(sl.lock, lockRep)
		if err != nil {
			return nil, err
		}
		if err := checkRead(sl.key, keyRep); err != nil {
			return nil, err
		}
		if !added {
			sl.out = s.readLease(backend.LeaseHeld, sl.key, keyRep)
			continue
		}
		s.locks.remember(lockRef{sl.lock, o.Holder}, lockRep.CAS, now, now.Add(o.LockTTL+time.Second))
		l := &metaLease{key: sl.key, read: *keyRep}
		taken = append(taken, l)
		takenBy[l] = sl
	}
	if len(retake) > 0 {
		more, err := s.retakeMeta(ctx, retake, o, lockExp, phExp)
		if err != nil {
			return nil, err
		}
		for l, sl := range more {
			taken = append(taken, l)
			takenBy[l] = sl
		}
	}
	if err := s.leaseMeta(ctx, taken, phExp); err != nil {
		return nil, err
	}
	for _, l := range taken {
		takenBy[l].out = backend.Lease{Status: backend.LeaseTaken, Value: l.value, Version: s.version(l.key, l.version)}
	}
	values := make(map[string][]byte, len(alsoUnique))
	for i, m := range alsoUnique {
		r := &replies[2*len(slots)+i]
		if err := checkRead(m, r); err != nil {
			return nil, err
		}
		if v, ok := payloadOf(r.ClientFlags, r.Value); ok && r.Status == mcmeta.VA {
			values[m] = v
		}
	}
	also := make([][]byte, len(o.Also))
	fillFrom(also, alsoMangled, values)
	return also, nil
}

// retakeMeta tries again to take the leases of polls that found the lock
// free and the key unchanged: the lock is added and the key read again, in
// one round trip; a key that changed meanwhile reports LeaseChanged (and
// the lock is released), a lock taken meanwhile LeaseHeld. It returns the
// leases to renew, by slot.
func (s *Store) retakeMeta(ctx context.Context, slots []*leaseSlot, o backend.LeaseOptions, lockExp, phExp int32) (map[*metaLease]*leaseSlot, error) {
	now := s.opts.Now()
	reqs := make([]mcmeta.Request, 0, 2*len(slots))
	for _, sl := range slots {
		reqs = append(reqs, addLock(sl.lock, o.Holder, lockExp), leaseRead(sl.key, phExp))
	}
	replies := make([]mcmeta.Reply, len(reqs))
	if err := s.do(ctx, "lease", reqs, replies); err != nil {
		return nil, err
	}
	taken := make(map[*metaLease]*leaseSlot)
	var undo []mcmeta.Request
	for j, sl := range slots {
		lockRep, keyRep := &replies[2*j], &replies[2*j+1]
		added, err := lockAdded(sl.lock, lockRep)
		if err != nil {
			return nil, err
		}
		if err := checkRead(sl.key, keyRep); err != nil {
			return nil, err
		}
		switch {
		case !added:
			sl.out = s.readLease(backend.LeaseHeld, sl.key, keyRep)
		case vivified(keyRep) || s.version(sl.key, keyRep.CAS) != sl.lk.Version:
			sl.out = s.readLease(backend.LeaseChanged, sl.key, keyRep)
			undo = append(undo, mcmeta.Request{Cmd: mcmeta.Delete, Key: sl.lock, Flags: mcmeta.Flags(nil).Uint('C', lockRep.CAS)})
		default:
			s.locks.remember(lockRef{sl.lock, o.Holder}, lockRep.CAS, now, now.Add(o.LockTTL+time.Second))
			taken[&metaLease{key: sl.key, read: *keyRep}] = sl
		}
	}
	if len(undo) > 0 {
		if err := s.do(ctx, "lease", undo, make([]mcmeta.Reply, len(undo))); err != nil {
			return nil, err
		}
	}
	return taken, nil
}

// addLock is the request that adds holder's lock under lock (mangled),
// with expiration exp, and returns its CAS value.
func addLock(lock, holder string, exp int32) mcmeta.Request {
	return mcmeta.Request{Cmd: mcmeta.Set, Key: lock, Value: []byte(holder), Flags: mcmeta.Flags(nil).Token('M', "E").Int('T', int64(exp)).Flag('c')}
}

// lockAdded reads the reply to addLock.
func lockAdded(lock string, r *mcmeta.Reply) (bool, error) {
	switch r.Status {
	case mcmeta.HD:
		if r.CAS == 0 {
			return false, fmt.Errorf("memcachestore: lock %q: %w", lock, ErrNoCAS)
		}
		return true, nil
	case mcmeta.NS:
		return false, nil
	case mcmeta.ServerError:
		return false, fmt.Errorf("memcachestore: lock %q: server error: %s", lock, r.Message)
	}
	return false, fmt.Errorf("memcachestore: lock %q: unexpected reply %s", lock, r.Status)
}

// checkRead fails on a reply to mg that is neither a hit nor a miss.
func checkRead(key string, r *mcmeta.Reply) error {
	switch r.Status {
	case mcmeta.VA, mcmeta.EN:
		return nil
	case mcmeta.ServerError:
		return fmt.Errorf("memcachestore: read %q: server error: %s", key, r.Message)
	}
	return fmt.Errorf("memcachestore: read %q: unexpected reply %s", key, r.Status)
}

// readLease is a lease that took nothing, reporting what r read from key.
func (s *Store) readLease(status backend.LeaseStatus, key string, r *mcmeta.Reply) backend.Lease {
	l := backend.Lease{Status: status}
	if r.Status == mcmeta.VA {
		l.Version = s.version(key, r.CAS)
		if v, ok := payloadOf(r.ClientFlags, r.Value); ok {
			l.Value = v
		}
	}
	return l
}

// StoreLeased stores items[i], as Set does, where its key still holds
// held[i].Version, and ends holder's lock on every key of held; see
// [backend.Leaser.StoreLeased]. On the meta protocol it is one round trip
// (one pipeline per server) when this Store took the locks, two
// otherwise.
//
// It returns an error wrapping backend.ErrInvalidArgument when held is
// shorter than items, holder is empty, or g.Members differs in length
// from items; and ErrNoGroups, which wraps it, when g names a group, with
// nothing stored (memcached keeps no groups). A value over the item limit
// is not sent and gives an error wrapping ErrTooLarge; the other items are
// still stored and the locks released. On another error, stored reports
// the items known to be stored.
func (s *Store) StoreLeased(ctx context.Context, items []backend.Item, held []backend.LeaseKey, holder string, g backend.Group) ([]bool, []bool, error) {
	stored, err := s.storeLeased(ctx, items, held, holder, g)
	// Whether holder still held each lock is not reported: lost is all
	// false (see backend.Leaser.StoreLeased: where the backend can tell).
	return stored, make([]bool, len(held)), err
}

func (s *Store) storeLeased(ctx context.Context, items []backend.Item, held []backend.LeaseKey, holder string, g backend.Group) ([]bool, error) {
	switch {
	case len(held) < len(items):
		return nil, fmt.Errorf("memcachestore: %d items with %d leases: %w", len(items), len(held), backend.ErrInvalidArgument)
	case holder == "":
		return nil, fmt.Errorf("memcachestore: store leased with no holder: %w", backend.ErrInvalidArgument)
	case g.Name != "" && len(g.Members) != len(items):
		return nil, fmt.Errorf("memcachestore: %d items with %d group members: %w", len(items), len(g.Members), backend.ErrInvalidArgument)
	case g.Name != "":
		return nil, fmt.Errorf("store leased in group %q: %w", g.Name, ErrNoGroups)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	versions := make([]backend.Version, len(items))
	for i := range items {
		versions[i] = held[i].Version
	}
	if s.meta == nil {
		stored, err := s.SetIf(ctx, items, versions)
		if rerr := s.releaseText(ctx, held, holder); err == nil {
			err = rerr
		}
		return stored, err
	}
	stored := make([]bool, len(items))
	reqs := make([]mcmeta.Request, 0, len(items)+len(held))
	sent := make([]int, 0, len(items))
	var first error
	for i, it := range items {
		if versions[i] == 0 {
			continue
		}
		req, ok, err := s.storeRequest(it, versions[i])
		if err != nil {
			first = cmp(first, err)
		}
		if ok {
			reqs = append(reqs, req)
			sent = append(sent, i)
		}
	}
	// The releases follow the stores: on a server that holds both, the
	// lock ends after the value is stored.
	rel := s.releaseRequests(held, holder)
	reqs = append(reqs, rel.reqs...)
	replies := make([]mcmeta.Reply, len(reqs))
	err := s.do(ctx, "store leased", reqs, replies)
	for j, i := range sent {
		ok, rerr := storeOutcome(items[i].Key, items[i].Value, &replies[j])
		stored[i] = ok
		if rerr != nil {
			first = cmp(first, rerr)
		}
	}
	if err != nil {
		return stored, err
	}
	if err := s.finishRelease(ctx, rel, replies[len(sent):], holder); err != nil {
		return stored, err
	}
	return stored, first
}

// ExtendLeases resets to ttl from now (rounded as Lease rounds) the lock
// of each key that holder still holds; see [backend.Leaser.ExtendLeases].
// On the meta protocol it is one round trip when this Store took the
// locks, two otherwise. It returns an error wrapping
// backend.ErrInvalidArgument when holder is empty or ttl is not positive.
func (s *Store) ExtendLeases(ctx context.Context, keys []backend.LeaseKey, holder string, ttl time.Duration) ([]bool, error) {
	switch {
	case holder == "":
		return nil, fmt.Errorf("memcachestore: extend leases with no holder: %w", backend.ErrInvalidArgument)
	case ttl <= 0:
		return nil, fmt.Errorf("memcachestore: extend leases by %v: %w", ttl, backend.ErrInvalidArgument)
	}
	ok := make([]bool, len(keys))
	if len(keys) == 0 {
		return ok, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	exp := s.lockExp(ttl)
	locks, of := distinctLocks(keys)
	extended := make([]bool, len(locks))
	if s.meta == nil {
		err := s.each(ctx, len(locks), func(j int) error {
			var err error
			extended[j], err = s.swapLockText(locks[j], holder, exp)
			return err
		})
		if err != nil {
			return nil, err
		}
	} else {
		// The locks whose CAS value is known are rewritten at once; the
		// others are read first.
		now := s.opts.Now()
		until := now.Add(ttl + time.Second)
		var known, unknown []int
		cas := make([]uint64, len(locks))
		for j, lock := range locks {
			var ok bool
			if cas[j], ok = s.locks.recall(lockRef{lock, holder}, now); ok {
				known = append(known, j)
			} else {
				unknown = append(unknown, j)
			}
		}
		reqs := make([]mcmeta.Request, 0, len(locks))
		for _, j := range known {
			reqs = append(reqs, extendLock(locks[j], holder, cas[j], exp))
		}
		for _, j := range unknown {
			reqs = append(reqs, readLock(locks[j]))
		}
		replies := make([]mcmeta.Reply, len(reqs))
		if err := s.do(ctx, "extend leases", reqs, replies); err != nil {
			return nil, err
		}
		var again []mcmeta.Request
		var againOf []int
		for n, j := range known {
			r := &replies[n]
			extended[j] = r.Status == mcmeta.HD
			if extended[j] {
				s.locks.remember(lockRef{locks[j], holder}, r.CAS, now, until)
			} else {
				s.locks.forget(lockRef{locks[j], holder})
			}
		}
		for n, j := range unknown {
			r := &replies[len(known)+n]
			if r.Status == mcmeta.VA && string(r.Value) == holder {
				again = append(again, extendLock(locks[j], holder, r.CAS, exp))
				againOf = append(againOf, j)
			}
		}
		if len(again) > 0 {
			replies = make([]mcmeta.Reply, len(again))
			if err := s.do(ctx, "extend leases", again, replies); err != nil {
				return nil, err
			}
			for n, j := range againOf {
				if extended[j] = replies[n].Status == mcmeta.HD; extended[j] {
					s.locks.remember(lockRef{locks[j], holder}, replies[n].CAS, now, until)
				}
			}
		}
	}
	for i, j := range of {
		ok[i] = extended[j]
	}
	return ok, nil
}

// extendLock rewrites holder's lock of CAS value cas with expiration exp,
// returning its new CAS value.
func extendLock(lock, holder string, cas uint64, exp int32) mcmeta.Request {
	return mcmeta.Request{Cmd: mcmeta.Set, Key: lock, Value: []byte(holder), Flags: mcmeta.Flags(nil).Uint('C', cas).Int('T', int64(exp)).Flag('c')}
}

// readLock reads a lock's holder and CAS value.
func readLock(lock string) mcmeta.Request {
	return mcmeta.Request{Cmd: mcmeta.Get, Key: lock, Flags: mcmeta.Flags(nil).Flag('v').Flag('c')}
}

// ReleaseLeases ends holder's lock on each key, leaving the keys' values
// and Versions as they are; see [backend.Leaser.ReleaseLeases]. On the
// meta protocol it is one round trip when this Store took the locks, two
// otherwise. It returns an error wrapping backend.ErrInvalidArgument when
// holder is empty.
func (s *Store) ReleaseLeases(ctx context.Context, keys []backend.LeaseKey, holder string) error {
	if holder == "" {
		return fmt.Errorf("memcachestore: release leases with no holder: %w", backend.ErrInvalidArgument)
	}
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.meta == nil {
		return s.releaseText(ctx, keys, holder)
	}
	rel := s.releaseRequests(keys, holder)
	replies := make([]mcmeta.Reply, len(rel.reqs))
	if err := s.do(ctx, "release leases", rel.reqs, replies); err != nil {
		return err
	}
	return s.finishRelease(ctx, rel, replies, holder)
}

// release is the first round trip of the release of some locks: a
// conditional delete of each lock whose CAS value is known, a read of the
// others.
type release struct {
	reqs  []mcmeta.Request
	locks []string // the lock of each request
}

// releaseRequests returns the first round trip of the release of holder's
// locks of keys, and forgets their CAS values.
func (s *Store) releaseRequests(keys []backend.LeaseKey, holder string) release {
	locks, _ := distinctLocks(keys)
	now := s.opts.Now()
	rel := release{reqs: make([]mcmeta.Request, 0, len(locks)), locks: locks}
	for _, lock := range locks {
		ref := lockRef{lock, holder}
		if cas, ok := s.locks.recall(ref, now); ok {
			rel.reqs = append(rel.reqs, deleteLock(lock, cas))
			s.locks.forget(ref)
			continue
		}
		rel.reqs = append(rel.reqs, readLock(lock))
	}
	return rel
}

// finishRelease deletes, in a second round trip, the locks of rel that
// were read and found to be holder's.
func (s *Store) finishRelease(ctx context.Context, rel release, replies []mcmeta.Reply, holder string) error {
	var again []mcmeta.Request
	for j, req := range rel.reqs {
		if req.Cmd != mcmeta.Get {
			continue
		}
		if r := &replies[j]; r.Status == mcmeta.VA && string(r.Value) == holder {
			again = append(again, deleteLock(rel.locks[j], r.CAS))
		}
	}
	if len(again) == 0 {
		return nil
	}
	return s.do(ctx, "release leases", again, make([]mcmeta.Reply, len(again)))
}

// deleteLock deletes a lock if it still has CAS value cas.
func deleteLock(lock string, cas uint64) mcmeta.Request {
	return mcmeta.Request{Cmd: mcmeta.Delete, Key: lock, Flags: mcmeta.Flags(nil).Uint('C', cas)}
}

// distinctLocks returns the distinct (mangled) locks of keys, and the
// index of each key's.
func distinctLocks(keys []backend.LeaseKey) (locks []string, of []int) {
	of = make([]int, len(keys))
	seen := make(map[string]int, len(keys))
	for i, lk := range keys {
		m := MangleKey(lk.Lock)
		j, ok := seen[m]
		if !ok {
			j = len(locks)
			seen[m] = j
			locks = append(locks, m)
		}
		of[i] = j
	}
	return locks, of
}

// lockRef names a lock taken by a holder.
type lockRef struct{ lock, holder string }

// lockMemo remembers the CAS value of the locks a Store's leases took,
// until their TTL (plus a second) has passed. It is a cache: a lock it
// does not know is read before it is released or extended. The zero value
// is ready to use.
type lockMemo struct {
	mu sync.Mutex // protects m and sweepAt
	m  map[lockRef]memoLock
	// sweepAt is the size of m at which the locks past their TTL are
	// dropped.
	sweepAt int
}

type memoLock struct {
	cas   uint64
	until time.Time
}

// remember records the CAS value of ref's lock, taken or extended at now
// to live until until.
func (m *lockMemo) remember(ref lockRef, cas uint64, now, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[lockRef]memoLock)
	}
	if len(m.m) >= m.sweepAt {
		for r, l := range m.m {
			if now.After(l.until) {
				delete(m.m, r)
			}
		}
		m.sweepAt = 2*len(m.m) + 64
	}
	m.m[ref] = memoLock{cas: cas, until: until}
}

// recall returns the CAS value of ref's lock, unless it is unknown or past
// its TTL at now.
func (m *lockMemo) recall(ref lockRef, now time.Time) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.m[ref]
	if !ok || now.After(l.until) {
		return 0, false
	}
	return l.cas, true
}

func (m *lockMemo) forget(ref lockRef) {
	m.mu.Lock()
	delete(m.m, ref)
	m.mu.Unlock()
}

// The text protocol (a Store on a gomemcache client): the same leases in
// more round trips — the lock's add, GetForUpdate's three round trips, a
// gets and a cas per lock to release or extend it.

// leaseSlotsText leases slots on the text protocol, and reads o.Also.
func (s *Store) leaseSlotsText(ctx context.Context, slots []*leaseSlot, o backend.LeaseOptions) ([][]byte, error) {
	lockExp := s.lockExp(o.LockTTL)
	// Polls first: a changed key or a live lock is reported at once.
	var polls, tryLock []*leaseSlot
	for _, sl := range slots {
		if sl.lk.Version != 0 {
			polls = append(polls, sl)
		} else {
			tryLock = append(tryLock, sl)
		}
	}
	var recheck map[*leaseSlot]bool
	if len(polls) > 0 {
		keys := make([]string, 0, 2*len(polls))
		for _, sl := range polls {
			keys = append(keys, sl.lock, sl.key)
		}
		items, err := s.client.GetMulti(keys)
		if err != nil {
			return nil, fmt.Errorf("memcachestore: lease: %w", err)
		}
		recheck = make(map[*leaseSlot]bool)
		for _, sl := range polls {
			it := items[sl.key]
			switch {
			case it == nil || backend.Version(it.CasID) != sl.lk.Version:
				sl.out = itemLease(backend.LeaseChanged, it)
			case items[sl.lock] != nil:
				sl.out = itemLease(backend.LeaseHeld, it)
			default:
				recheck[sl] = true
				tryLock = append(tryLock, sl)
			}
		}
	}
	added := make([]bool, len(tryLock))
	err := s.each(ctx, len(tryLock), func(j int) error {
		err := s.client.Add(&memcache.Item{Key: tryLock[j].lock, Value: []byte(o.Holder), Expiration: lockExp})
		switch {
		case err == nil:
			added[j] = true
		case !errors.Is(err, memcache.ErrNotStored):
			return fmt.Errorf("memcachestore: lock %q: %w", tryLock[j].lock, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var taken, heldSlots, undo []*leaseSlot
	var reread []*leaseSlot
	for j, sl := range tryLock {
		switch {
		case !added[j]:
			heldSlots = append(heldSlots, sl)
		case recheck[sl]:
			reread = append(reread, sl)
		default:
			taken = append(taken, sl)
		}
	}
	// Polls that took the lock: still unchanged?
	if len(reread) > 0 {
		keys := make([]string, len(reread))
		for i, sl := range reread {
			keys[i] = sl.key
		}
		items, err := s.client.GetMulti(keys)
		if err != nil {
			return nil, fmt.Errorf("memcachestore: lease: %w", err)
		}
		for _, sl := range reread {
			if it := items[sl.key]; it == nil || backend.Version(it.CasID) != sl.lk.Version {
				sl.out = itemLease(backend.LeaseChanged, it)
				undo = append(undo, sl)
			} else {
				taken = append(taken, sl)
			}
		}
	}
	if len(undo) > 0 {
		held := make([]backend.LeaseKey, len(undo))
		for i, sl := range undo {
			held[i] = backend.LeaseKey{Key: sl.lk.Key, Lock: sl.lk.Lock}
		}
		if err := s.releaseText(ctx, held, o.Holder); err != nil {
			return nil, err
		}
	}
	if len(taken) > 0 {
		keys := make([]string, len(taken))
		for i, sl := range taken {
			keys[i] = sl.lk.Key
		}
		values, versions, err := s.GetForUpdate(ctx, keys, max(o.PlaceholderTTL, o.LockTTL))
		if err != nil {
			return nil, err
		}
		for i, sl := range taken {
			sl.out = backend.Lease{Status: backend.LeaseTaken, Value: values[i], Version: versions[i]}
		}
	}
	// One read for the held keys and o.Also.
	alsoMangled, alsoUnique := mangleAll(o.Also)
	keys := alsoUnique
	for _, sl := range heldSlots {
		keys = append(keys, sl.key)
	}
	also := make([][]byte, len(o.Also))
	if len(keys) == 0 {
		return also, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	items, err := s.client.GetMulti(keys)
	if err != nil {
		return nil, fmt.Errorf("memcachestore: lease: %w", err)
	}
	fillValues(also, alsoMangled, items)
	// A held key that holds nothing gets a placeholder, as the meta
	// protocol's read vivifies it, so that a poll has a Version to compare.
	var missing []string
	for _, sl := range heldSlots {
		if items[sl.key] == nil {
			missing = append(missing, sl.key)
		}
	}
	if len(missing) > 0 {
		phTTL := max(o.PlaceholderTTL, o.LockTTL) + time.Second
		err := s.each(ctx, len(missing), func(j int) error {
			now := s.opts.Now()
			ph := appendHeader(make([]byte, 0, headerLen), header{kind: kindPlaceholder, deadline: deadline(phTTL, now), tag: newTag()})
			err := s.client.Add(&memcache.Item{Key: missing[j], Value: ph, Flags: PlaceholderFlags, Expiration: Expiration(phTTL, now)})
			if err != nil && !errors.Is(err, memcache.ErrNotStored) {
				return fmt.Errorf("memcachestore: lease %q: %w", missing[j], err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		again, err := s.client.GetMulti(missing)
		if err != nil {
			return nil, fmt.Errorf("memcachestore: lease: %w", err)
		}
		for k, it := range again {
			items[k] = it
		}
	}
	for _, sl := range heldSlots {
		sl.out = itemLease(backend.LeaseHeld, items[sl.key])
	}
	return also, nil
}

// itemLease is a lease that took nothing, reporting the item read (nil
// for a missing key).
func itemLease(status backend.LeaseStatus, it *memcache.Item) backend.Lease {
	l := backend.Lease{Status: status}
	if it != nil {
		l.Version = backend.Version(it.CasID)
		l.Value, _ = valueOf(it)
	}
	return l
}

// releaseText ends holder's locks of keys on the text protocol: a gets and
// a cas per lock, Options.Concurrency at a time.
func (s *Store) releaseText(ctx context.Context, keys []backend.LeaseKey, holder string) error {
	locks, _ := distinctLocks(keys)
	return s.each(ctx, len(locks), func(j int) error {
		_, err := s.swapLockText(locks[j], holder, -1)
		return err
	})
}

// swapLockText rewrites lock with expiration exp (-1: expired at once) if
// holder holds it, and reports whether it did.
func (s *Store) swapLockText(lock, holder string, exp int32) (bool, error) {
	it, err := s.client.Get(lock)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("memcachestore: lock %q: %w", lock, err)
	case string(it.Value) != holder:
		return false, nil
	}
	it.Expiration = exp
	err = s.client.CompareAndSwap(it)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCacheMiss):
		return false, nil
	}
	return false, fmt.Errorf("memcachestore: lock %q: %w", lock, err)
}
