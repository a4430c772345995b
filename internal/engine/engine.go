package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/breaker"
	"github.com/corralcache/corral/internal/flight"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/internal/keyspace"
	"github.com/corralcache/corral/internal/near"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/serializer"
)

// Config is a region's configuration, resolved: every default filled in
// and checked by package region, which documents each field.
type Config struct {
	Name    string
	Backend backend.Backend
	Codec   *serializer.Codec
	// CompressAbove is the region's, for its log lines.
	CompressAbove int
	Namespace     string
	KeyMangler    func(string) string
	// Locker is the dogpile lock of a backend that does not lease (see
	// backend.Leaser). Nil on a backend that leases: the lease is the lock.
	Locker                 lock.Locker
	LockTTL, LockWait      time.Duration
	Registry               keyreg.Registry
	BlockOnStale           bool
	BackgroundRegeneration bool
	EarlyRefresh           EarlyRefresh
	ShouldCache            func(key string, value any) bool
	FailClosed             bool
	// Breaker guards a backend that stores bytes, LockerBreaker a
	// distributed Locker; nil: none.
	Breaker, LockerBreaker *breaker.Breaker
	InvalidationRefresh    time.Duration
	NearMaxEntries         int
	NearMaxStaleness       time.Duration
	// Clock is the region's clock; nil: the coarse system clock, which
	// the engine starts and stops.
	Clock    interface{ Now() time.Time }
	Logger   *slog.Logger
	Observer observe.Observer
	Tracer   observe.Tracer
	// Expiration, NegativeExpiration and Grace are the region's.
	Expiration, NegativeExpiration, Grace time.Duration
	// Owned is closed by Close: the default backend, made by the region.
	Owned io.Closer
}

// DefaultMinGrace is the least hard-TTL margin over a soft expiration.
const DefaultMinGrace = time.Minute

// DefaultNearMaxStaleness bounds a near copy on a backend without push.
const DefaultNearMaxStaleness = 100 * time.Millisecond

// Engine is a region's engine: every mechanism of the consistency table,
// composed (see doc.go). It is safe for concurrent use.
type Engine struct {
	cfg   Config
	name  string
	codec *serializer.Codec
	tier  tier

	// local is the in-process lock a creation falls back on when the
	// distributed one is unreachable or the backend failed in its call.
	local *lock.Local
	// skipErr is returned by calls that skip the backend (breaker open),
	// gensErr by those that skip it because the generations are
	// unreadable; both made once, so skipping allocates nothing.
	skipErr, gensErr error
	tooLarge         tooLargeLog

	ob        *observer
	traceHits bool

	sys   *coarseClock // the default clock, else nil
	stats Counters

	gens      gens.Set
	epochs    flight.Epochs
	creations flight.Creations
	reads     flight.Reads[fetched]
	near      *near.Cache // nil without one
	nearWatch nearWatch

	// base is cancelled by Close; every goroutine the engine starts
	// derives its context from it and is counted in wg.
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	mu     sync.Mutex // serialises starting owned goroutines with Close

	unwatch []func() // cancels the breakers' watches
}

// New returns the engine of c. Errors wrap ErrInvalidConfig.
func New(c Config) (*Engine, error) {
	e := &Engine{cfg: c, name: c.Name, codec: c.Codec}
	if c.Clock == nil {
		e.sys = startCoarseClock(ClockResolution)
		e.cfg.Clock = e.sys
	}
	e.tier = newTier(e)
	e.skipErr = fmt.Errorf("%w: region %q: %w", ErrBackend, c.Name, ErrBreakerOpen)
	e.gensErr = fmt.Errorf("%w: region %q: invalidation generations unreadable lately: %w", ErrBackend, c.Name, ErrBreakerOpen)
	if l, ok := c.Locker.(*lock.Local); ok {
		e.local = l
	} else {
		e.local = lock.NewLocal()
	}
	if _, bytes := e.tier.(*byteTier); !bytes {
		e.cfg.Breaker = nil // an in-process store does not fail
	}
	if err := e.observe(); err != nil {
		e.stopClock()
		return nil, err
	}
	e.base, e.cancel = context.WithCancel(context.Background())
	if err := e.startNear(); err != nil {
		e.cancel()
		e.unwatchBreakers()
		e.stopClock()
		return nil, err
	}
	return e, nil
}

