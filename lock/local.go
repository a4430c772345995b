package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrInvalidTTL is returned (wrapped) by [Local]'s TryObtain, Obtain and
// Extend when ttl is not positive: a lock that never expires would be
// orphaned by a holder that never releases it.
var ErrInvalidTTL = errors.New("lock: ttl must be positive")

// minSweep is the map size below which Local does not sweep expired keys.
const minSweep = 64

// Local is an in-process [Locker]. Its locks exclude goroutines of this
// process only.
//
// A key costs memory only while its lock is held or waited for: releasing
// the last hold frees it, and keys whose lock expired without being released
// are swept as the map grows. Waiters are woken by release or by the holder's
// expiry, never by polling.
//
// The zero value is not usable; call [NewLocal].
type Local struct {
	// mu protects keys, nextToken and sweepAt.
	mu sync.Mutex
	// keys holds the state of every key that is held or waited for.
	keys map[string]*keyState
	// nextToken numbers acquisitions, so a stale handle never matches the
	// token of a later holder.
	nextToken uint64
	// sweepAt is the size of keys at which the next sweep of expired,
	// unwaited keys runs; it doubles with the live set, keeping sweeps
	// amortised O(1) per acquisition.
	sweepAt int
}

// keyState is the state of one key. Invariant: it is in Local.keys while
// token != 0 or waiters > 0.
type keyState struct {
	token   uint64    // current holder's token; 0 when free
	expires time.Time // when the current hold expires
	waiters int       // goroutines waiting in Obtain
	// released is closed when the hold ends by Release, waking the waiters;
	// a fresh channel is made for the next hold that has waiters.
	released chan struct{}
}

var _ Locker = (*Local)(nil)

// NewLocal returns an in-process Locker that uses the system clock.
func NewLocal() *Local {
	return &Local{keys: make(map[string]*keyState), sweepAt: minSweep}
}

// TryObtain takes the lock on key without waiting; the lock expires after
// ttl unless extended. It returns ErrNotObtained when another holder's
// unexpired lock is on key, ErrInvalidTTL when ttl is not positive, and
// ctx.Err() when ctx is already done.
func (l *Local) TryObtain(ctx context.Context, key string, ttl time.Duration) (Lock, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTTL, ttl)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lk, _ := l.tryLocked(key, ttl)
	if lk == nil {
		return nil, ErrNotObtained
	}
	return lk, nil
}

// Obtain waits until the lock on key is free (released or expired) and takes
// it; the lock expires after ttl unless extended. It returns ctx.Err() when
// ctx is done first, leaving no trace of the wait, and ErrInvalidTTL when
// ttl is not positive.
func (l *Local) Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTTL, ttl)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	waiting := false
	for {
		l.mu.Lock()
		lk, st := l.tryLocked(key, ttl)
		if lk != nil {
			if waiting {
				l.keys[key].waiters--
			}
			l.mu.Unlock()
			return lk, nil
		}
		if !waiting {
			st.waiters++
			waiting = true
		}
		if st.released == nil {
			st.released = make(chan struct{})
		}
		released, expires := st.released, st.expires
		l.mu.Unlock()

		d := time.Until(expires)
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-released:
		case <-timer.C:
		case <-ctx.Done():
			l.mu.Lock()
			l.stopWaitingLocked(key)
			l.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// tryLocked takes key when it is free or its hold expired, returning the
// new hold. Otherwise it returns key's state, whose hold is live.
func (l *Local) tryLocked(key string, ttl time.Duration) (*localLock, *keyState) {
	now := time.Now()
	st := l.keys[key]
	if st == nil {
		if len(l.keys) >= l.sweepAt {
			l.sweepLocked(now)
		}
		st = &keyState{}
		l.keys[key] = st
	}
	if st.token == 0 || !now.Before(st.expires) {
		l.nextToken++
		st.token = l.nextToken
		st.expires = now.Add(ttl)
		return &localLock{l: l, key: key, token: st.token}, nil
	}
	return nil, st
}

// stopWaitingLocked unregisters a waiter that gave up, freeing key's state
// when nobody holds or waits for it.
func (l *Local) stopWaitingLocked(key string) {
	st := l.keys[key]
	st.waiters--
	l.freeIfIdleLocked(key, st, time.Now())
}

// freeIfIdleLocked deletes key's state when its hold ended or expired and no
// one waits.
func (l *Local) freeIfIdleLocked(key string, st *keyState, now time.Time) {
	if st.waiters == 0 && (st.token == 0 || !now.Before(st.expires)) {
		delete(l.keys, key)
	}
}

// sweepLocked frees the keys whose hold expired unreleased and that no one
// waits for, then sets the size for the next sweep.
func (l *Local) sweepLocked(now time.Time) {
	for key, st := range l.keys {
		l.freeIfIdleLocked(key, st, now)
	}
	l.sweepAt = max(2*len(l.keys), minSweep)
}

// holdLocked returns key's state when token still holds an unexpired lock
// on it.
func (l *Local) holdLocked(key string, token uint64, now time.Time) (*keyState, bool) {
	st := l.keys[key]
	if st == nil || st.token != token || !now.Before(st.expires) {
		return st, false
	}
	return st, true
}

// size returns the number of keys with state. For tests.
func (l *Local) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// localLock is a hold on a Local key, identified by its acquisition token.
type localLock struct {
	l     *Local
	key   string
	token uint64
}

// Key returns the locked key.
func (k *localLock) Key() string { return k.key }

// Issued reports whether k is a lock l handed out (held or not): one whose
// Release needs no network and cannot block.
func (l *Local) Issued(k Lock) bool {
	ll, ok := k.(*localLock)
	return ok && ll.l == l
}

// Extend resets the lock's expiry to ttl from now. It returns ErrNotHeld
// when the lock expired, was released or was taken over, and ErrInvalidTTL
// when ttl is not positive.
func (k *localLock) Extend(_ context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: %v", ErrInvalidTTL, ttl)
	}
	now := time.Now()
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	st, ok := k.l.holdLocked(k.key, k.token, now)
	if !ok {
		return ErrNotHeld
	}
	st.expires = now.Add(ttl)
	return nil
}

// Release frees the lock, waking the goroutines waiting for it. It returns
// ErrNotHeld when the lock expired, was already released or was taken over;
// an expired hold that nobody took is cleaned up all the same.
func (k *localLock) Release(_ context.Context) error {
	now := time.Now()
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	st, ok := k.l.holdLocked(k.key, k.token, now)
	if !ok {
		if st != nil && st.token == k.token {
			k.l.freeIfIdleLocked(k.key, st, now)
		}
		return ErrNotHeld
	}
	st.token = 0
	if st.released != nil {
		close(st.released)
		st.released = nil
	}
	k.l.freeIfIdleLocked(k.key, st, now)
	return nil
}
