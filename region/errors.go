package region

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalidConfig is wrapped by every error New returns for a
	// configuration it cannot use.
	ErrInvalidConfig = errors.New("region: invalid configuration")
	// ErrLockTimeout is returned when a caller waited [Config.LockWait] for
	// another caller to create a missing value and no value appeared.
	ErrLockTimeout = errors.New("region: timed out waiting for the lock")
	// ErrClosed is returned by calls on a region after Close.
	ErrClosed = errors.New("region: closed")
	// ErrNilContext is returned by calls given a nil context.Context; pass
	// context.Background() or context.TODO() instead.
	ErrNilContext = errors.New("region: nil context")
	// ErrBackend wraps backend errors returned to callers of a fail-closed
	// region and errors of explicit writes (Set, Delete, Invalidate).
	ErrBackend = errors.New("region: backend error")
	// ErrNameInUse is wrapped, with ErrInvalidConfig, by the error of
	// Cache1, Cache2 and Cache3 when the region already has a cached
	// function of that name.
	ErrNameInUse = errors.New("region: cached function name already in use")
	// ErrCreatorResult is returned by GetOrCreateMulti when its creator
	// returns a number of values that does not match the keys it was given.
	ErrCreatorResult = errors.New("region: creator returned the wrong number of values")
)

// PanicError is the error every waiter receives when a creator panics. The
// lock the creator held is released. Its message is one line, fit for a log
// field; the stack is on the value:
//
//	var pe *region.PanicError
//	if errors.As(err, &pe) {
//		log.Printf("%v\n%s", pe, pe.Stack)
//	}
type PanicError struct {
	// Value is what the creator panicked with.
	Value any
	// Stack is the creator's stack at the panic, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

// Error describes the panic in one line, without the stack (see Stack).
func (e *PanicError) Error() string {
	msg := fmt.Sprintf("region: creator panicked: %v", e.Value)
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		msg = msg[:i] + " …"
	}
	return msg
}

// Unwrap returns the panic value when it is an error, so errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
