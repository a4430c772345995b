package memcachelocker

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/internal/memcachekey"
	"github.com/corralcache/corral/lock"
)

// ErrInvalidOptions is wrapped by the errors New returns for a
// configuration it cannot use.
var ErrInvalidOptions = errors.New("memcachelocker: invalid options")

// Backoff bounds of Obtain: the first wait and the cap it doubles up to.
const (
	DefaultMinBackoff = 10 * time.Millisecond
	DefaultMaxBackoff = 500 * time.Millisecond
)

// Client is the part of *memcache.Client a Locker uses. Tests wrap a real
// client to inject faults.
type Client interface {
	Get(key string) (*memcache.Item, error)
	Add(item *memcache.Item) error
	CompareAndSwap(item *memcache.Item) error
}

var _ Client = (*memcache.Client)(nil)

// Options configure a Locker. The zero value is valid.
type Options struct {
	// Prefix is prepended to every locked key, to keep locks apart from
	// other items on a shared server. Default: none (corral's regions
	// lock keys of their own, "c1:{…}:l", that no value key can be).
	Prefix string
	// MinBackoff and MaxBackoff bound Obtain's polling interval, which
	// starts at MinBackoff and doubles up to MaxBackoff, each wait drawn at
	// random from its upper half. Defaults: DefaultMinBackoff,
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// Locker is a [lock.Locker] on memcached. It is safe for concurrent use.
type Locker struct {
	client Client
	opts   Options
}

var _ lock.Locker = (*Locker)(nil)

// New returns a Locker on client (one server or a pool; a key's lock lives
// on the server its key hashes to). Errors wrap ErrInvalidOptions.
func New(client Client, o Options) (*Locker, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOptions)
	}
	if o.MinBackoff < 0 || o.MaxBackoff < 0 {
		return nil, fmt.Errorf("%w: negative backoff", ErrInvalidOptions)
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("%w: MaxBackoff %v below MinBackoff %v", ErrInvalidOptions, o.MaxBackoff, o.MinBackoff)
	}
	return &Locker{client: client, opts: o}, nil
}

// lockSeconds is memcached's expiration for a lock that must live at least
// ttl: whole seconds rounded up, plus one for memcached's clock tick.
func lockSeconds(ttl time.Duration, now time.Time) int32 {
	return memcachekey.Expiration(ttl+time.Second, now)
}

// TryObtain takes the lock on key without waiting, with one `add`. It
// returns lock.ErrNotObtained when the lock is held, an error wrapping
// lock.ErrInvalidTTL when ttl is not positive, ctx.Err() when ctx is done,
// and the client's error when the server fails.
func (l *Locker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("memcachelocker: %w: %v", lock.ErrInvalidTTL, ttl)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var raw [16]byte
	_, _ = crand.Read(raw[:]) // never fails
	h := &handle{l: l, key: key, item: memcachekey.Mangle(l.opts.Prefix + key), token: hex.EncodeToString(raw[:])}
	err := l.client.Add(&memcache.Item{Key: h.item, Value: []byte(h.token), Expiration: lockSeconds(ttl, time.Now())})
	switch {
	case err == nil:
		return h, nil
	case errors.Is(err, memcache.ErrNotStored):
		return nil, lock.ErrNotObtained
	}
	return nil, fmt.Errorf("memcachelocker: add %q: %w", key, err)
}

// Obtain waits until the lock on key is free and takes it, trying again
// after a jittered, exponentially growing wait (Options.MinBackoff to
// MaxBackoff). It returns ctx.Err() as soon as ctx is done, without
// sleeping past it; a server failure ends the wait with that error.
func (l *Locker) Obtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	return lock.Poll(ctx, lock.Backoff{Min: l.opts.MinBackoff, Max: l.opts.MaxBackoff}, func(ctx context.Context) (lock.Lock, error) {
		return l.TryObtain(ctx, key, ttl)
	})
}

// handle is a held lock.
type handle struct {
	l     *Locker
	key   string // as the caller gave it
	item  string // memcached key
	token string
}

// Key returns the locked key.
func (h *handle) Key() string { return h.key }

// Extend resets the lock's expiry to ttl from now (rounded as for
// TryObtain), in two round trips: `gets`, then `cas` of the same token with
// the new expiration, which fails when the item changed or vanished in
// between. It returns lock.ErrNotHeld when the lock expired or was taken
// over, and an error wrapping lock.ErrInvalidTTL when ttl is not positive.
func (h *handle) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memcachelocker: %w: %v", lock.ErrInvalidTTL, ttl)
	}
	return h.swap(ctx, "extend", lockSeconds(ttl, time.Now()))
}

// Release frees the lock in two round trips: `gets`, then `cas` of the
// same token with a negative expiration, which memcached treats as expired
// at once. The `cas` acts only on the item the `gets` saw, so Release never
// frees another holder's lock. It returns lock.ErrNotHeld when the lock was
// lost, or already released.
func (h *handle) Release(ctx context.Context) error {
	return h.swap(ctx, "release", -1)
}

// swap rewrites the lock item with expiration exp if it still holds the
// handle's token.
func (h *handle) swap(ctx context.Context, op string, exp int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it, err := h.l.client.Get(h.item)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return lock.ErrNotHeld
	}
	if err != nil {
		return fmt.Errorf("memcachelocker: %s %q: %w", op, h.key, err)
	}
	if string(it.Value) != h.token {
		return lock.ErrNotHeld
	}
	it.Expiration = exp
	err = h.l.client.CompareAndSwap(it)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCacheMiss):
		return lock.ErrNotHeld
	}
	return fmt.Errorf("memcachelocker: %s %q: %w", op, h.key, err)
}
