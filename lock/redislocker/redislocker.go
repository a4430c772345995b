package redislocker

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/internal/redisdeadline"
	"github.com/corralcache/corral/lock"
)

// ErrInvalidOptions is returned (wrapped) by [New] when its arguments cannot
// be used.
var ErrInvalidOptions = errors.New("redislocker: invalid options")

// Defaults applied by New to zero fields of Options.
const (
	DefaultMinBackoff = 10 * time.Millisecond
	DefaultMaxBackoff = 500 * time.Millisecond
)

// Options configures a [Locker]. The zero value is ready to use.
type Options struct {
	// MinBackoff is Obtain's first wait between two attempts. Default:
	// DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps Obtain's wait between two attempts, which doubles
	// from MinBackoff. Default: DefaultMaxBackoff. Each wait is drawn at
	// random from its upper half, so that waiters spread out.
	MaxBackoff time.Duration
	// Timeout bounds each attempt to take a lock (dial and client retries
	// included; an extension or a release is not bounded, so that a slow
	// one may still be resent and no lock is left behind for its TTL);
	// a context that ends sooner bounds it instead. Default: the client's
	// ReadTimeout when the client is a *redis.Client or *redis.ClusterClient
	// that retries failed commands — so a command whose reply timed out is
	// not sent again and an unreachable Redis costs one read timeout per
	// command, not two. Negative: no bound beyond ctx and the client's own
	// timeouts.
	Timeout time.Duration
}

// Locker hands out locks held in Redis. It is safe for concurrent use.
type Locker struct {
	client   *redislock.Client
	scripter redis.Scripter // for releasing an attempt whose outcome is unknown
	min, max time.Duration
	timeout  time.Duration // bounds each command; zero: no bound
}

var _ lock.Locker = (*Locker)(nil)

// New returns a Locker whose locks live in the Redis server (or Cluster)
// behind client; any go-redis client will do (redis.UniversalClient
// satisfies redis.Scripter). The caller keeps ownership of client. It
// returns an error wrapping ErrInvalidOptions when client is nil or the
// backoff bounds are negative or reversed.
func New(client redis.Scripter, o Options) (*Locker, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: client is nil", ErrInvalidOptions)
	}
	if o.MinBackoff < 0 || o.MaxBackoff < 0 {
		return nil, fmt.Errorf("%w: negative backoff (%v, %v)", ErrInvalidOptions, o.MinBackoff, o.MaxBackoff)
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("%w: MaxBackoff %v is below MinBackoff %v", ErrInvalidOptions, o.MaxBackoff, o.MinBackoff)
	}
	return &Locker{client: redislock.New(client), scripter: client, min: o.MinBackoff, max: o.MaxBackoff,
		timeout: redisdeadline.Resolve(o.Timeout, client)}, nil
}

// TryObtain takes the lock on key with one attempt; the lock expires after
// ttl unless extended. It returns lock.ErrNotObtained when another holder
// has it, an error wrapping lock.ErrInvalidTTL when ttl is not positive,
// ctx.Err() when ctx is done, and other Redis errors wrapped.
func (l *Locker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	return l.attempt(ctx, key, ttl)
}

// Obtain waits until the lock on key is free and takes it; the lock expires
// after ttl unless extended. Between attempts it waits with a jittered
// exponential backoff bounded by Options.MaxBackoff. It returns ctx.Err()
// when ctx is done first, an error wrapping lock.ErrInvalidTTL when ttl is
// not positive, and other Redis errors wrapped (it does not retry those).
func (l *Locker) Obtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	return lock.Poll(ctx, lock.Backoff{Min: l.min, Max: l.max}, func(ctx context.Context) (lock.Lock, error) {
		return l.attempt(ctx, key, ttl)
	})
}

// attempt makes one attempt to take the lock.
func (l *Locker) attempt(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	token, err := newToken()
	if err != nil {
		return nil, fmt.Errorf("redislocker: obtain %q: %w", key, err)
	}
	octx, cancel := redisdeadline.Bound(ctx, l.timeout)
	defer cancel()
	rl, err := l.client.Obtain(octx, key, max(ttl, time.Millisecond), &redislock.Options{Token: token}) // no retry strategy: one attempt
	switch {
	case err == nil:
		return &Lock{l: rl}, nil
	case errors.Is(err, redislock.ErrNotObtained):
		return nil, lock.ErrNotObtained
	}
	// The attempt failed without an answer (a timeout, a reset, the
	// caller giving up): the server may still have taken the lock for us,
	// and nobody would release it before its TTL, while every other
	// creator of the key waits. Release it by its token once the server
	// answers again, in the background.
	go l.releaseOrphan(key, token)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("redislocker: obtain %q: %w", key, err)
}

//go:embed release.lua
var releaseLua string

// releaseScript is release.lua: it deletes the lock key only while it holds
// our token.
var releaseScript = redis.NewScript(releaseLua)

// orphanRelease bounds the release of a lock an attempt may have taken
// without hearing so: long enough for a slow server, short enough that no
// goroutine lingers.
const orphanRelease = 5 * time.Second

// releaseOrphan releases the lock on key if it holds token. Its failure
// leaves the lock to expire by its TTL, as before.
func (l *Locker) releaseOrphan(key, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), orphanRelease)
	defer cancel()
	_ = releaseScript.Run(ctx, l.scripter, []string{key}, token).Err()
}

// newToken returns a random lock token.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// checkTTL rejects lock TTLs that are not positive. Positive TTLs below a
// millisecond (Redis's unit) are rounded up by the client.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redislocker: %w: %v", lock.ErrInvalidTTL, ttl)
	}
	return nil
}

// Lock is a lock held in Redis. Its methods are safe to call from any
// goroutine.
type Lock struct {
	l *redislock.Lock
}

var _ lock.Lock = (*Lock)(nil)

// Key returns the locked key.
func (k *Lock) Key() string { return k.l.Key() }

// Extend resets the lock's expiry to ttl from now. It returns
// lock.ErrNotHeld when the lock expired or was taken over, an error wrapping
// lock.ErrInvalidTTL when ttl is not positive, and other Redis errors
// wrapped.
func (k *Lock) Extend(ctx context.Context, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	err := k.l.Refresh(ctx, max(ttl, time.Millisecond), nil)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redislock.ErrNotObtained):
		return lock.ErrNotHeld
	}
	return fmt.Errorf("redislocker: extend %q: %w", k.l.Key(), err)
}

// Release frees the lock. It returns lock.ErrNotHeld when the lock expired,
// was taken over or was already released, and other Redis errors wrapped.
func (k *Lock) Release(ctx context.Context) error {
	err := k.l.Release(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redislock.ErrLockNotHeld):
		return lock.ErrNotHeld
	}
	return fmt.Errorf("redislocker: release %q: %w", k.l.Key(), err)
}
