package memcachestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/mcmeta"
)

var (
	// ErrTooLarge is wrapped by the error Set and SetMulti return for a value
	// that would exceed the server's item limit ([Options.MaxItemSize]).
	// It wraps backend.ErrTooLarge, so a region counts such a value as not
	// cached rather than as a backend failure.
	ErrTooLarge = fmt.Errorf("memcachestore: item too large: %w", backend.ErrTooLarge)
	// ErrInvalidOptions is wrapped by the errors New and NewServers return
	// for a configuration they cannot use.
	ErrInvalidOptions = errors.New("memcachestore: invalid options")
	// ErrNoCAS is wrapped by the error GetForUpdate returns when the server
	// hands out no CAS values (memcached started with -C), without which
	// conditional writes cannot work.
	ErrNoCAS = errors.New("memcachestore: server keeps no CAS values")
	// ErrServerTooOld is wrapped by the errors of the meta commands sent
	// to a server older than memcached 1.6.10, whose meta protocol was not
	// stable yet, and by those of Pool.CheckVersions and NewServers. Give
	// New a gomemcache client instead to use such a server: the Store then
	// speaks the text protocol only.
	ErrServerTooOld = mcmeta.ErrServerTooOld
)

const (
	// DefaultMaxItemSize is memcached's default item limit (its -I flag).
	DefaultMaxItemSize = 1 << 20
	// ItemOverhead is the size, in bytes, added to key and value in an item:
	// memcached's (header, CAS, flags, line end, 64 bytes rounded up) and
	// the Store's own header (17 bytes: kind, deadline, lease tag). A value
	// fits when len(key)+len(value)+ItemOverhead <= MaxItemSize.
	ItemOverhead = 64 + headerLen
	// DefaultTimeout is the socket timeout NewServers gives its client: a
	// dead server costs a caller at most this long before the region falls
	// through to the creator.
	DefaultTimeout = 200 * time.Millisecond
	// DefaultMaxIdleConns is the idle connections per server NewServers
	// keeps, enough for a busy process without a dial per call.
	DefaultMaxIdleConns = 64
	// DefaultConcurrency is the default [Options.Concurrency].
	DefaultConcurrency = 8
	// PlaceholderFlags are the flags of the items GetForUpdate leaves in
	// missing keys: "corp" in ASCII. Values are stored with flags 0; reads
	// report an item with these flags as missing.
	PlaceholderFlags = 0x636f7270
	// maxLeaseAttempts bounds the rounds of GetForUpdate for keys whose
	// reads keep being overtaken by other writes before its own write.
	maxLeaseAttempts = 3
)

// Client is the part of *memcache.Client a Store uses. Tests wrap a real
// client to inject faults. Get and GetMulti must fill in the items' CasID
// (gomemcache reads with gets), which Add and CompareAndSwap use.
type Client interface {
	Get(key string) (*memcache.Item, error)
	GetMulti(keys []string) (map[string]*memcache.Item, error)
	Set(item *memcache.Item) error
	Add(item *memcache.Item) error
	CompareAndSwap(item *memcache.Item) error
	Delete(key string) error
}

var _ Client = (*memcache.Client)(nil)

// Options configure a Store. The zero value is valid.
type Options struct {
	// MaxItemSize is the server's item limit in bytes (memcached's -I flag).
	// Writes of larger items fail with ErrTooLarge without reaching the
	// server. Default: DefaultMaxItemSize.
	MaxItemSize int
	// Concurrency bounds the commands SetMulti and DeleteMulti have in
	// flight at once. Default: DefaultConcurrency.
	Concurrency int
	// Now tells the time for expirations over 30 days, which memcached
	// takes as absolute Unix times. Default: time.Now.
	Now func() time.Time
}

