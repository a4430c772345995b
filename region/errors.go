package region

import "github.com/corralcache/corral/internal/engine"

// The errors a region returns. Test them with errors.Is (PanicError with
// errors.As).
var (
	// ErrInvalidConfig is wrapped by every error New returns for a
	// configuration it cannot use.
	ErrInvalidConfig = engine.ErrInvalidConfig
	// ErrLockTimeout is returned when a caller waited [Config.LockWait] for
	// another caller to create a missing value and no value appeared.
	ErrLockTimeout = engine.ErrLockTimeout
	// ErrClosed is returned by calls on a region after Close.
	ErrClosed = engine.ErrClosed
	// ErrNilContext is returned by calls given a nil context.Context; pass
	// context.Background() or context.TODO() instead.
	ErrNilContext = engine.ErrNilContext
	// ErrBackend wraps backend errors returned to callers of a fail-closed
	// region and errors of explicit writes (Set, Delete, Invalidate).
	ErrBackend = engine.ErrBackend
	// ErrNameInUse is wrapped, with ErrInvalidConfig, by the error of
	// Cache1, Cache2 and Cache3 when the region already has a cached
	// function of that name.
	ErrNameInUse = engine.ErrNameInUse
	// ErrCreatorResult is returned by GetOrCreateMulti when its creator
	// returns a number of values that does not match the keys it was given.
	ErrCreatorResult = engine.ErrCreatorResult
	// ErrTypeMismatch is returned when a caller asks for a key's value as
	// one type while a concurrent caller is creating it as another, and by
	// the reads of a Typed handle that find a value of another type. The
	// package-level functions (Get, GetOrCreate, …) do not return it for a
	// stored value of another type: they wrap it in a decode error (logged
	// and counted in Stats.DecodeErrors) and treat the entry as a miss,
	// which GetOrCreate then overwrites.
	ErrTypeMismatch = engine.ErrTypeMismatch
	// ErrNotFound is the answer "there is no such value". A creator (of
	// GetOrCreate, a cached function, Refresh) that returns an error
	// wrapping it on a region with negative caching
	// (Config.NegativeExpiration or WithNegativeExpiration) has that answer
	// cached, like a value, for the negative expiration; until it goes
	// stale, callers of the key get an error wrapping ErrNotFound without
	// calling the creator. The calls answered by the creation itself get
	// the creator's own error (which wraps ErrNotFound), so errors.As finds
	// the application's error type there; later calls get one that says it
	// is a cached answer. Get returns it with found false; GetMulti leaves
	// such keys out; a batch cached function leaves them out of its map.
	// Without negative caching the creator's error is returned as it is
	// and nothing is stored.
	//
	// A cached "not found" is an entry like any other: Set, Delete,
	// Invalidate, InvalidateAll, region-wide invalidation and leases treat
	// it as they treat values, on every backend.
	ErrNotFound = engine.ErrNotFound
)

// PanicError is the error every waiter receives when a creator panics. The
// lock the creator held is released. Its message is one line, fit for a log
// field; the stack is on the value:
//
//	var pe *region.PanicError
//	if errors.As(err, &pe) {
//		log.Printf("%v\n%s", pe, pe.Stack)
//	}
//
// Unwrap returns the panic value when it is an error, so errors.Is and
// errors.As see through the panic.
type PanicError = engine.PanicError
