package backend

import (
	"context"
	"errors"
	"time"

	"github.com/corralcache/corral/serializer"
)

// ErrNotFound is returned by [Backend.Get] when the key holds no value.
// Implementations translate their client's "miss" value into it.
var ErrNotFound = errors.New("backend: not found")

// ErrInvalidArgument is returned, wrapped, by the methods of [Conditional]
// and [ConditionalGrouper] when their arguments cannot be used: a placeholder
// TTL that is not positive, or slices of different lengths.
var ErrInvalidArgument = errors.New("backend: invalid argument")

// ErrTooLarge is wrapped by the error of a write whose value the backend
// cannot hold (memcached's item size limit, say), returned before anything
// is sent. It is not a fault of the backend: a region counts such a value as
// not cached, not as a backend error, and does not let it open its circuit
// breaker. Backends wrap it, possibly under a sentinel of their own; a
// multi-item write that wraps it may have stored the other items.
var ErrTooLarge = errors.New("backend: value too large")

// Item is one key/value pair of a multi-set.
type Item struct {
	Key   string
	Value []byte
	// TTL is the server-side hard limit after which the backend may drop the
	// value. Zero means the value does not expire on the server.
	TTL time.Duration
}

// Backend stores encoded entries. Every method is safe for concurrent use.
// A backend never keeps the slice a caller passes to Set or SetMulti, and the
// caller owns the slices Get and GetMulti return.
type Backend interface {
	// Get returns the value stored under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetMulti returns one value per key, in the order of keys; a missing key
	// gives a nil value, never an error, and a stored empty value a non-nil
	// empty one.
	GetMulti(ctx context.Context, keys []string) ([][]byte, error)
	// Set stores value under key; ttl is the server-side hard limit (zero:
	// none; negative: the value expires at once).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetMulti stores every item, in as few round trips as the backend allows.
	SetMulti(ctx context.Context, items []Item) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// DeleteMulti removes every key. Missing keys are not an error.
	DeleteMulti(ctx context.Context, keys []string) error
}

// Entry is a decoded cache entry: a Go value and the metadata it was written
// with. Entries held by a [ValueStore] are shared between readers and must be
// treated as immutable once stored.
type Entry struct {
	Value any
	// Created is when the value was stored, in Unix nanoseconds: expiry
	// counts from it.
	Created int64
	// Gens are the invalidation generations the value's creation began
	// under: invalidation counts from them, not from a clock.
	Gens serializer.Gens
	// Expiration is the soft expiration the value was written with; zero means
	// it never goes stale. Readers decide freshness from Created and
	// Expiration, so a per-call expiration is honoured by every later read.
	Expiration time.Duration
	// Delta is how long the value took to create (zero when unknown): a
	// region with early refresh (XFetch) starts regenerating it sooner the
	// longer it took.
	Delta time.Duration
}

// ValueStore is implemented by in-process backends that can keep decoded
// values, sparing the serializer on the hit path. A region uses it in place of
// the byte methods when KeepsValues reports true.
//
// Keys come in two parts, a namespace (the region's prefix) and the key, so
// that a lookup needs no string concatenation.
type ValueStore interface {
	// KeepsValues reports whether the store keeps decoded values (true), or
	// was configured to keep serialized copies only (false).
	KeepsValues() bool
	// LoadEntry returns the entry under (namespace, key).
	LoadEntry(namespace, key string) (*Entry, bool)
	// StoreEntry stores e under (namespace, key), dropping it after ttl
	// (zero: no hard limit).
	StoreEntry(namespace, key string, e *Entry, ttl time.Duration)
	// DeleteEntry removes the entry under (namespace, key).
	DeleteEntry(namespace, key string)
}

// Grouper is implemented by backends that write values and record their keys
// in a named group — a key registry's records of one cached function — in
// the same round trip. members[i] is the key recorded for items[i]; the
// records may be dropped after groupTTL (zero: never). A failure must leave
// no value stored without its record. A region uses it when its registry is a
// keyreg.Grouped whose groups live in this backend.
type Grouper interface {
	SetMultiGrouped(ctx context.Context, items []Item, group string, members []string, groupTTL time.Duration) error
}

// Version names one write of a key, or one lease on it: a value, a
// placeholder left by [Conditional.GetForUpdate], or the lease GetForUpdate
// took on either. Every write of a key and every lease gives it a Version
// that differs from every Version handed out before for that key, so a
// Version read earlier matches only if nothing was written, deleted, leased
// or expired since. The zero Version is never handed out, and no
// conditional write with it succeeds.
type Version uint64