// Store is a [backend.Backend] on memcached, with conditional writes
// ([backend.Conditional]) on memcached's CAS values. It is safe for
// concurrent use.
//
// gomemcache takes no context: every method checks ctx before each command,
// and each command is bounded by the client's socket timeout.
type Store struct {
	client Client
	// pool and meta are client and its meta-protocol client when client is
	// a Pool, nil otherwise: the conditional writes and the leases then use
	// the text protocol.
	pool   *Pool
	meta   *mcmeta.Client
	closer func() error // closes the client NewServers made; nil otherwise
	opts   Options
	// locks remembers the CAS value of each lock this Store's leases took,
	// so that one command releases or extends it.
	locks lockMemo
}

var (
	_ backend.Backend     = (*Store)(nil)
	_ backend.Conditional = (*Store)(nil)
	_ backend.Leaser      = (*Store)(nil)
	_ backend.Shared      = (*Store)(nil)
)

// New returns a Store on client, which may point at one server or a pool.
// The caller owns client; set its Timeout short (e.g. DefaultTimeout) so
// that a dead server fails fast.
//
// When client is a [*Pool], the Store also speaks memcached's meta
// protocol on the Pool's connections, for its conditional writes and its
// leases (see the package documentation). New does no I/O: the first meta
// command sent to each server checks its version, and fails with an error
// wrapping ErrServerTooOld on a server older than memcached 1.6.10 (call
// [Pool.CheckVersions] to learn it at once). Any other client (a
// gomemcache client, a Pool's Client) gives a Store that speaks the text
// protocol only, with more round trips per lease, on any memcached. Errors
// wrap ErrInvalidOptions.
func New(client Client, o Options) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOptions)
	}
	switch {
	case o.MaxItemSize < 0:
		return nil, fmt.Errorf("%w: MaxItemSize %d is negative", ErrInvalidOptions, o.MaxItemSize)
	case o.Concurrency < 0:
		return nil, fmt.Errorf("%w: Concurrency %d is negative", ErrInvalidOptions, o.Concurrency)
	}
	if o.MaxItemSize == 0 {
		o.MaxItemSize = DefaultMaxItemSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{client: client, opts: o}
	if p, ok := client.(*Pool); ok {
		s.pool, s.meta = p, p.Meta()
	}
	return s, nil
}

// NewClient returns a gomemcache client for the servers at addrs
// ("host:port"), with the socket timeout DefaultTimeout and
// DefaultMaxIdleConns idle connections per server, and gomemcache's fixed
// key selection: the keys of a dead server of a pool keep failing until it
// is back. [NewPool] makes a client that fails over. Errors wrap
// ErrInvalidOptions.
func NewClient(addrs ...string) (*memcache.Client, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no server addresses", ErrInvalidOptions)
	}
	var sl memcache.ServerList
	if err := sl.SetServers(addrs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	c := memcache.NewFromSelector(&sl)
	c.Timeout = DefaultTimeout
	c.MaxIdleConns = DefaultMaxIdleConns
	return c, nil
}

// NewServers returns a Store with default Options on a [Pool] of its own,
// with default PoolOptions, for the servers at addrs: a server that fails
// is taken out of key selection for a cooldown (see Pool for the effect on
// consistency). The Store speaks the meta protocol (see New); NewServers
// checks the version of every server that answers ([Pool.CheckVersions]).
// Close closes the Pool. A locker and a registry should use the same
// connections: build the Pool yourself and give it to New and to them.
// Errors wrap ErrInvalidOptions, or ErrServerTooOld.
func NewServers(addrs ...string) (*Store, error) {
	p, err := NewPool(PoolOptions{}, addrs...)
	if err != nil {
		return nil, err
	}
	s, err := New(p, Options{})
	if err == nil {
		err = p.CheckVersions()
	}
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	s.closer = p.Close
	return s, nil
}

// SharedBetweenProcesses reports true: every process with a client on the
// same servers shares the store (see backend.Shared).
func (s *Store) SharedBetweenProcesses() bool { return true }

// Close closes the Pool NewServers made. On a Store made by New it does
// nothing: the caller owns that client.
func (s *Store) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer()
}

