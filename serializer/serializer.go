package serializer

import (
	"errors"
	"time"
)

// ErrDecode is wrapped by every error that reports bytes which cannot be
// decoded: a truncated or corrupt envelope, an unknown version, or a payload
// the serializer rejects.
var ErrDecode = errors.New("serializer: cannot decode")

// Serializer encodes payloads. Implementations are safe for concurrent use.
type Serializer interface {
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which is a non-nil pointer.
	Unmarshal(data []byte, v any) error
}

// Meta is the metadata an envelope carries beside the payload.
type Meta struct {
	// Created is when the value was created, in Unix nanoseconds.
	Created int64
	// Expiration is the soft expiration the value was written with (zero:
	// never stale).
	Expiration time.Duration
	// Type identifies the Go type the value was written as (see TypeTag);
	// zero when unknown. A reader expecting another type can tell, before
	// decoding, that the bytes are not for it.
	Type uint32
	// Gens are the invalidation generations the value's creation began
	// under; a reader that knows of later ones treats the value as retired.
	Gens Gens
	// Delta is how long the value took to create (zero when unknown, or
	// for a value written with Set): early refresh (XFetch) starts a
	// regeneration sooner for values that take longer to create.
	Delta time.Duration
	// Negative marks an entry that records "not found" (negative caching):
	// EncodeFor writes no payload for it (an empty sealed one with a
	// Keyring), ignoring the value, and DecodeFor leaves the value it is
	// given untouched.
	Negative bool
}

// Gens are the invalidation generations a value was created under: counters
// that only move forward, kept by the cache, not clocks.
type Gens struct {
	// Hard and Soft count the region-wide invalidations of each kind.
	Hard, Soft uint64
	// Func counts the invalidations of every result of the cached function
	// the value belongs to (zero for other values).
	Func uint64
}
