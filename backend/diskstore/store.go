package diskstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"github.com/corralcache/corral/backend"
)

var (
	// ErrInvalidOptions is wrapped by the errors Open returns for a
	// configuration it cannot use.
	ErrInvalidOptions = errors.New("diskstore: invalid options")
	// ErrTooLarge is wrapped by the error of a write whose value alone
	// exceeds Options.MaxBytes; it wraps backend.ErrTooLarge, so a region
	// counts the value as not cached. Nothing of such a call is stored.
	ErrTooLarge = fmt.Errorf("diskstore: value larger than MaxBytes: %w", backend.ErrTooLarge)
)

// ErrFormat is wrapped by the error of Open for a file written in a format
// this release does not read (by a later release, or by another program).
var ErrFormat = errors.New("diskstore: unknown file format")

// fileFormat is the format of the tables, kept in SQLite's user_version.
const fileFormat = 1

// Defaults of [Options].
const (
	// DefaultMaxBytes bounds a store's size when Options.MaxBytes is zero.
	DefaultMaxBytes = 1 << 30
	// DefaultAccessResolution is the default Options.AccessResolution.
	DefaultAccessResolution = time.Second
	// DefaultBusyTimeout is the default Options.BusyTimeout.
	DefaultBusyTimeout = 10 * time.Second
	// EntryOverhead is what an entry counts towards Options.MaxBytes besides
	// the bytes of its key and value: its row's columns and index entries,
	// roughly.
	EntryOverhead = 64
)

// Options configure a Store. The zero value is valid.
type Options struct {
	// MaxBytes bounds the bytes of the entries (keys, values and
	// EntryOverhead each). Zero means DefaultMaxBytes; negative means no
	// bound. The file is larger than this by SQLite's own overhead (pages
	// not full, indexes, the write-ahead log); freed pages are reused, so
	// it does not keep growing.
	MaxBytes int64
	// MaxEntries bounds the number of entries (values and placeholders).
	// Zero or negative means no bound.
	MaxEntries int64
	// AccessResolution is how stale an entry's last access time may be
	// before a read refreshes it, which costs a write: eviction is least
	// recently used to this resolution. Zero means DefaultAccessResolution;
	// negative means every hit writes its access time.
	AccessResolution time.Duration
	// BusyTimeout bounds how long a write waits for another process's
	// write transaction. Zero means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Durable makes every commit wait for the disk (SQLite's
	// synchronous=FULL), so that a power loss loses no completed write.
	// Without it (synchronous=NORMAL) a process killed at any point loses
	// nothing it committed, and a power loss may lose the last commits but
	// never leaves the file unreadable.
	Durable bool
	// Now tells the time: TTL deadlines and access times. All processes
	// sharing a file must tell the same time (one host's clock). Default:
	// time.Now.
	Now func() time.Time
}

// Store is a corral backend in one SQLite file on local disk, which several
// processes of one host may open at once. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string
	opts Options
	// wsem admits one write transaction of this process at a time, so that
	// the goroutines of one process queue here, on a channel that honours
	// ctx, instead of in SQLite's sleeping busy handler.
	wsem chan struct{}
	// writes counts write transactions, to purge expired rows now and then.
	writes atomic.Uint64

	get, getMeta, put, del, lease, usage *sql.Stmt
	// touchConn is a connection of its own for access times, with no busy
	// timeout: a hit never waits for another process's write to record
	// its access. touch is prepared on it.
	touchConn *sql.Conn
	touch     *sql.Stmt
}

var (
	_ backend.Backend            = (*Store)(nil)
	_ backend.Conditional        = (*Store)(nil)
	_ backend.Shared             = (*Store)(nil)
	_ backend.Grouper            = (*Store)(nil)
	_ backend.ConditionalGrouper = (*Store)(nil)
)

// Entry kinds in the kind column.
const (
	kindValue       = 1
	kindPlaceholder = 2
)

