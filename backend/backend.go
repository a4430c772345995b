package backend

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by [Backend.Get] when the key holds no value.
// Implementations translate their client's "miss" value into it.
var ErrNotFound = errors.New("backend: not found")

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
	// Created is when the value was created, in Unix nanoseconds.
	Created int64
	// Expiration is the soft expiration the value was written with; zero means
	// it never goes stale. Readers decide freshness from Created and
	// Expiration, so a per-call expiration is honoured by every later read.
	Expiration time.Duration
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
