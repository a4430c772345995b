package diskstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/corralcache/corral/keyreg"
)

// Registry is a [keyreg.Registry] whose records live in the store's file,
// so every process that opened it lists and invalidates the keys of cached
// functions the others recorded. A record is a row (function, key,
// deadline): it leaves with Forget, ForgetAll, or its TTL (expired records
// are never reported, and are purged now and then). It is safe for
// concurrent use, and valid as long as its Store is open.
type Registry struct {
	s *Store
}

var _ keyreg.Grouped = (*Registry)(nil)

// Registry returns the store's key registry: give it to the regions on this
// store (region.Config.Registry).
func (s *Store) Registry() *Registry { return &Registry{s: s} }

// Group returns fn: the name under which a Store records fn's keys in the
// same transaction as their values (SetIfGrouped, SetMultiGrouped), so that
// a region on the Store and this Registry writes no record apart. Give a
// region the Registry of the same file as its Store: records written
// through one file are not read through another.
func (r *Registry) Group(fn string) string { return fn }

// Namespace returns fn unchanged: records are listed, not generations.
func (r *Registry) Namespace(ctx context.Context, fn string) (string, error) {
	return fn, ctx.Err()
}

// Record notes that key was stored for fn; the record lasts ttl (zero:
// until forgotten). Errors come from SQLite.
func (r *Registry) Record(ctx context.Context, fn, key string, ttl time.Duration) error {
	err := r.s.write(ctx, false, func(tx *sql.Tx, now int64) error {
		return recordTx(ctx, tx, fn, key, deadline(now, ttl))
	})
	if err != nil {
		return fmt.Errorf("diskstore: record %q: %w", key, err)
	}
	return nil
}

// Recorded reports whether an unexpired record of key for fn exists.
// Errors come from SQLite.
func (r *Registry) Recorded(ctx context.Context, fn, key string) (bool, error) {
	var n int
	err := r.s.db.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE fn = ? AND k = ? AND (exp = 0 OR exp > ?)`,
		[]byte(fn), []byte(key), r.s.now()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("diskstore: lookup %q: %w", key, err)
	}
	return n > 0, nil
}

// Keys lists the unexpired keys recorded for fn. Errors come from SQLite.
func (r *Registry) Keys(ctx context.Context, fn string) ([]string, error) {
	keys, err := r.list(ctx, r.s.db, fn, r.s.now())
	if err != nil {
		return nil, fmt.Errorf("diskstore: keys of %q: %w", fn, err)
	}
	return keys, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (r *Registry) list(ctx context.Context, q querier, fn string, now int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT k FROM records WHERE fn = ? AND (exp = 0 OR exp > ?)`, []byte(fn), now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, string(k))
	}
	return keys, rows.Err()
}

// Forget drops the records of keys for fn, in one transaction. Errors come
// from SQLite.
func (r *Registry) Forget(ctx context.Context, fn string, keys ...string) error {
	if len(keys) == 0 {
		return ctx.Err()
	}
	err := r.s.write(ctx, false, func(tx *sql.Tx, _ int64) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE fn = ? AND k = ?`, []byte(fn), []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("diskstore: forget keys of %q: %w", fn, err)
	}
	return nil
}

// ForgetAll drops every record of fn and returns the unexpired keys they
// held, in one transaction. Errors come from SQLite.
func (r *Registry) ForgetAll(ctx context.Context, fn string) ([]string, error) {
	var keys []string
	err := r.s.write(ctx, false, func(tx *sql.Tx, now int64) error {
		var err error
		if keys, err = r.list(ctx, tx, fn, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM records WHERE fn = ?`, []byte(fn))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("diskstore: forget all of %q: %w", fn, err)
	}
	return keys, nil
}

// recordTx records key under fn in tx, until exp (zero: until forgotten).
func recordTx(ctx context.Context, tx *sql.Tx, fn, key string, exp int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO records(fn, k, exp) VALUES (?, ?, ?)
		ON CONFLICT(fn, k) DO UPDATE SET exp = excluded.exp`, []byte(fn), []byte(key), exp)
	return err
}