const schema = `
CREATE TABLE IF NOT EXISTS entries (
	id    INTEGER PRIMARY KEY,
	k     BLOB NOT NULL UNIQUE,
	kind  INTEGER NOT NULL,
	v     BLOB,
	ver   INTEGER NOT NULL,
	exp   INTEGER NOT NULL,
	atime INTEGER NOT NULL,
	size  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_atime ON entries(atime);
CREATE INDEX IF NOT EXISTS entries_exp ON entries(exp) WHERE exp > 0;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(name, n) VALUES ('count', 0), ('bytes', 0);
CREATE TRIGGER IF NOT EXISTS entries_ins AFTER INSERT ON entries BEGIN
	UPDATE meta SET n = n + 1 WHERE name = 'count';
	UPDATE meta SET n = n + NEW.size WHERE name = 'bytes';
END;
CREATE TRIGGER IF NOT EXISTS entries_del AFTER DELETE ON entries BEGIN
	UPDATE meta SET n = n - 1 WHERE name = 'count';
	UPDATE meta SET n = n - OLD.size WHERE name = 'bytes';
END;
CREATE TRIGGER IF NOT EXISTS entries_upd AFTER UPDATE OF size ON entries BEGIN
	UPDATE meta SET n = n - OLD.size + NEW.size WHERE name = 'bytes';
END;
CREATE TABLE IF NOT EXISTS locks (k BLOB PRIMARY KEY, token BLOB NOT NULL, exp INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
	fn  BLOB NOT NULL,
	k   BLOB NOT NULL,
	exp INTEGER NOT NULL,
	PRIMARY KEY (fn, k)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_exp ON records(exp) WHERE exp > 0;
`

// Open opens the store in the SQLite file at path, creating it (and its
// tables) when missing. Several processes may open one path at once; they
// share its entries, locks and records. Errors wrap ErrInvalidOptions, or
// come from SQLite (a path that cannot be opened, a file that is not a
// database).
func Open(path string, o Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrInvalidOptions)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.AccessResolution == 0 {
		o.AccessResolution = DefaultAccessResolution
	}
	switch {
	case o.BusyTimeout == 0:
		o.BusyTimeout = DefaultBusyTimeout
	case o.BusyTimeout < 0:
		return nil, fmt.Errorf("%w: negative BusyTimeout %v", ErrInvalidOptions, o.BusyTimeout)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	syncMode := "NORMAL"
	if o.Durable {
		syncMode = "FULL"
	}
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) +
		fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_txlock=immediate",
			o.BusyTimeout.Milliseconds(), syncMode)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("diskstore: open %s: %w", path, err)
	}
	conns := max(4, 2*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	s := &Store{db: db, path: path, opts: o, wsem: make(chan struct{}, 1)}
	if err := s.init(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("diskstore: open %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init() error {
	ctx := context.Background()
	if err := s.write(ctx, false, func(tx *sql.Tx, _ int64) error {
		var format int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&format); err != nil {
			return err
		}
		switch format {
		case 0: // a new file
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, fileFormat)); err != nil {
				return err
			}
		case fileFormat:
		default:
			return fmt.Errorf("%w: file format %d, this release reads %d", ErrFormat, format, fileFormat)
		}
		_, err := tx.ExecContext(ctx, schema)
		return err
	}); err != nil {
		return err
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&s.get, `SELECT kind, v, exp, atime FROM entries WHERE k = ?`},
		{&s.getMeta, `SELECT kind, ver, exp FROM entries WHERE k = ?`},
		{&s.put, `INSERT INTO entries(k, kind, v, ver, exp, atime, size) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(k) DO UPDATE SET kind = excluded.kind, v = excluded.v, ver = excluded.ver,
			exp = excluded.exp, atime = excluded.atime, size = excluded.size`},
		{&s.del, `DELETE FROM entries WHERE k = ?`},
		{&s.lease, `UPDATE entries SET ver = ?, atime = ? WHERE k = ?`},
		{&s.usage, `SELECT (SELECT n FROM meta WHERE name = 'count'), (SELECT n FROM meta WHERE name = 'bytes')`},
	} {
		st, err := s.db.Prepare(p.sql)
		if err != nil {
			return err
		}
		*p.st = st
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	s.touchConn = conn
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return err
	}
	if s.touch, err = conn.PrepareContext(ctx, `UPDATE entries SET atime = ? WHERE k = ? AND atime < ?`); err != nil {
		return err
	}
	return s.write(ctx, true, s.purgeExpired)
}