// Get returns the value stored under key, or backend.ErrNotFound when it
// holds nothing or a placeholder.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	it, err := s.client.Get(MangleKey(key))
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, backend.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("memcachestore: get %q: %w", key, err)
	}
	v, ok := valueOf(it)
	if !ok {
		return nil, backend.ErrNotFound
	}
	return v, nil
}

// valueOf returns the value it holds, never nil, or false for a
// placeholder or an item without a header of ours.
func valueOf(it *memcache.Item) ([]byte, bool) {
	if it == nil {
		return nil, false
	}
	return payloadOf(it.Flags, it.Value)
}

// payloadOf returns the value held by an item of client flags flags and
// data data, never nil, or false for a placeholder (ours, or an item the
// meta protocol vivified) or an item without a header of ours.
func payloadOf(flags uint32, data []byte) ([]byte, bool) {
	if flags == PlaceholderFlags {
		return nil, false
	}
	h, v, ok := parse(data)
	if !ok || h.kind != kindValue {
		return nil, false
	}
	return v, true
}

// GetMulti returns one value per key, in order, nil for a missing key or a
// placeholder, in one GetMulti of the client. When a server of a pool fails,
// the error is returned with no values.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mangled, unique := mangleAll(keys)
	items, err := s.client.GetMulti(unique)
	if err != nil {
		return nil, fmt.Errorf("memcachestore: get multi of %d keys: %w", len(keys), err)
	}
	fillValues(out, mangled, items)
	return out, nil
}

// mangleAll returns the mangled form of every key, and the distinct ones.
func mangleAll(keys []string) (mangled, unique []string) {
	mangled = make([]string, len(keys))
	unique = make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for i, k := range keys {
		m := MangleKey(k)
		mangled[i] = m
		if _, dup := seen[m]; !dup {
			seen[m] = struct{}{}
			unique = append(unique, m)
		}
	}
	return mangled, unique
}

// fillValues sets out[i] to the value of items[mangled[i]], leaving nil for
// a missing item, a placeholder or an item not ours. A key named twice gets
// a copy the second time: callers own their values.
func fillValues(out [][]byte, mangled []string, items map[string]*memcache.Item) {
	values := make(map[string][]byte, len(items))
	for m, it := range items {
		if v, ok := valueOf(it); ok {
			values[m] = v
		}
	}
	fillFrom(out, mangled, values)
}

// fillFrom sets out[i] to values[mangled[i]], nil for a key values lacks,
// copying it for a key named twice.
func fillFrom(out [][]byte, mangled []string, values map[string][]byte) {
	given := make(map[string]bool, len(values))
	for i, m := range mangled {
		v, ok := values[m]
		if !ok {
			continue
		}
		if given[m] {
			out[i] = append([]byte{}, v...)
			continue
		}
		given[m] = true
		out[i] = v
	}
}

// Set stores value under key; ttl is the server-side limit (zero: none;
// negative: expired at once), rounded up to whole seconds. A value over the item limit gives an error
// wrapping ErrTooLarge.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.set(key, value, ttl)
}

func (s *Store) set(key string, value []byte, ttl time.Duration) error {
	it, err := s.item(key, value, ttl)
	if err != nil {
		return err
	}
	if err := s.client.Set(it); err != nil {
		return writeError("set", key, value, err)
	}
	return nil
}

// item returns the item of a write of value under key with ttl, behind a
// header with the TTL's deadline, or an error wrapping ErrTooLarge.
func (s *Store) item(key string, value []byte, ttl time.Duration) (*memcache.Item, error) {
	m := MangleKey(key)
	if size := len(m) + len(value) + ItemOverhead; size > s.opts.MaxItemSize {
		return nil, fmt.Errorf("memcachestore: value of %d bytes exceeds the item limit (%d bytes with key and headers, limit %d): %w",
			len(value), size, s.opts.MaxItemSize, ErrTooLarge)
	}
	now := s.opts.Now()
	v := frame(header{kind: kindValue, deadline: deadline(ttl, now)}, value)
	return &memcache.Item{Key: m, Value: v, Expiration: Expiration(ttl, now)}, nil
}

