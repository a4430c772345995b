package memcachelocker

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/internal/mcmeta"
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
	// meta is the Pool's meta-protocol client when client is a
	// memcachestore.Pool, nil otherwise.
	meta *mcmeta.Client
	opts Options
}

var _ lock.Locker = (*Locker)(nil)

// New returns a Locker on client (one server or a pool; a key's lock lives
// on the server its key hashes to). When client is a [memcachestore.Pool],
// the Locker uses memcached's meta protocol: Extend and Release are then
// one round trip each, not two; on a server older than memcached 1.6.10
// its calls fail with an error wrapping mcmeta.ErrServerTooOld (see
// memcachestore.Pool.CheckVersions). Errors wrap ErrInvalidOptions.
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
	l := &Locker{client: client, opts: o}
	if p, ok := client.(interface{ Meta() *mcmeta.Client }); ok {
		l.meta = p.Meta()
	}
	return l, nil
}

// lockSeconds is memcached's expiration for a lock that must live at least
// ttl: whole seconds rounded up, plus one for memcached's clock tick.
func lockSeconds(ttl time.Duration, now time.Time) int32 {
	return memcachekey.Expiration(ttl+time.Second, now)
}

// TryObtain takes the lock on key without waiting, with one `add` (on the
// meta protocol, `ms <key> ME T<ttl> c`, which also returns the lock's CAS
// value). It returns lock.ErrNotObtained when the lock is held, an error
// wrapping lock.ErrInvalidTTL when ttl is not positive, ctx.Err() when ctx
// is done, and the client's error when the server fails.
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
	exp := lockSeconds(ttl, time.Now())
	if l.meta != nil {
		r, err := l.do(ctx, "add", key, mcmeta.Request{Cmd: mcmeta.Set, Key: h.item, Value: []byte(h.token), Flags: mcmeta.Flags(nil).Token('M', "E").Int('T', int64(exp)).Flag('c')})
		switch {
		case err != nil:
			return nil, err
		case r.Status == mcmeta.HD && r.CAS != 0:
			h.cas = r.CAS
			return h, nil
		case r.Status == mcmeta.NS:
			return nil, lock.ErrNotObtained
		}
		return nil, fmt.Errorf("memcachelocker: add %q: unexpected reply %s %s", key, r.Status, r.Message)
	}
	err := l.client.Add(&memcache.Item{Key: h.item, Value: []byte(h.token), Expiration: exp})
	switch {
	case err == nil:
		return h, nil
	case errors.Is(err, memcache.ErrNotStored):
		return nil, lock.ErrNotObtained
	}
	return nil, fmt.Errorf("memcachelocker: add %q: %w", key, err)
}

// do sends one meta request and returns its reply.
func (l *Locker) do(ctx context.Context, op, key string, req mcmeta.Request) (mcmeta.Reply, error) {
	replies := make([]mcmeta.Reply, 1)
	if err := l.meta.Do(ctx, []mcmeta.Request{req}, replies); err != nil {
		switch {
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return mcmeta.Reply{}, err
		case errors.Is(err, mcmeta.ErrTooOld):
			return mcmeta.Reply{}, fmt.Errorf("memcachelocker: %s %q: %w: %w", op, key, mcmeta.ErrServerTooOld, err)
		}
		return mcmeta.Reply{}, fmt.Errorf("memcachelocker: %s %q: %w", op, key, err)
	}
	return replies[0], nil
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

	// mu serialises Extend and Release on the meta protocol, whose
	// commands name the lock by cas.
	mu sync.Mutex
	// cas is the lock item's CAS value, on the meta protocol: the add
	// returned it, and each extension returns the next.
	cas uint64
}

// Key returns the locked key.
func (h *handle) Key() string { return h.key }

// Extend resets the lock's expiry to ttl from now (rounded as for
// TryObtain). On the meta protocol it is one round trip: `ms <key>
// C<cas> T<ttl> c`, a rewrite of the same token that only the item this
// handle wrote (or last extended) matches. On the text protocol it is two:
// `gets`, then `cas` of the same token with the new expiration, which fails
// when the item changed or vanished in between. It returns lock.ErrNotHeld
// when the lock expired or was taken over, and an error wrapping
// lock.ErrInvalidTTL when ttl is not positive.
func (h *handle) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memcachelocker: %w: %v", lock.ErrInvalidTTL, ttl)
	}
	exp := lockSeconds(ttl, time.Now())
	if h.l.meta != nil {
		return h.metaSwap(ctx, "extend", mcmeta.Request{Cmd: mcmeta.Set, Key: h.item, Value: []byte(h.token), Flags: mcmeta.Flags(nil).Int('T', int64(exp)).Flag('c')})
	}
	return h.swap(ctx, "extend", exp)
}

// Release frees the lock. On the meta protocol it is one round trip: `md
// <key> C<cas>`, which deletes only the item this handle wrote (or last
// extended). On the text protocol it is two: `gets`, then `cas` of the
// same token with a negative expiration, which memcached treats as expired
// at once; the `cas` acts only on the item the `gets` saw. Either way
// Release never frees another holder's lock. It returns lock.ErrNotHeld
// when the lock was lost, or already released.
func (h *handle) Release(ctx context.Context) error {
	if h.l.meta != nil {
		return h.metaSwap(ctx, "release", mcmeta.Request{Cmd: mcmeta.Delete, Key: h.item})
	}
	return h.swap(ctx, "release", -1)
}

// metaSwap sends req, a rewrite or a delete of the lock item, on condition
// that it still has the handle's CAS value, and keeps the CAS value a
// rewrite returns.
func (h *handle) metaSwap(ctx context.Context, op string, req mcmeta.Request) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cas == 0 {
		return lock.ErrNotHeld // released, or lost
	}
	flags := req.Flags
	for attempt := 0; ; attempt++ {
		req.Flags = flags.Uint('C', h.cas)
		r, err := h.l.do(ctx, op, h.key, req)
		if err != nil {
			return err
		}
		switch r.Status {
		case mcmeta.HD:
			h.cas = r.CAS // 0 after a delete
			return nil
		case mcmeta.EX:
			// Rewritten since: by this handle, if an extension's reply
			// was lost? The token says.
			if attempt == 0 {
				if cas, ok, err := h.reread(ctx, op); err != nil || ok {
					if err != nil {
						return err
					}
					h.cas = cas
					continue
				}
			}
			h.cas = 0
			return lock.ErrNotHeld
		case mcmeta.NF, mcmeta.NS:
			h.cas = 0
			return lock.ErrNotHeld
		}
		return fmt.Errorf("memcachelocker: %s %q: unexpected reply %s %s", op, h.key, r.Status, r.Message)
	}
}

// reread returns the lock item's CAS value if it still holds the handle's
// token.
func (h *handle) reread(ctx context.Context, op string) (uint64, bool, error) {
	r, err := h.l.do(ctx, op, h.key, mcmeta.Request{Cmd: mcmeta.Get, Key: h.item, Flags: mcmeta.Flags(nil).Flag('v').Flag('c')})
	if err != nil {
		return 0, false, err
	}
	if r.Status == mcmeta.VA && string(r.Value) == h.token && r.CAS != 0 {
		return r.CAS, true, nil
	}
	return 0, false, nil
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