// SharedBetweenProcesses reports true: other processes may open the same
// file. A region on a Store needs a shared locker and registry: give it
// [Store.Locker] and [Store.Registry].
func (s *Store) SharedBetweenProcesses() bool { return true }

// Close closes the file. Calls after Close fail.
func (s *Store) Close() error {
	if s.touch != nil {
		_ = s.touch.Close()
	}
	if s.touchConn != nil {
		_ = s.touchConn.Close()
	}
	return s.db.Close()
}

// Usage is what a Store holds, as counted against its bounds.
type Usage struct {
	// Entries counts values and placeholders, expired ones not yet purged
	// included.
	Entries int64
	// Bytes is the sum of their keys, values and EntryOverhead each.
	Bytes int64
}

// Usage returns what the store holds. Errors come from SQLite.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	if err := s.usage.QueryRowContext(ctx).Scan(&u.Entries, &u.Bytes); err != nil {
		return Usage{}, fmt.Errorf("diskstore: usage: %w", err)
	}
	return u, nil
}

func (s *Store) now() int64 { return s.opts.Now().UnixNano() }

// deadline is the exp column of a write at now with ttl (positive).
func deadline(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now + int64(ttl)
}

func live(exp, now int64) bool { return exp == 0 || exp > now }

// newVersion returns a random version that is not zero. A stale version
// matches only if a later write of the key drew the same 64 random bits.
func newVersion() backend.Version {
	for {
		if v := rand.Uint64(); v != 0 {
			return backend.Version(v)
		}
	}
}

// Get returns the value under key, or backend.ErrNotFound for a missing or
// expired key or a placeholder. Errors come from SQLite.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	v, ok, err := s.read(ctx, key, s.now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, backend.ErrNotFound
	}
	return v, nil
}

// read returns the live value under key, refreshing its access time when
// older than Options.AccessResolution.
func (s *Store) read(ctx context.Context, key string, now int64) ([]byte, bool, error) {
	var (
		kind, exp, atime int64
		v                []byte
	)
	err := s.get.QueryRowContext(ctx, []byte(key)).Scan(&kind, &v, &exp, &atime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("diskstore: get %q: %w", key, err)
	}
	if kind != kindValue || !live(exp, now) {
		return nil, false, nil
	}
	if now-atime >= int64(s.opts.AccessResolution) {
		s.touchKey(ctx, key, now)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// touchKey records an access to key, unless another write of this process,
// or of another, is under way: access times guide eviction only, and a hit
// never waits for a write.
func (s *Store) touchKey(ctx context.Context, key string, now int64) {
	select {
	case s.wsem <- struct{}{}:
	default:
		return
	}
	defer func() { <-s.wsem }()
	_, _ = s.touch.ExecContext(ctx, now, []byte(key), now)
}

// GetMulti returns one value per key, nil for a missing one. Errors come
// from SQLite.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	now := s.now()
	for i, k := range keys {
		v, ok, err := s.read(ctx, k, now)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i] = v
		}
	}
	return out, nil
}

// check refuses items that cannot fit under MaxBytes.
func (s *Store) check(items []backend.Item) error {
	if s.opts.MaxBytes < 0 {
		return nil
	}
	for _, it := range items {
		if int64(len(it.Key)+len(it.Value)+EntryOverhead) > s.opts.MaxBytes {
			return fmt.Errorf("diskstore: set %q (%d bytes): %w", it.Key, len(it.Value), ErrTooLarge)
		}
	}
	return nil
}

// Set stores value under key with hard TTL ttl (zero: none; negative: the
// key is deleted). Errors wrap ErrTooLarge, or come from SQLite.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return s.SetMulti(ctx, []backend.Item{{Key: key, Value: value, TTL: ttl}})
}