// writeError wraps the error of the command verb writing value under key.
func writeError(verb, key string, value []byte, err error) error {
	if strings.Contains(err.Error(), "too large") {
		// The server's limit is lower than MaxItemSize says.
		return fmt.Errorf("memcachestore: value of %d bytes exceeds the item limit: %w: %w", len(value), ErrTooLarge, err)
	}
	return fmt.Errorf("memcachestore: %s %q: %w", verb, key, err)
}

// SetMulti stores every item, Options.Concurrency commands at a time
// (memcached has no multi-set). It returns the first error; the other items
// are still written.
func (s *Store) SetMulti(ctx context.Context, items []backend.Item) error {
	return s.each(ctx, len(items), func(i int) error {
		return s.set(items[i].Key, items[i].Value, items[i].TTL)
	})
}

// GetForUpdate returns one value per key, in order, nil for a missing key,
// and takes a new lease on each key: the version it returns is the CAS value
// of an item it wrote itself, so every version handed out before for the key
// stops matching. It reads all keys with one gets, then writes each
// distinct key once (Options.Concurrency commands at a time):
//
//   - a value: cas of the same bytes and flags under a new lease tag, with
//     the TTL the value has left, computed from the deadline in its header
//     (see the package documentation for its precision); a value past its
//     deadline is taken for a missing key;
//   - a placeholder, or an item not ours: cas of a new placeholder;
//   - nothing: add of a placeholder.
//
// A placeholder is an empty item with [PlaceholderFlags] that lives at least
// placeholderTTL, rounded up to whole seconds, and at most a second longer
// (memcached's clock ticks in seconds). No store command returns the CAS
// value it gave, so GetForUpdate then reads the keys again with one gets,
// and takes the CAS value of an item that bears its lease tag.
//
// That is three round trips (a gets, the writes in parallel, a gets) for
// any mix of hits and misses. A key written by someone else between the
// read and the write (a cas conflict, or a lost add) is read and written
// again, in at most three rounds in all: at most 7 round trips. A key whose
// lease another lease or write overtook before it was read back gets a
// version that no longer matches (the CAS value its cas replaced), as if
// the other lease had come just after; so does a key still overtaken after
// the last round. A key that keeps losing its added placeholder before it
// is read gives an error after three rounds.
//
// It returns an error wrapping [backend.ErrInvalidArgument] when
// placeholderTTL is not positive, and one wrapping ErrNoCAS when the server
// hands out no CAS values. Other errors are the server's; the leases taken
// before one stand (values keep their bytes and TTL), which no reader
// notices.
func (s *Store) GetForUpdate(ctx context.Context, keys []string, placeholderTTL time.Duration) ([][]byte, []backend.Version, error) {
	if placeholderTTL <= 0 {
		return nil, nil, fmt.Errorf("memcachestore: placeholder TTL %v is not positive: %w", placeholderTTL, backend.ErrInvalidArgument)
	}
	values := make([][]byte, len(keys))
	versions := make([]backend.Version, len(keys))
	if len(keys) == 0 {
		return values, versions, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.meta != nil {
		return s.getForUpdateMeta(ctx, keys, placeholderTTL)
	}
	mangled, unique := mangleAll(keys)
	read, err := s.client.GetMulti(unique)
	if err != nil {
		return nil, nil, fmt.Errorf("memcachestore: get for update of %d keys: %w", len(keys), err)
	}
	leases := make([]lease, len(unique))
	for j, m := range unique {
		leases[j].key = m
		if err := leases[j].readAs(read[m]); err != nil {
			return nil, nil, err
		}
	}
	// The placeholder must outlive placeholderTTL: memcached may drop an
	// item of N seconds after N-1.
	phTTL := placeholderTTL + time.Second
	pending := make([]int, len(unique))
	for j := range pending {
		pending[j] = j
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxLeaseAttempts {
			var lost []string
			for _, j := range pending {
				l := &leases[j]
				if l.dead == 0 {
					lost = append(lost, l.key)
					continue
				}
				// Overtaken in every round: the lease is void at once.
				l.version, l.done = l.dead, true
			}
			if len(lost) > 0 {
				return nil, nil, fmt.Errorf("memcachestore: get for update: %d keys lost their placeholders before they were read %d times", len(lost), attempt)
			}
			break
		}
		err := s.each(ctx, len(pending), func(i int) error {
			return s.writeLease(&leases[pending[i]], phTTL)
		})
		if err != nil {
			return nil, nil, err
		}
		again := make([]string, len(pending))
		for i, j := range pending {
			again[i] = leases[j].key
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		got, err := s.client.GetMulti(again)
		if err != nil {
			return nil, nil, fmt.Errorf("memcachestore: get for update of %d keys: %w", len(again), err)
		}
		next := pending[:0]
		for _, j := range pending {
			l := &leases[j]
			if err := l.readBack(got[l.key]); err != nil {
				return nil, nil, err
			}
			if !l.done {
				next = append(next, j)
			}
		}
		pending = next
	}
	byKey := make(map[string]*lease, len(leases))
	leased := make(map[string][]byte, len(leases))
	for j := range leases {
		l := &leases[j]
		byKey[l.key] = l
		if l.value != nil {
			leased[l.key] = l.value
		}
	}
	for i, m := range mangled {
		versions[i] = backend.Version(byKey[m].version)
	}
	fillFrom(values, mangled, leased)
	return values, versions, nil
}

// lease is the state of GetForUpdate for one key.
type lease struct {
	key string // mangled
	// cur is the item last read, nil for a missing key.
	cur *memcache.Item
	// wrote tells that the write of the current round succeeded, with tag.
	wrote bool
	tag   uint64
	// value is the value the lease keeps, or nil for a placeholder.
	value []byte
	// dead is a CAS value the key held and no longer does (a write replaced
	// it), or zero: the version of a lease that was overtaken.
	dead uint64
	// version is the lease's, once done.
	version uint64
	done    bool
}

// readAs makes it the item the next write of l starts from.
func (l *lease) readAs(it *memcache.Item) error {
	if it != nil && it.CasID == 0 {
		return fmt.Errorf("memcachestore: get for update %q: %w", l.key, ErrNoCAS)
	}
	l.cur = it
	return nil
}

// writeLease writes l's key once: the value it holds under a new tag, or a
// new placeholder that lives for phTTL. A cas conflict or a lost add leaves
// l.wrote false, for another round; other errors are returned.
func (s *Store) writeLease(l *lease, phTTL time.Duration) error {
	now := s.opts.Now()
	l.tag, l.wrote, l.value = newTag(), false, nil
	it := &memcache.Item{Key: l.key}
	if l.cur != nil {
		it.CasID = l.cur.CasID
		if payload, exp, ok := liveValue(l.cur, now); ok {
			h, _, _ := parse(l.cur.Value)
			h.tag = l.tag
			it.Value, it.Flags, it.Expiration = frame(h, payload), l.cur.Flags, exp
			l.value = payload
		}
	}
	if it.Value == nil {
		it.Value = appendHeader(make([]byte, 0, headerLen), header{kind: kindPlaceholder, deadline: deadline(phTTL, now), tag: l.tag})
		it.Flags, it.Expiration = PlaceholderFlags, Expiration(phTTL, now)
	}
	var err error
	if l.cur == nil {
		err = s.client.Add(it)
	} else {
		err = s.client.CompareAndSwap(it)
	}
	switch {
	case err == nil:
		l.wrote = true
	case errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCacheMiss):
		// Written, deleted or created since it was read: read it again.
		if l.cur != nil {
			l.dead = l.cur.CasID
		}
	default:
		return fmt.Errorf("memcachestore: lease %q: %w", l.key, err)
	}
	return nil
}

// liveValue returns the value of it, a value of ours whose deadline has not
// passed at now, with the expiration that keeps its deadline.
func liveValue(it *memcache.Item, now time.Time) (payload []byte, exp int32, ok bool) {
	payload, ok = valueOf(it)
	if !ok {
		return nil, 0, false
	}
	h, _, _ := parse(it.Value)
	if h.deadline == 0 {
		return payload, 0, true
	}
	left := time.Duration(h.deadline - now.UnixNano())
	if left <= 0 {
		return nil, 0, false
	}
	return payload, Expiration(left, now), true
}

// readBack settles l from the item its key holds after the round's write.
func (l *lease) readBack(it *memcache.Item) error {
	if !l.wrote {
		return l.readAs(it)
	}
	if it != nil {
		if h, _, ok := parse(it.Value); ok && h.tag == l.tag {
			if it.CasID == 0 {
				return fmt.Errorf("memcachestore: get for update %q: %w", l.key, ErrNoCAS)
			}
			l.version, l.done = it.CasID, true
			return nil
		}
	}
	// Another write came after this lease's.
	if l.cur != nil {
		// The item this lease's cas replaced is gone: its CAS value is a
		// version that no longer matches.
		l.version, l.done = l.cur.CasID, true
		return nil
	}
	// An added placeholder has no such version: try again.
	l.value = nil
	return l.readAs(it)
}

// SetIf stores items[i], as Set does, only if its key still holds the item
// whose CAS value is versions[i] (a value or a placeholder); stored[i]
// reports whether it did. Each item is one cas command (memcached compares
// and writes atomically), Options.Concurrency at a time; an item with the
// zero version is not sent. A key written, deleted, expired or evicted since
// it was read gives false.
//
// It returns an error wrapping [backend.ErrInvalidArgument] when versions
// and items differ in length. A value over the item limit is not sent and
// gives an error wrapping ErrTooLarge; the other items are still written.
// It returns the first error, and stored reports the items known to be
// stored.
func (s *Store) SetIf(ctx context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	if len(items) != len(versions) {
		return nil, fmt.Errorf("memcachestore: %d items with %d versions: %w", len(items), len(versions), backend.ErrInvalidArgument)
	}
	if s.meta != nil {
		return s.setIfMeta(ctx, items, versions)
	}
	stored := make([]bool, len(items))
	err := s.each(ctx, len(items), func(i int) error {
		if versions[i] == 0 {
			return nil
		}
		it, err := s.item(items[i].Key, items[i].Value, items[i].TTL)
		if err != nil {
			return err
		}
		it.CasID, _ = s.casOf(it.Key, versions[i])
		err = s.client.CompareAndSwap(it)
		switch {
		case err == nil:
			stored[i] = true
		case errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCacheMiss):
			// Changed, or gone, since it was read.
		default:
			return writeError("cas", items[i].Key, items[i].Value, err)
		}
		return nil
	})
	return stored, err
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.delete(key)
}

func (s *Store) delete(key string) error {
	err := s.client.Delete(MangleKey(key))
	if err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return fmt.Errorf("memcachestore: delete %q: %w", key, err)
	}
	return nil
}

// DeleteMulti removes every key, Options.Concurrency commands at a time.
// Missing keys are not an error; it returns the first other error.
func (s *Store) DeleteMulti(ctx context.Context, keys []string) error {
	return s.each(ctx, len(keys), func(i int) error { return s.delete(keys[i]) })
}

// each runs fn(0..n-1) with at most Options.Concurrency calls at once,
// checking ctx before each, and returns the first error.
func (s *Store) each(ctx context.Context, n int, fn func(i int) error) error {
	switch n {
	case 0:
		return nil
	case 1:
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(0)
	}
	var (
		mu    sync.Mutex // protects first
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, s.opts.Concurrency)
	)
	for i := range n {
		if err := ctx.Err(); err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}
