package keyreg

import (
	"context"
	"errors"
	"time"
)

// ErrNotListable is returned by Registry.Keys of registries that cannot list
// a function's keys, such as generation-based ones on backends without sets.
var ErrNotListable = errors.New("keyreg: the keys of a function cannot be listed")

// Registry records the keys generated for each cached function.
//
// Implementations that share their records through a backend make
// invalidation by function work across processes. Registries for backends
// without sets may instead fold a per-function generation into Namespace and
// invalidate everything at once by bumping it.
type Registry interface {
	// Namespace returns the prefix under which fn's keys are currently
	// derived. Set-based registries return fn unchanged; generation-based
	// ones append the current generation, so ForgetAll retires every key at
	// once.
	Namespace(ctx context.Context, fn string) (string, error)
	// Record notes that key was stored for fn. The record may be dropped
	// after ttl (zero: kept until forgotten or evicted).
	Record(ctx context.Context, fn, key string, ttl time.Duration) error
	// Recorded reports whether key is recorded for fn.
	Recorded(ctx context.Context, fn, key string) (bool, error)
	// Keys lists the keys recorded for fn, in no particular order, or
	// returns ErrNotListable.
	Keys(ctx context.Context, fn string) ([]string, error)
	// Forget drops the records of keys for fn.
	Forget(ctx context.Context, fn string, keys ...string) error
	// ForgetAll drops every record of fn and returns the keys it held, which
	// the caller deletes from the backend. Generation-based registries bump
	// the generation and may return no keys.
	ForgetAll(ctx context.Context, fn string) ([]string, error)
}

// CurrentNamespacer is implemented by registries whose Namespace may answer
// from a copy of shared state that lags it (generation-based registries
// cache the generation). CurrentNamespace reads the shared state and
// refreshes the copy, so that a write — a Set, an Invalidate, a Refresh —
// lands under the namespace every process reads after it: a write under a
// namespace that another process's ForgetAll already retired would be lost
// to every reader, the writer included once its copy catches up.
type CurrentNamespacer interface {
	CurrentNamespace(ctx context.Context, fn string) (string, error)
}

// Grouped is implemented by registries whose records a backend.Grouper writes
// in the same round trip as the values: Group names the group that holds fn's
// records.
type Grouped interface {
	Registry
	Group(fn string) string
}