// SetMulti stores every item in one transaction: all or none. Errors wrap
// ErrTooLarge (nothing stored), or come from SQLite.
func (s *Store) SetMulti(ctx context.Context, items []backend.Item) error {
	if len(items) == 0 {
		return ctx.Err()
	}
	if err := s.check(items); err != nil {
		return err
	}
	err := s.write(ctx, true, func(tx *sql.Tx, now int64) error {
		for _, it := range items {
			if err := s.putTx(ctx, tx, it, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("diskstore: set: %w", err)
	}
	return nil
}

// putTx writes it in tx under a new version; a negative TTL deletes.
func (s *Store) putTx(ctx context.Context, tx *sql.Tx, it backend.Item, now int64) error {
	if it.TTL < 0 {
		_, err := tx.StmtContext(ctx, s.del).ExecContext(ctx, []byte(it.Key))
		return err
	}
	v := it.Value
	if v == nil {
		v = []byte{}
	}
	_, err := tx.StmtContext(ctx, s.put).ExecContext(ctx, []byte(it.Key), kindValue, v,
		int64(newVersion()), deadline(now, it.TTL), now, len(it.Key)+len(v)+EntryOverhead)
	return err
}

// Delete removes key. Errors come from SQLite.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.DeleteMulti(ctx, []string{key})
}

// DeleteMulti removes every key in one transaction. Errors come from
// SQLite.
func (s *Store) DeleteMulti(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return ctx.Err()
	}
	err := s.write(ctx, false, func(tx *sql.Tx, _ int64) error {
		st := tx.StmtContext(ctx, s.del)
		for _, k := range keys {
			if _, err := st.ExecContext(ctx, []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("diskstore: delete: %w", err)
	}
	return nil
}

// GetForUpdate reads keys and takes a new lease on each, in one write
// transaction (see backend.Conditional): a live value keeps its bytes and
// deadline under a new version; a missing, expired or placeholder key gets
// a placeholder that lives for placeholderTTL. It returns an error wrapping
// backend.ErrInvalidArgument when placeholderTTL is not positive; other
// errors come from SQLite, with nothing leased.
func (s *Store) GetForUpdate(ctx context.Context, keys []string, placeholderTTL time.Duration) ([][]byte, []backend.Version, error) {
	if placeholderTTL <= 0 {
		return nil, nil, fmt.Errorf("diskstore: %w: placeholder TTL %v", backend.ErrInvalidArgument, placeholderTTL)
	}
	var (
		vals [][]byte
		vers []backend.Version
	)
	err := s.write(ctx, true, func(tx *sql.Tx, now int64) error {
		vals, vers = make([][]byte, len(keys)), make([]backend.Version, len(keys))
		seen := make(map[string]int, len(keys))
		getSt, leaseSt, putSt := tx.StmtContext(ctx, s.get), tx.StmtContext(ctx, s.lease), tx.StmtContext(ctx, s.put)
		for i, k := range keys {
			if j, ok := seen[k]; ok {
				vals[i], vers[i] = vals[j], vers[j]
				continue
			}
			seen[k] = i
			var (
				kind, exp, atime int64
				v                []byte
			)
			err := getSt.QueryRowContext(ctx, []byte(k)).Scan(&kind, &v, &exp, &atime)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			ver := newVersion()
			vers[i] = ver
			if err == nil && kind == kindValue && live(exp, now) {
				if v == nil {
					v = []byte{}
				}
				vals[i] = v
				_, err = leaseSt.ExecContext(ctx, int64(ver), now, []byte(k))
			} else {
				_, err = putSt.ExecContext(ctx, []byte(k), kindPlaceholder, nil, int64(ver),
					deadline(now, placeholderTTL), now, len(k)+EntryOverhead)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("diskstore: get for update: %w", err)
	}
	return vals, vers, nil
}

// SetIf stores items[i] as Set would, only if its key still holds what
// versions[i] names, in one write transaction (see backend.Conditional).
// It returns an error wrapping backend.ErrInvalidArgument when versions and
// items differ in length, one wrapping ErrTooLarge (nothing stored) for a
// value over MaxBytes; other errors come from SQLite, with nothing stored.
func (s *Store) SetIf(ctx context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	return s.setIf(ctx, items, versions, "", nil, 0)
}

// SetIfGrouped is SetIf that also records members[i], in the same
// transaction, under group for each item it stores (see
// backend.ConditionalGrouper); the records last groupTTL (zero: until
// forgotten). group is the name [Registry.Group] gives, read by the
// Registry of this file. It returns an error wrapping
// backend.ErrInvalidArgument when versions or members differ in length from
// items; other errors are as SetIf's.
func (s *Store) SetIfGrouped(ctx context.Context, items []backend.Item, versions []backend.Version, group string, members []string, groupTTL time.Duration) ([]bool, error) {
	if len(members) != len(items) {
		return nil, fmt.Errorf("diskstore: %w: %d items, %d members", backend.ErrInvalidArgument, len(items), len(members))
	}
	return s.setIf(ctx, items, versions, group, members, groupTTL)
}

func (s *Store) setIf(ctx context.Context, items []backend.Item, versions []backend.Version, group string, members []string, groupTTL time.Duration) ([]bool, error) {
	if len(items) != len(versions) {
		return nil, fmt.Errorf("diskstore: %w: %d items, %d versions", backend.ErrInvalidArgument, len(items), len(versions))
	}
	stored := make([]bool, len(items))
	if len(items) == 0 {
		return stored, ctx.Err()
	}
	if err := s.check(items); err != nil {
		return stored, err
	}
	err := s.write(ctx, true, func(tx *sql.Tx, now int64) error {
		clear(stored)
		metaSt := tx.StmtContext(ctx, s.getMeta)
		for i, it := range items {
			if versions[i] == 0 {
				continue
			}
			var kind, ver, exp int64
			err := metaSt.QueryRowContext(ctx, []byte(it.Key)).Scan(&kind, &ver, &exp)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if backend.Version(ver) != versions[i] || !live(exp, now) {
				continue
			}
			if err := s.putTx(ctx, tx, it, now); err != nil {
				return err
			}
			if members != nil {
				if err := recordTx(ctx, tx, group, members[i], deadline(now, groupTTL)); err != nil {
					return err
				}
			}
			stored[i] = true
		}
		return nil
	})
	if err != nil {
		clear(stored)
		return stored, fmt.Errorf("diskstore: set if: %w", err)
	}
	return stored, nil
}

// SetMultiGrouped is SetMulti that also records members[i] under group for
// every item, in the same transaction (see backend.Grouper); the records
// last groupTTL (zero: until forgotten). It returns an error wrapping
// backend.ErrInvalidArgument when members and items differ in length;
// other errors are as SetMulti's.
func (s *Store) SetMultiGrouped(ctx context.Context, items []backend.Item, group string, members []string, groupTTL time.Duration) error {
	if len(members) != len(items) {
		return fmt.Errorf("diskstore: %w: %d items, %d members", backend.ErrInvalidArgument, len(items), len(members))
	}
	if len(items) == 0 {
		return ctx.Err()
	}
	if err := s.check(items); err != nil {
		return err
	}
	err := s.write(ctx, true, func(tx *sql.Tx, now int64) error {
		for i, it := range items {
			if err := s.putTx(ctx, tx, it, now); err != nil {
				return err
			}
			if err := recordTx(ctx, tx, group, members[i], deadline(now, groupTTL)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("diskstore: set: %w", err)
	}
	return nil
}

// write runs fn in a write transaction (BEGIN IMMEDIATE: it holds the
// file's write lock from its start, so it never fails half-way for another
// process's write) and commits it; with evict, it then evicts what exceeds
// the bounds, in the same transaction. It waits for this process's other
// writes on wsem, honouring ctx, and for other processes' in SQLite's busy
// handler, up to Options.BusyTimeout.
func (s *Store) write(ctx context.Context, evict bool, fn func(tx *sql.Tx, now int64) error) error {
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wsem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	now := s.now()
	err = fn(tx, now)
	if err == nil && evict {
		err = s.evict(ctx, tx, now)
	}
	if err == nil && s.writes.Add(1)%purgeEvery == 0 {
		err = s.purgeExpired(tx, now)
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// purgeEvery is how many write transactions of a process pass between two
// purges of expired rows.
const purgeEvery = 1024

// purgeBatch bounds the expired rows of each table one purge deletes.
const purgeBatch = 1000

// purgeExpired deletes expired entries, locks and records, up to
// purgeBatch of each.
func (s *Store) purgeExpired(tx *sql.Tx, now int64) error {
	ctx := context.Background()
	for _, q := range []string{
		`DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE exp > 0 AND exp <= ? LIMIT ?)`,
		`DELETE FROM locks WHERE k IN (SELECT k FROM locks WHERE exp <= ? LIMIT ?)`,
		`DELETE FROM records WHERE (fn, k) IN (SELECT fn, k FROM records WHERE exp > 0 AND exp <= ? LIMIT ?)`,
	} {
		if _, err := tx.ExecContext(ctx, q, now, purgeBatch); err != nil {
			return err
		}
	}
	return nil
}

// evict deletes entries until the bounds hold: expired ones first, then the
// least recently used (by access time, to Options.AccessResolution).
func (s *Store) evict(ctx context.Context, tx *sql.Tx, now int64) error {
	usage := tx.StmtContext(ctx, s.usage)
	expiredDone := false
	for {
		var u Usage
		if err := usage.QueryRowContext(ctx).Scan(&u.Entries, &u.Bytes); err != nil {
			return err
		}
		over := int64(0)
		if s.opts.MaxEntries > 0 && u.Entries > s.opts.MaxEntries {
			over = u.Entries - s.opts.MaxEntries
		}
		if s.opts.MaxBytes > 0 && u.Bytes > s.opts.MaxBytes && u.Entries > 0 {
			avg := max(u.Bytes/u.Entries, 1)
			over = max(over, (u.Bytes-s.opts.MaxBytes+avg-1)/avg)
		}
		if over <= 0 || u.Entries == 0 {
			return nil
		}
		var (
			res sql.Result
			err error
		)
		if !expiredDone {
			res, err = tx.ExecContext(ctx, `DELETE FROM entries WHERE id IN
				(SELECT id FROM entries WHERE exp > 0 AND exp <= ? ORDER BY exp LIMIT ?)`, now, over)
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM entries WHERE id IN
				(SELECT id FROM entries ORDER BY atime, id LIMIT ?)`, over)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if expiredDone {
				return fmt.Errorf("diskstore: eviction made no progress at %d entries, %d bytes", u.Entries, u.Bytes)
			}
			expiredDone = true
		}
	}
}

// ErrCorrupt is wrapped by the error of Check when the file fails SQLite's
// integrity check or its counters disagree with its entries.
var ErrCorrupt = errors.New("diskstore: store is corrupt")

// Check runs SQLite's integrity check on the file and compares the counts
// the bounds are kept by with the entries, reading the whole file: it is
// for tests and maintenance, not for a hot path. It returns an error
// wrapping ErrCorrupt when either fails, or SQLite's error.
func (s *Store) Check(ctx context.Context) error {
	var res string
	if err := s.db.QueryRowContext(ctx, `PRAGMA integrity_check(1)`).Scan(&res); err != nil {
		return fmt.Errorf("diskstore: check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("%w: %s", ErrCorrupt, res)
	}
	var counted, actual Usage
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT n FROM meta WHERE name = 'count'), (SELECT n FROM meta WHERE name = 'bytes'),
		(SELECT count(*) FROM entries), (SELECT coalesce(sum(size), 0) FROM entries)`).
		Scan(&counted.Entries, &counted.Bytes, &actual.Entries, &actual.Bytes)
	if err != nil {
		return fmt.Errorf("diskstore: check: %w", err)
	}
	if counted != actual {
		return fmt.Errorf("%w: counted %+v, holds %+v", ErrCorrupt, counted, actual)
	}
	return nil
}

// Path returns the path of the store's file.
func (s *Store) Path() string { return s.path }
