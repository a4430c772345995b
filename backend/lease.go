package backend

import (
	"context"
	"time"
)

// Leaser is implemented by byte backends that keep a key's dogpile lock
// beside its value, so that one step takes both the lock, which keeps the
// other creators of the key waiting, and the lease, which fences the
// creator's store: a creation then costs a read, a lease and a store, not a
// read, a lock, a lease, a store and a release. Facebook's memcache leases,
// rueidisaside and memcached's meta protocol (the W flag of mg) are built
// this way. A region uses it in place of its Locker and [Conditional] when
// the backend has it.
//
// A lease has a holder, a token the caller draws for one creation, and two
// parts:
//
//   - the lock: while it is live, a Lease of the key by another holder
//     reports [LeaseHeld] and changes nothing. It lives LeaseOptions.LockTTL
//     unless extended, and ends with StoreLeased or ReleaseLeases.
//   - the fence: taking a lease gives the key a new [Version], exactly as
//     [Conditional.GetForUpdate] does (a placeholder when the key holds no
//     value; every Version handed out before for the key stops matching).
//     StoreLeased stores an item only where its key still holds that
//     Version: a Set, a Delete, another lease or an expiry of the key since
//     the lease was taken makes it fail, so that the write stands.
//
// The two are independent once taken, except as said here: a write of the
// key does not release its lock (the holder's store fails, and the holder
// releases as usual); a lock that expires may void the fence, on a backend
// whose placeholder is the lock (memcached's lease), and otherwise leaves
// it (the holder may still store, unless something reached the key). A
// reader never sees a placeholder: Get, GetMulti and Lease report the key
// missing.
//
// Keys are named as a region lays them out: LeaseKey.Lock is the key of the
// value's lock, which a backend that keeps locks as keys of their own uses
// (a region puts it in the value's Redis Cluster hash slot), and which a
// backend whose lease lives in the value's own item may ignore. The lock
// key is also the one a region's [lock] Locker would use, so processes that
// lock through a Locker and processes that lease exclude each other.
type Leaser interface {
	// Lease reads each key of keys, in order, and tries to take its lease
	// for o.Holder, atomically per key: see [LeaseStatus] for the outcomes.
	// Every Lease reports what the key held (Value, nil for nothing or a
	// placeholder, non-nil and empty for a stored empty value) and its
	// Version after the call (zero for a key that holds nothing, not even
	// a placeholder). A key named twice is leased once and reported
	// twice. It also reads the keys of o.Also, as GetMulti does, in the same
	// round trip, and returns their values in also. It returns an error
	// wrapping ErrInvalidArgument when o.Holder is empty or a TTL is not
	// positive; on another error, the leases taken before it stand until
	// their locks and placeholders expire.
	Lease(ctx context.Context, keys []LeaseKey, o LeaseOptions) (leases []Lease, also [][]byte, err error)
	// StoreLeased stores items[i] as Set would, only where its key still
	// holds held[i].Version (the check and the write atomic per key), and
	// ends holder's lock on every key of held, stored or not; stored[i]
	// reports whether items[i] was stored. held[i] names the lease of
	// items[i] (held[i].Key is items[i].Key); the leases of held beyond
	// len(items) are only released, in the same round trip. A zero
	// held[i].Version stores nothing. When g.Name is not empty, g.Members
	// (one per item) are recorded in it, as [ConditionalGrouper] does, in
	// the same round trip; a failure must leave no value stored by the call
	// without its record. It returns an error wrapping ErrInvalidArgument
	// when held is shorter than items, g.Members differs in length from
	// items, or holder is empty; on another error, stored reports the items
	// known to be stored, and the locks not known to be released expire by
	// their TTL. lost[i] reports that holder no longer held the lock of
	// held[i] when the call came (it expired, or another took it after it
	// expired), where the backend can tell; a region counts it in
	// Stats.LocksLost.
	StoreLeased(ctx context.Context, items []Item, held []LeaseKey, holder string, g Group) (stored, lost []bool, err error)
	// ExtendLeases resets the lock of each key held by holder to ttl from
	// now; ok[i] is false for a key whose lock holder no longer holds
	// (expired, or taken by another after it expired). It returns an error
	// wrapping ErrInvalidArgument when holder is empty or ttl is not
	// positive.
	ExtendLeases(ctx context.Context, keys []LeaseKey, holder string, ttl time.Duration) (ok []bool, err error)
	// ReleaseLeases ends holder's lock on each key, leaving the key's value
	// and Version as they are. A lock holder no longer holds is left alone.
	// It returns an error wrapping ErrInvalidArgument when holder is empty.
	ReleaseLeases(ctx context.Context, keys []LeaseKey, holder string) error
}

// LeaseKey names a key to lease, and its lock (see [Leaser]).
type LeaseKey struct {
	// Key is the value's key.
	Key string
	// Lock is the key of the value's lock.
	Lock string
	// Version is, for Lease, the Version the caller last saw the key hold:
	// when it is not zero and the key now holds another, Lease reports
	// LeaseChanged and takes nothing (a waiter that polls learns of a store
	// without taking the lock it no longer needs). Zero: no check. For the
	// other methods, it is the Version of the lease held.
	Version Version
}

// LeaseOptions are the parameters of one [Leaser.Lease].
type LeaseOptions struct {
	// Holder identifies the caller's creation. It must not be empty.
	Holder string
	// LockTTL is how long a lock taken lives unless extended.
	LockTTL time.Duration
	// PlaceholderTTL is how long the placeholder of a key that holds no
	// value lives, at least as long as LockTTL. A backend whose placeholder
	// is the lock may give it the lock's lifetime instead.
	PlaceholderTTL time.Duration
	// Also are keys read, as GetMulti reads them, in the same round trip
	// (a region's invalidation generations).
	Also []string
}

// Group is where StoreLeased records the keys it stores for a key
// registry: Members[i] is recorded for the i-th item, in the group Name,
// kept for TTL (zero: no limit). The zero Group records nothing.
type Group struct {
	Name    string
	Members []string
	TTL     time.Duration
}

// LeaseStatus is the outcome of a [Leaser.Lease] for one key.
type LeaseStatus uint8

const (
	// LeaseTaken: the caller holds the key's lock, and Version is its new
	// fence.
	LeaseTaken LeaseStatus = iota + 1
	// LeaseHeld: a lock on the key is live — another holder's, or the
	// caller's own from an earlier Lease (a creation leases a key once);
	// nothing a reader or a holder can tell was changed. (A backend whose
	// read vivifies a missing key, memcached's, may leave a placeholder in
	// a key that held nothing: the holder's own placeholder was gone, and
	// with it its fence.) Value is what the key holds (a stale value a
	// caller may serve), Version its current Version, to pass back as
	// LeaseKey.Version when polling.
	LeaseHeld
	// LeaseChanged: the key no longer holds the Version the caller passed
	// in LeaseKey.Version; nothing was taken. Value and Version are what
	// it holds now.
	LeaseChanged
)

// String names the status.
func (s LeaseStatus) String() string {
	switch s {
	case LeaseTaken:
		return "taken"
	case LeaseHeld:
		return "held"
	case LeaseChanged:
		return "changed"
	}
	return "unknown"
}

// Lease is the outcome of [Leaser.Lease] for one key.
type Lease struct {
	Status  LeaseStatus
	Value   []byte
	Version Version
}