// Conditional is implemented by byte backends that can store a value only if
// its key is unchanged since it was read. A creator reads a key with
// GetForUpdate, computes a value (slowly), and stores it with SetIf: if a Set,
// a Delete, another SetIf, another GetForUpdate or an expiry reached the key
// in between, the SetIf fails and the newer write, lease or invalidation
// stands. This is what keeps a completed write or invalidation from being
// undone by a creator that read before it.
//
// GetForUpdate takes a new lease: every Version handed out earlier for the
// key stops matching, so of the creators that read a key for update, only
// the last one can store. This fences creators that run under a lock with a
// timeout: creator A takes the lock and reads, A's lock expires, creator B
// takes the lock and reads; A's SetIf then fails even if it comes before
// B's, and B's succeeds. A lease on a value leaves the value as it is for
// readers — Get and GetMulti return the same bytes, and its TTL runs on —
// and changes only its Version.
//
// Every successful write — Set, SetMulti, SetIf, and the writes of [Grouper]
// and [ConditionalGrouper] — and every lease gives the key a new [Version].
// Delete and DeleteMulti remove a key's value or placeholder, so a Version
// read before no longer matches.
//
// A placeholder is what GetForUpdate leaves in a key that holds nothing, much
// like a memcached lease: no reader sees it (Get, GetMulti and GetForUpdate
// report the key missing), and it blocks no writer (a Set replaces it), but it
// has a Version, so that a Set or Delete of the missing key, another lease,
// or the placeholder's expiry, between the read and the SetIf makes the
// SetIf fail.
type Conditional interface {
	// GetForUpdate reads keys as GetMulti does — one value per key, in the
	// order of keys, nil for a missing key — and takes a new lease on each
	// key, atomically with its read: the Version it returns for a key is new,
	// and every Version handed out earlier for the key stops matching. A key
	// that holds a value keeps it exactly as it is for readers, TTL included
	// (to the precision of the backend's expiry; see the backend's
	// documentation), under the new Version. A key that holds nothing gets a
	// placeholder that lives for placeholderTTL; a key that holds a
	// placeholder gets a new one in its place, with the new Version and a
	// lifetime of placeholderTTL; both give a nil value. A key named twice in
	// one call is leased once, and gets the same value and Version twice.
	//
	// When calls overlap, the leases are ordered: the last lease taken is
	// the one whose SetIf can store. A backend may hand a caller whose lease
	// was overtaken while its call ran a Version that already no longer
	// matches; it never hands two callers a Version that both can use.
	//
	// It returns an error wrapping ErrInvalidArgument when placeholderTTL is
	// not positive. Other errors are the backend's, with no values; the
	// placeholders made before such an error stay until they expire, which
	// no reader notices.
	GetForUpdate(ctx context.Context, keys []string, placeholderTTL time.Duration) (values [][]byte, versions []Version, err error)
	// SetIf stores items[i] as Set would, but only if its key still holds
	// what versions[i] names (a value or a placeholder, under the latest
	// lease); stored[i] reports whether it was stored. The check and the
	// write are atomic per key. A key written, deleted, leased again or
	// expired since it was read, and the zero Version, give false. Items with
	// the same key and Version store at most one of them. A SetIf that stores
	// voids every other lease on the key.
	//
	// It returns an error wrapping ErrInvalidArgument when versions and
	// items differ in length. On another error, stored reports the items
	// known to be stored; an item whose outcome is unknown reports false,
	// and may have been stored.
	SetIf(ctx context.Context, items []Item, versions []Version) (stored []bool, err error)
}

// ConditionalGrouper is implemented by backends that store values
// conditionally, as [Conditional.SetIf], and record their keys in a named
// group, as [Grouper.SetMultiGrouped], in the same round trip. members[i] is
// the key recorded for items[i]; the records may be dropped after groupTTL
// (zero: never). Recording a member whose value was not stored is allowed and
// harmless: a group may name keys that hold nothing. A failure must leave no
// value stored by the call without its record.
//
// It returns an error wrapping ErrInvalidArgument when versions or members
// differ in length from items; other errors are as SetIf's.
type ConditionalGrouper interface {
	SetIfGrouped(ctx context.Context, items []Item, versions []Version, group string, members []string, groupTTL time.Duration) (stored []bool, err error)
}

// ConditionalValueStore is [Conditional] for a [ValueStore]: it stores a
// decoded entry only if its key is unchanged since it was read.
// LoadEntryForUpdate takes a new lease, as [Conditional.GetForUpdate] does:
// every Version handed out earlier for the key stops matching. StoreEntry
// and StoreEntryIf give the key a new [Version]; DeleteEntry removes its
// entry or placeholder. Placeholders are never returned by LoadEntry.
type ConditionalValueStore interface {
	// LoadEntryForUpdate returns the entry under (namespace, key), or nil,
	// and takes a new lease on the key, atomically with the read: the
	// Version it returns is new, and every Version handed out earlier for
	// the key stops matching. An entry stays exactly as it is for LoadEntry,
	// TTL included, under the new Version. A key that holds nothing gets a
	// placeholder that lives for placeholderTTL; a key that holds a
	// placeholder gets a new one in its place, with the new Version and a
	// lifetime of placeholderTTL. A placeholderTTL that is not positive makes
	// no placeholder: a key that holds nothing then returns the zero
	// Version, with which StoreEntryIf never stores, and a placeholder keeps
	// its lifetime under the new Version.
	LoadEntryForUpdate(namespace, key string, placeholderTTL time.Duration) (*Entry, Version)
	// StoreEntryIf stores e under (namespace, key), as StoreEntry does, only
	// if the key still holds what v names (an entry or a placeholder, under
	// the latest lease), and reports whether it did. The check and the write
	// are atomic.
	StoreEntryIf(namespace, key string, e *Entry, ttl time.Duration, v Version) bool
}

// Shared is implemented by backends whose data several processes share,
// such as Redis and memcached. A region on one refuses to default its lock
// and its key registry to in-process ones, which would keep neither the
// herd of other processes off the creator nor their records: it must be
// given shared ones, or in-process ones on purpose.
type Shared interface {
	// SharedBetweenProcesses reports whether other processes may read and
	// write the same data.
	SharedBetweenProcesses() bool
}
