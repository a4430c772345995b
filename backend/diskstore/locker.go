package diskstore

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"fmt"
	"time"

	"github.com/corralcache/corral/lock"
)

// Backoff bounds of [Locker.Obtain]: the first wait and the cap it doubles
// up to.
const (
	LockMinBackoff = 2 * time.Millisecond
	LockMaxBackoff = 100 * time.Millisecond
)

// Locker is a [lock.Locker] whose locks live in the store's file, so they
// exclude the goroutines of every process that opened it. A lock is a row
// holding a random token and a deadline; taking it, extending it and
// releasing it are each one write transaction that compares the token and
// the deadline, so a lock whose holder died frees itself at its deadline,
// and Release never frees a later holder's lock. It is safe for concurrent
// use, and valid as long as its Store is open.
type Locker struct {
	s *Store
}

var _ lock.Locker = (*Locker)(nil)

// Locker returns the store's locker: give it to the regions on this store
// (region.Config.Locker).
func (s *Store) Locker() *Locker { return &Locker{s: s} }

// TryObtain takes the lock on key without waiting. It returns
// lock.ErrNotObtained when another holder's unexpired lock is on key, an
// error wrapping lock.ErrInvalidTTL when ttl is not positive, ctx.Err()
// when ctx is done, and SQLite's error otherwise.
func (l *Locker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("diskstore: %w: %v", lock.ErrInvalidTTL, ttl)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	token := make([]byte, 16)
	_, _ = crand.Read(token) // never fails
	var got bool
	err := l.s.write(ctx, false, func(tx *sql.Tx, now int64) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO locks(k, token, exp) VALUES (?, ?, ?)
			ON CONFLICT(k) DO UPDATE SET token = excluded.token, exp = excluded.exp WHERE locks.exp <= ?`,
			[]byte(key), token, now+int64(ttl), now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		got = n == 1
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("diskstore: lock %q: %w", key, err)
	}
	if !got {
		return nil, lock.ErrNotObtained
	}
	return &fileLock{s: l.s, key: key, token: token}, nil
}

// Obtain waits until the lock on key is free and takes it, trying again
// after a jittered, exponentially growing wait (LockMinBackoff to
// LockMaxBackoff). It returns ctx.Err() as soon as ctx is done; a SQLite
// failure ends the wait with that error.
func (l *Locker) Obtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	return lock.Poll(ctx, lock.Backoff{Min: LockMinBackoff, Max: LockMaxBackoff}, func(ctx context.Context) (lock.Lock, error) {
		return l.TryObtain(ctx, key, ttl)
	})
}

// fileLock is a held lock.
type fileLock struct {
	s     *Store
	key   string
	token []byte
}

// Key returns the locked key.
func (h *fileLock) Key() string { return h.key }

// Extend resets the lock's deadline to ttl from now, if it still holds the
// lock. It returns lock.ErrNotHeld when the lock expired or was taken over,
// and an error wrapping lock.ErrInvalidTTL when ttl is not positive.
func (h *fileLock) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("diskstore: %w: %v", lock.ErrInvalidTTL, ttl)
	}
	return h.change(ctx, "extend", `UPDATE locks SET exp = ?1 + ?2 WHERE k = ?3 AND token = ?4 AND exp > ?1`, int64(ttl))
}

// Release frees the lock. It returns lock.ErrNotHeld when the lock was
// lost (expired or taken over) or already released.
func (h *fileLock) Release(ctx context.Context) error {
	return h.change(ctx, "release", `DELETE FROM locks WHERE k = ?3 AND token = ?4 AND exp > ?1`, 0)
}

func (h *fileLock) change(ctx context.Context, op, q string, ttl int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var held bool
	err := h.s.write(ctx, false, func(tx *sql.Tx, now int64) error {
		res, err := tx.ExecContext(ctx, q, now, ttl, []byte(h.key), h.token)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n == 1
		return err
	})
	if err != nil {
		return fmt.Errorf("diskstore: %s lock %q: %w", op, h.key, err)
	}
	if !held {
		return lock.ErrNotHeld
	}
	return nil
}
