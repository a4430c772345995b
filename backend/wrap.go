package backend

import (
	"errors"
	"fmt"
)

// ErrHiddenInterface is wrapped by the error of [CheckWrapped] when a
// backend wraps one that implements an optional interface it does not
// forward.
var ErrHiddenInterface = errors.New("backend: a wrapper hides an optional interface of the backend it wraps")

// Unwrapper is implemented by a backend that wraps another — a proxy that
// logs, counts or fails its operations — to name the one it wraps. A region
// reads it twice: a wrapper has an optional interface (see [As]) only when
// the backend it wraps has it too, and New refuses a wrapper that hides one
// the wrapped backend has (see [CheckWrapped]). Package
// github.com/corralcache/corral/backend/proxy implements it.
//
// A wrapper that does not implement Unwrapper cannot be checked: a region
// uses whatever optional interfaces the wrapper itself implements.
type Unwrapper interface {
	// Unwrap returns the backend this one wraps.
	Unwrap() Backend
}

// As returns b as the optional interface T (one of [ValueStore],
// [ConditionalValueStore], [Conditional], [Grouper], [ConditionalGrouper],
// [Leaser], [Invalidator], [Shared]) and reports whether it has it: b
// implements T and, when b wraps another backend (see [Unwrapper]), so does
// every backend down the chain. A proxy may therefore implement every
// optional interface and still have only those of the backend it wraps.
func As[T any](b Backend) (T, bool) {
	t, ok := b.(T)
	if !ok {
		return t, false
	}
	for {
		w, wraps := b.(Unwrapper)
		if !wraps {
			return t, true
		}
		if b = w.Unwrap(); b == nil {
			var zero T
			return zero, false
		}
		if _, ok := b.(T); !ok {
			var zero T
			return zero, false
		}
	}
}

// optional lists the optional interfaces a region looks for on its
// backend, with what it loses on a backend that hides one.
var optional = []struct {
	name, loss string
	has        func(Backend) bool
}{
	{"backend.ValueStore", "keeping decoded values", has[ValueStore]},
	{"backend.ConditionalValueStore", "fenced stores of decoded values", has[ConditionalValueStore]},
	{"backend.Conditional", "fenced stores (a write could be undone by a creator)", has[Conditional]},
	{"backend.Grouper", "recording cached functions' keys with their values", has[Grouper]},
	{"backend.ConditionalGrouper", "recording cached functions' keys with fenced stores", has[ConditionalGrouper]},
	{"backend.Leaser", "leases (each creation would lock through a Locker)", has[Leaser]},
	{"backend.Invalidator", "the near cache's invalidations", has[Invalidator]},
	{"backend.Shared", "knowing that other processes share its data", has[Shared]},
}

func has[T any](b Backend) bool {
	_, ok := As[T](b)
	return ok
}

// CheckWrapped returns an error wrapping [ErrHiddenInterface] when b, or a
// backend b wraps, wraps a backend that has an optional interface (see [As])
// the wrapper does not implement: a region on b would silently lose what
// the interface gives it — its leases, say. It also refuses a wrapper whose
// Unwrap returns nil. It returns nil for a backend that wraps none.
func CheckWrapped(b Backend) error {
	for {
		w, ok := b.(Unwrapper)
		if !ok {
			return nil
		}
		inner := w.Unwrap()
		if inner == nil {
			return fmt.Errorf("%w: %T.Unwrap returned nil", ErrHiddenInterface, b)
		}
		for _, o := range optional {
			if o.has(inner) && !o.has(b) {
				return fmt.Errorf("%w: %T wraps %T, which implements %s, but does not implement it: a region on it would lose %s",
					ErrHiddenInterface, b, inner, o.name, o.loss)
			}
		}
		b = inner
	}
}