// Close stops the engine's goroutines and waits for them. Later calls
// return ErrClosed.
func (e *Engine) Close() error {
	e.mu.Lock()
	already := e.closed.Swap(true)
	e.mu.Unlock()
	if already {
		return nil
	}
	e.cancel()
	e.wg.Wait()
	e.stopNear()
	e.unwatchBreakers()
	e.stopClock()
	if e.cfg.Owned != nil {
		return e.cfg.Owned.Close()
	}
	return nil
}

func (e *Engine) stopClock() {
	if e.sys != nil {
		e.sys.Stop()
	}
}

func (e *Engine) unwatchBreakers() {
	for _, f := range e.unwatch {
		f()
	}
	e.unwatch = nil
}

// Usable returns ErrClosed after Close, ErrNilContext for a nil ctx, and
// nil otherwise. Every public entry point checks it first.
func (e *Engine) Usable(ctx context.Context) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if ctx == nil {
		return ErrNilContext
	}
	return nil
}

// Name is the region's name.
func (e *Engine) Name() string { return e.name }

// Config returns the resolved configuration.
func (e *Engine) Config() *Config { return &e.cfg }

// Now returns the region clock's time in Unix nanoseconds.
func (e *Engine) Now() int64 {
	if e.sys != nil {
		return e.sys.nowNano()
	}
	return e.cfg.Clock.Now().UnixNano()
}

// mangle applies Config.KeyMangler to a full key of the layout.
func (e *Engine) mangle(k string) string {
	if e.cfg.KeyMangler != nil {
		k = e.cfg.KeyMangler(k)
	}
	return k
}

// BackendKey is the key the backend sees for key's value.
func (e *Engine) BackendKey(key string) string {
	return e.mangle(keyspace.Value(e.cfg.Namespace, key))
}

// LockKey is the key locked while key is created.
func (e *Engine) LockKey(key string) string {
	return e.mangle(keyspace.Lock(e.cfg.Namespace, key))
}

// markKey is the backend key of a region-wide generation.
func (e *Engine) markKey(soft bool) string {
	return e.mangle(keyspace.Mark(e.cfg.Namespace, soft))
}

// Func returns the generation of the cached function called name.
func (e *Engine) Func(name string) *gens.Func {
	return e.gens.Func(e.mangle(keyspace.FuncGen(e.cfg.Namespace, name)))
}

// hardTTL is the backend TTL of an entry whose soft expiration is exp.
func (e *Engine) hardTTL(exp time.Duration) time.Duration {
	if exp <= 0 {
		return 0
	}
	grace := e.cfg.Grace
	if grace == 0 {
		grace = max(exp, DefaultMinGrace)
	}
	return exp + grace
}

// leaseTTL is how long a placeholder lease on a missing key lives: long
// enough for any creation the lock keeps alive for a while; a creation
// slower than that stores nothing, which is safe.
func (e *Engine) leaseTTL() time.Duration {
	return max(10*e.cfg.LockTTL, time.Minute)
}

// detach returns a context with ctx's values that is cancelled only when
// the engine closes.
func (e *Engine) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(e.base, cancel)
	return c, func() { stop(); cancel() }
}

// goOwned runs fn in a goroutine that Close waits for. It reports false,
// without running fn, when the engine is closed.
func (e *Engine) goOwned(ctx context.Context, fn func(context.Context)) bool {
	e.mu.Lock()
	if e.closed.Load() {
		e.mu.Unlock()
		return false
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		c, cancel := e.detach(ctx)
		defer cancel()
		fn(c)
	}()
	return true
}

// Closed reports whether Close was called.
func (e *Engine) Closed() bool { return e.closed.Load() }

// Codec returns the region's codec.
func (e *Engine) Codec() *serializer.Codec { return e.codec }
