package engine

import (
	"errors"
	"fmt"
	"strings"
)

// The sentinel errors a region returns; package region re-exports them and
// documents each.
var (
	ErrInvalidConfig = errors.New("region: invalid configuration")
	ErrLockTimeout   = errors.New("region: timed out waiting for the lock")
	ErrClosed        = errors.New("region: closed")
	ErrNilContext    = errors.New("region: nil context")
	ErrBackend       = errors.New("region: backend error")
	ErrNameInUse     = errors.New("region: cached function name already in use")
	ErrCreatorResult = errors.New("region: creator returned the wrong number of values")
	ErrTypeMismatch  = errors.New("region: value has another type")
	ErrNotFound      = errors.New("region: not found")
	ErrBreakerOpen   = errors.New("region: backend circuit open")
)

// PanicError is the error every waiter receives when a creator panics; see
// region.PanicError.
type PanicError struct {
	// Value is what the creator panicked with.
	Value any
	// Stack is the creator's stack at the panic, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

// Error describes the panic in one line, without the stack.
func (e *PanicError) Error() string {
	msg := fmt.Sprintf("region: creator panicked: %v", e.Value)
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		msg = msg[:i] + " …"
	}
	return msg
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// IsMismatch reports whether a read's err is a value of another type found
// by a strict read (see region.Typed), rather than a backend failure.
func IsMismatch(err error) bool {
	return err != nil && errors.Is(err, ErrTypeMismatch)
}
