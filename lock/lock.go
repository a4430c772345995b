package lock

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotObtained is returned by TryObtain when the lock is held by
	// someone else.
	ErrNotObtained = errors.New("lock: not obtained")
	// ErrNotHeld is returned by Extend and Release when the lock has expired
	// or was taken over: the caller no longer owns it.
	ErrNotHeld = errors.New("lock: not held")
)

// Locker hands out exclusive, expiring locks on keys.
type Locker interface {
	// TryObtain takes the lock on key without waiting. It returns
	// ErrNotObtained when the lock is held elsewhere. The lock expires after
	// ttl unless extended.
	TryObtain(ctx context.Context, key string, ttl time.Duration) (Lock, error)
	// Obtain waits until the lock on key is free and takes it, or returns
	// ctx.Err() when ctx is done first. Callers bound the wait with a ctx
	// deadline.
	Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error)
}

// Lock is a held lock. Its methods are safe to call from any goroutine.
type Lock interface {
	// Key returns the locked key.
	Key() string
	// Extend resets the lock's expiry to ttl from now. It returns ErrNotHeld
	// when the lock was lost.
	Extend(ctx context.Context, ttl time.Duration) error
	// Release frees the lock. It returns ErrNotHeld when the lock was lost
	// (expired or taken over); releasing twice returns ErrNotHeld.
	Release(ctx context.Context) error
}
