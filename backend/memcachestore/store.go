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
)

var (
	// ErrTooLarge is wrapped by the error Set and SetMulti return for a value
	// that would exceed the server's item limit ([Options.MaxItemSize]).
	ErrTooLarge = errors.New("memcachestore: item too large")
	// ErrInvalidOptions is wrapped by the errors New and NewServers return
	// for a configuration they cannot use.
	ErrInvalidOptions = errors.New("memcachestore: invalid options")
)

const (
	// DefaultMaxItemSize is memcached's default item limit (its -I flag).
	DefaultMaxItemSize = 1 << 20
	// ItemOverhead is the size, in bytes, that memcached adds to key and
	// value in an item (header, CAS, flags, line end), rounded up. A value
	// fits when len(key)+len(value)+ItemOverhead <= MaxItemSize.
	ItemOverhead = 64
	// DefaultTimeout is the socket timeout NewServers gives its client: a
	// dead server costs a caller at most this long before the region falls
	// through to the creator.
	DefaultTimeout = 200 * time.Millisecond
	// DefaultMaxIdleConns is the idle connections per server NewServers
	// keeps, enough for a busy process without a dial per call.
	DefaultMaxIdleConns = 64
	// DefaultConcurrency is the default [Options.Concurrency].
	DefaultConcurrency = 8
)

// Client is the part of *memcache.Client a Store uses. Tests wrap a real
// client to inject faults.
type Client interface {
	Get(key string) (*memcache.Item, error)
	GetMulti(keys []string) (map[string]*memcache.Item, error)
	Set(item *memcache.Item) error
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

// Store is a [backend.Backend] on memcached. It is safe for concurrent use.
//
// gomemcache takes no context: every method checks ctx before each command,
// and each command is bounded by the client's socket timeout.
type Store struct {
	client Client
	closer func() error // closes the client NewServers made; nil otherwise
	opts   Options
}

var _ backend.Backend = (*Store)(nil)

// New returns a Store on client, which may point at one server or a pool.
// The caller owns client; set its Timeout short (e.g. DefaultTimeout) so
// that a dead server fails fast. Errors wrap ErrInvalidOptions.
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
	return &Store{client: client, opts: o}, nil
}

// NewClient returns a gomemcache client for the servers at addrs
// ("host:port"), with the socket timeout DefaultTimeout and
// DefaultMaxIdleConns idle connections per server. Errors wrap
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

// NewServers returns a Store with default Options on a client of its own
// for the servers at addrs (see NewClient); Close closes that client's
// connections. Errors wrap ErrInvalidOptions.
func NewServers(addrs ...string) (*Store, error) {
	c, err := NewClient(addrs...)
	if err != nil {
		return nil, err
	}
	s, err := New(c, Options{})
	if err != nil {
		return nil, err
	}
	s.closer = c.Close
	return s, nil
}

// Close closes the connections of the client NewServers made. On a Store
// made by New it does nothing: the caller owns that client.
func (s *Store) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer()
}

// Get returns the value stored under key, or backend.ErrNotFound.
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
	return it.Value, nil
}

// GetMulti returns one value per key, in order, nil for a missing key, in
// one GetMulti of the client. When a server of a pool fails, the error is
// returned with no values.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mangled := make([]string, len(keys))
	unique := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for i, k := range keys {
		m := MangleKey(k)
		mangled[i] = m
		if _, dup := seen[m]; !dup {
			seen[m] = struct{}{}
			unique = append(unique, m)
		}
	}
	items, err := s.client.GetMulti(unique)
	if err != nil {
		return nil, fmt.Errorf("memcachestore: get multi of %d keys: %w", len(keys), err)
	}
	for i, m := range mangled {
		it, ok := items[m]
		if !ok {
			continue
		}
		if _, first := seen[m]; first {
			delete(seen, m)
			out[i] = it.Value
		} else {
			// A duplicate key gets its own copy: callers own their values.
			out[i] = append([]byte{}, it.Value...)
		}
	}
	return out, nil
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
	m := MangleKey(key)
	if size := len(m) + len(value) + ItemOverhead; size > s.opts.MaxItemSize {
		return fmt.Errorf("memcachestore: value of %d bytes exceeds the item limit (%d bytes with key and header, limit %d): %w",
			len(value), size, s.opts.MaxItemSize, ErrTooLarge)
	}
	if value == nil {
		value = []byte{}
	}
	err := s.client.Set(&memcache.Item{Key: m, Value: value, Expiration: Expiration(ttl, s.opts.Now())})
	if err != nil {
		if strings.Contains(err.Error(), "too large") {
			// The server's limit is lower than MaxItemSize says.
			return fmt.Errorf("memcachestore: value of %d bytes exceeds the item limit: %w: %w", len(value), ErrTooLarge, err)
		}
		return fmt.Errorf("memcachestore: set %q: %w", key, err)
	}
	return nil
}

// SetMulti stores every item, Options.Concurrency commands at a time
// (memcached has no multi-set). It returns the first error; the other items
// are still written.
func (s *Store) SetMulti(ctx context.Context, items []backend.Item) error {
	return s.each(ctx, len(items), func(i int) error {
		return s.set(items[i].Key, items[i].Value, items[i].TTL)
	})
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
