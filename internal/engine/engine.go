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

	holders holders // the tokens of its leases

	// work hands jobs to idle workers (see goOwned).
	work chan job

	// marks are the backend keys of the region-wide generations, hard and
	// soft: the keys a creation's lease reads (see stampKeys).
	marks [2]string
}

// New returns the engine of c. Errors wrap ErrInvalidConfig.
func New(c Config) (*Engine, error) {
	e := &Engine{cfg: c, name: c.Name, codec: c.Codec, work: make(chan job)}
	if c.Clock == nil {
		e.sys = startCoarseClock(ClockResolution)
		e.cfg.Clock = e.sys
	}
	e.tier = newTier(e)
	e.holders.prefix = holderPrefix()
	e.marks = [2]string{e.mangle(keyspace.Mark(c.Namespace, false)), e.mangle(keyspace.Mark(c.Namespace, true))}
	e.skipErr = fmt.Errorf("%w: region %q: %w", ErrBackend, c.Name, ErrBreakerOpen)
	e.gensErr = fmt.Errorf("%w: region %q: invalidation generations unreadable lately: %w", ErrBackend, c.Name, ErrBreakerOpen)
	if l, ok := lock.LocalOf(c.Locker); ok {
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
	if soft {
		return e.marks[1]
	}
	return e.marks[0]
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
func (e *Engine) detach(ctx context.Context) context.Context {
	return detached{base: e.base, values: ctx}
}

// detached is a context with the values of values, done when base is.
// base is a context.WithCancel of context.Background, which answers Value
// only for the context package's own key — with itself, so that a context
// derived from a detached one is cancelled with base directly (no
// goroutine) and never with values.
type detached struct{ base, values context.Context }

func (d detached) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d detached) Done() <-chan struct{}       { return d.base.Done() }
func (d detached) Err() error                  { return d.base.Err() }
func (d detached) Value(key any) any {
	if v := d.base.Value(key); v != nil {
		return v
	}
	return d.values.Value(key)
}

// goOwned runs fn in a goroutine that Close waits for: an idle worker, or
// a new one. It reports false, without running fn, when the engine is
// closed.
//
// Workers outlive their job for a while (workerIdle) so that the next job
// finds a goroutine whose stack has grown already: a creation runs deep
// client code, and a new goroutine would grow its stack, copying it, on
// every cold miss.
func (e *Engine) goOwned(ctx context.Context, fn func(context.Context)) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return false
	}
	j := job{ctx: ctx, fn: fn}
	select {
	case e.work <- j:
	default:
		e.wg.Add(1)
		go e.worker(j)
	}
	return true
}

// runOwned is goOwned for a caller that waits for fn to end: when ctx can
// never be cancelled, fn runs on the caller's goroutine — nothing could
// make the caller return sooner, and a hand-off to another goroutine and
// back costs two wake-ups.
func (e *Engine) runOwned(ctx context.Context, fn func(context.Context)) bool {
	if ctx.Done() != nil {
		return e.goOwned(ctx, fn)
	}
	e.mu.Lock()
	if e.closed.Load() {
		e.mu.Unlock()
		return false
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()
	fn(e.detach(ctx))
	return true
}

// job is a function goOwned runs with a detached ctx.
type job struct {
	ctx context.Context
	fn  func(context.Context)
}

// workerIdle is how long a worker waits for its next job.
const workerIdle = 2 * time.Second

// worker runs j, then the jobs handed to it, until it has waited
// workerIdle for one or the engine closes.
func (e *Engine) worker(j job) {
	defer e.wg.Done()
	var idle *time.Timer
	for {
		j.fn(e.detach(j.ctx))
		j = job{}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
			defer idle.Stop()
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case j = <-e.work:
		case <-idle.C:
			return
		case <-e.base.Done():
			return
		}
	}
}

// Closed reports whether Close was called.
func (e *Engine) Closed() bool { return e.closed.Load() }

// Codec returns the region's codec.
func (e *Engine) Codec() *serializer.Codec { return e.codec }
