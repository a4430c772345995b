package region

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/internal/engine"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/serializer"
)

// StalePolicy says what a caller gets when the entry it reads has expired and
// another caller is regenerating it.
type StalePolicy int

const (
	// ServeStale returns the stale value at once while one caller
	// regenerates. It is the default.
	ServeStale StalePolicy = iota
	// BlockOnStale treats a stale entry as missing: callers wait for the
	// regenerated value and never see a stale one.
	BlockOnStale
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultLockTTL             = 30 * time.Second
	DefaultLockWait            = 30 * time.Second
	DefaultMinGrace            = time.Minute
	DefaultInvalidationRefresh = time.Second
)

// Lower bounds of Config's durations: a region extends its lock every third
// of LockTTL and waits for others by LockWait, so shorter values would turn
// into busy loops (or panics in time.NewTicker) rather than locks.
const (
	MinLockTTL  = 10 * time.Millisecond
	MinLockWait = time.Millisecond
)

// Config configures a region. The zero Config is a working in-memory region
// whose entries never go stale.
type Config struct {
	// Backend stores the entries. Default: an in-process memory backend of
	// memory.DefaultMaxEntries entries that keeps decoded values, owned by
	// the region and closed by Close.
	Backend backend.Backend
	// Serializer encodes values for backends that store bytes. Default:
	// msgpack.
	Serializer serializer.Serializer
	// CompressAbove compresses encoded payloads larger than this many bytes.
	// Zero disables compression.
	CompressAbove int
	// Keyring, when set, encrypts every value the region stores as bytes
	// (Redis, memcached, a memory backend with Serialize) with its current
	// key, after compression, and binds it to its key (namespace and key,
	// as laid out before KeyMangler): an entry
	// that is tampered with, copied to another key, or sealed with a key the
	// keyring lacks is a miss, counted in Stats.DecodeErrors. Entries
	// stored without encryption are misses too. A backend that keeps
	// decoded values (the default in-memory one) stores no bytes, so there
	// is nothing to encrypt: the Keyring is not used there. See
	// HashKeys for the key names.
	Keyring *serializer.Keyring
	// Expiration is the soft expiration of entries written without a
	// per-call expiration. Zero: entries never go stale.
	Expiration time.Duration
	// NegativeExpiration is the soft expiration of cached "not found"
	// answers: a creator's error wrapping ErrNotFound is cached for this
	// long (plus Grace, as for values) and answered to later callers
	// without calling the creator. Zero, the default, caches no such
	// answer: the creator's error is returned as it is. Usually shorter
	// than Expiration. Negative is invalid.
	NegativeExpiration time.Duration
	// Grace is added to an entry's soft expiration to give the backend's hard
	// TTL, so that a stale value still exists while it is regenerated. Zero
	// means the default: the soft expiration itself, and at least
	// DefaultMinGrace. Negative is invalid. Choose it longer than a
	// regeneration takes (LockWait at least), or callers find the key gone
	// and wait instead of being served the stale value; and as long as a
	// stale value may be served when regeneration keeps failing, since a
	// stale value is served until the hard TTL removes it.
	Grace time.Duration
	// Namespace keeps the keys of regions that share a backend apart.
	// Default: the region's name. It is length-prefixed in every key the
	// region builds (see the key layout in the package documentation), so no
	// namespace can extend another, whatever bytes either holds. Within one
	// process, New refuses a second open region with the same namespace on
	// the same backend.
	Namespace string
	// KeyMangler, when set, transforms every full key (namespace, kind and
	// layout included) before it reaches the backend or the locker, e.g. to
	// hash long keys. It must be deterministic and injective, or keys of
	// different kinds may meet.
	KeyMangler func(string) string

	// Locker provides the dogpile lock of a backend that cannot lease.
	// A backend that leases (backend.Leaser: redisstore, memcachestore)
	// keeps the lock beside the value and takes it with the lease, in one
	// round trip: leave Locker nil there (a Locker given anyway is used,
	// at the cost of the round trips of a separate lock). Default: none
	// on a backend that leases; an in-process lock on a backend that only
	// this process uses; a backend shared between processes that cannot
	// lease (see backend.Shared) has no default, so give it a distributed
	// one (diskstore's, redislocker, memcachelocker) to keep the herd of
	// several processes off the creator, or lock.NewLocal() on purpose.
	Locker lock.Locker
	// LockTTL is how long a lock lives unless extended. The region extends it
	// every LockTTL/3 while the creator runs, so a slow creator keeps it;
	// the TTL only matters when the holder dies or is cut off, as the time
	// before another process may create the key. Choose it a few times the
	// longest pause of a healthy process (GC, a slow network round trip)
	// and short enough that a crashed holder does not stall the key for
	// long: seconds, not minutes. Default: DefaultLockTTL; at least
	// MinLockTTL.
	LockTTL time.Duration
	// LockWait bounds how long a caller with no value to serve waits for
	// another caller's creation, whether that caller is in this process (a
	// shared flight) or in another (the lock); it then gets ErrLockTimeout
	// and the creation goes on for the others. Choose it above the creator's
	// usual duration (a p99), and below the caller's own deadline, so a
	// stuck creator turns into errors rather than piled-up requests; callers
	// with a stale value to serve never wait. Default: DefaultLockWait; at
	// least MinLockWait.
	LockWait time.Duration

	// Registry records the keys of cached functions. Default: an in-process
	// registry of keyreg.MemoryOptions' default size, on a backend that only
	// this process uses; a backend shared between processes has no default
	// (give it redisreg, memcachereg or diskstore's, or keyreg.NewMemory on
	// purpose).
	// Invalidation never depends on the registry's records: a cached
	// function's InvalidateAll raises its generation, shared through the
	// backend, and reaches every result whatever the registry kept.
	Registry keyreg.Registry

	// Stale chooses between serving stale values (the default) and blocking.
	Stale StalePolicy
	// BackgroundRegeneration makes the caller that wins the lock of a stale
	// entry return the stale value too, while the region regenerates it in a
	// goroutine it owns. Close stops and waits for such goroutines.
	BackgroundRegeneration bool
	// EarlyRefresh, when enabled, lets a GetOrCreate (or a cached function's
	// Call) that reads a fresh value start its regeneration before it
	// expires, with a probability that rises as expiry nears (XFetch). Off
	// by default.
	EarlyRefresh EarlyRefresh
	// ShouldCache, when set, is asked before a created value is stored; a
	// value it rejects is returned to the caller but not stored. A panic in
	// it is recovered: the value is returned but not stored, and the panic
	// logged. WithShouldCache adds a predicate of one call (or of one
	// cached function); a value is stored when both accept it.
	ShouldCache func(key string, value any) bool
	// FailClosed returns backend read errors to callers instead of falling
	// through to the creator.
	FailClosed bool
	// BreakerThreshold is how many consecutive backend failures open the
	// circuit breaker of a backend that stores bytes: while it is open,
	// calls skip the backend without touching the network (see
	// ErrBreakerOpen); as many failed attempts of a distributed locker
	// open the locker's own breaker (see Stats.LockerBreakerState).
	// Default: DefaultBreakerThreshold; negative: no breakers. It sets the
	// breakers the region makes for itself; see Breaker for sharing one.
	BreakerThreshold int
	// BreakerCooldown is how long an open breaker waits before it probes
	// the backend, from a goroutine of the region's while callers keep
	// skipping it; the probe's success closes it, its failure starts
	// another cooldown. The distributed locker's breaker uses the same
	// threshold and cooldown. Default: DefaultBreakerCooldown. Negative is
	// invalid.
	BreakerCooldown time.Duration
	// Breaker is the backend's circuit breaker, when regions share one:
	// regions given the same Breaker open and close together (they see
	// one server, so one set of failures; config.Open shares one per
	// URL). Nil: the region makes its own from BreakerThreshold and
	// BreakerCooldown. LockerBreaker is the distributed Locker's, alike.
	// Ignored when BreakerThreshold is negative.
	Breaker, LockerBreaker *Breaker
	// InvalidationRefresh is how stale a process's view of region-wide
	// invalidation may be on a backend that stores bytes (shared between
	// processes): the generations are read again at most this often, as
	// Clock measures time (a clock stepped back makes them due at once).
	// Default:
	// DefaultInvalidationRefresh. In-process backends see invalidation at once.
	InvalidationRefresh time.Duration

	// Near configures a near cache of decoded values in this process, in
	// front of a backend that stores bytes; the zero value has none. See
	// NearConfig.
	Near NearConfig

	// Clock tells the time. Default: the system clock, read once per
	// ClockResolution by a goroutine that Close stops.
	Clock Clock
	// Logger receives backend, decode and lock errors, at Warn level.
	// Default: slog.Default().
	Logger *slog.Logger

	// Observer, when set, is told of every count of Stats as it happens,
	// of the durations of creator runs, lock waits and backend operations,
	// and of the breaker's transitions, for metrics (see observe.Observer).
	// One that is an observe.ContextObserver is given each call's context
	// too, for exemplars. Unset, it costs nothing.
	Observer observe.Observer
	// Tracer, when set, starts a span for each call that missed
	// (GetOrCreate, GetOrCreateMulti, a cached or batch function's Call)
	// and each Refresh, with the lock wait and the creator as child spans
	// (see observe.Tracer).
	Tracer observe.Tracer
}

// withDefaults returns c with zero fields filled in, or an error wrapping
// ErrInvalidConfig.
func (c Config) withDefaults(name string) (Config, error) {
	invalid := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: region %q: %s", ErrInvalidConfig, name, fmt.Sprintf(format, args...))
	}
	switch {
	case name == "":
		return invalid("name is empty")
	case c.Expiration < 0:
		return invalid("Expiration %v is negative", c.Expiration)
	case c.NegativeExpiration < 0:
		return invalid("NegativeExpiration %v is negative", c.NegativeExpiration)
	case c.Grace < 0:
		return invalid("Grace %v is negative", c.Grace)
	case c.LockTTL < 0:
		return invalid("LockTTL %v is negative", c.LockTTL)
	case c.LockTTL > 0 && c.LockTTL < MinLockTTL:
		return invalid("LockTTL %v is under MinLockTTL (%v)", c.LockTTL, MinLockTTL)
	case c.LockWait < 0:
		return invalid("LockWait %v is negative", c.LockWait)
	case c.LockWait > 0 && c.LockWait < MinLockWait:
		return invalid("LockWait %v is under MinLockWait (%v)", c.LockWait, MinLockWait)
	case c.InvalidationRefresh < 0:
		return invalid("InvalidationRefresh %v is negative", c.InvalidationRefresh)
	case c.BreakerCooldown < 0:
		return invalid("BreakerCooldown %v is negative", c.BreakerCooldown)
	case c.CompressAbove < 0:
		return invalid("CompressAbove %d is negative", c.CompressAbove)
	case c.Stale != ServeStale && c.Stale != BlockOnStale:
		return invalid("unknown StalePolicy %d", c.Stale)
	case c.Stale == BlockOnStale && c.BackgroundRegeneration:
		return invalid("BackgroundRegeneration serves stale values, which BlockOnStale forbids")
	case c.Logger != nil && c.Logger.Handler() == nil:
		return invalid("Logger has no handler")
	}
	if err := c.EarlyRefresh.check(); err != nil {
		return invalid("%v", err)
	}
	for _, d := range []struct {
		field string
		value any
	}{
		{"Backend", c.Backend}, {"Serializer", c.Serializer}, {"Locker", c.Locker},
		{"Registry", c.Registry}, {"Clock", c.Clock},
		{"Observer", c.Observer}, {"Tracer", c.Tracer},
	} {
		if isTypedNil(d.value) {
			return invalid("%s is a nil %T (was a constructor's error ignored?)", d.field, d.value)
		}
	}
	if err := backend.CheckWrapped(c.Backend); err != nil {
		return c, fmt.Errorf("%w: region %q: Backend: %w", ErrInvalidConfig, name, err)
	}
	if sh, ok := backend.As[backend.Shared](c.Backend); ok && sh.SharedBetweenProcesses() {
		switch {
		case c.Locker == nil && !leases(c.Backend):
			return invalid("the Backend is shared between processes but no Locker is set: set a shared one (diskstore.Store.Locker, redislocker, memcachelocker) to keep every process off a creation in progress, or lock.NewLocal() to lock within this process only")
		case c.Registry == nil:
			return invalid("the Backend is shared between processes but no Registry is set: set a shared one (redisreg, memcachereg, diskstore.Store.Registry) so that every process lists and invalidates the keys of cached functions, or keyreg.NewMemory to keep the records in this process")
		}
	}
	if c.Backend == nil {
		mem, err := memory.New(memory.Options{})
		if err != nil {
			return invalid("default backend: %v", err)
		}
		c.Backend = mem
	}
	if c.Serializer == nil {
		c.Serializer = serializer.NewMsgPack()
	}
	if c.Namespace == "" {
		c.Namespace = name
	}
	if c.Locker == nil && !leases(c.Backend) {
		c.Locker = lock.NewLocal()
	}
	if c.LockTTL == 0 {
		c.LockTTL = DefaultLockTTL
	}
	if c.LockWait == 0 {
		c.LockWait = DefaultLockWait
	}
	if c.InvalidationRefresh == 0 {
		c.InvalidationRefresh = DefaultInvalidationRefresh
	}
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = DefaultBreakerThreshold
	}
	if c.BreakerCooldown == 0 {
		c.BreakerCooldown = DefaultBreakerCooldown
	}
	if c.Registry == nil {
		reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
		if err != nil {
			return invalid("default registry: %v", err)
		}
		c.Registry = reg
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.EarlyRefresh = c.EarlyRefresh.withDefaults()
	return c, nil
}

// leases reports whether be takes the dogpile lock with the lease (see
// backend.Leaser).
func leases(be backend.Backend) bool {
	_, ok := backend.As[backend.Leaser](be)
	return ok
}

// isTypedNil reports whether v is an interface holding a nil pointer, map,
// slice, func or channel: a value that passes a nil check and panics on
// first use, such as the nil *Store a constructor returns with its error.
func isTypedNil(v any) bool { return engine.IsTypedNil(v) }

// engineConfig is c, with defaults, as the engine takes it.
func (c *Config) engineConfig(name string, codec *serializer.Codec, owned io.Closer) engine.Config {
	ec := engine.Config{
		Name: name, Backend: c.Backend, Codec: codec, CompressAbove: c.CompressAbove,
		Namespace: c.Namespace, KeyMangler: c.KeyMangler, Locker: c.Locker,
		LockTTL: c.LockTTL, LockWait: c.LockWait, Registry: c.Registry,
		BlockOnStale: c.Stale == BlockOnStale, BackgroundRegeneration: c.BackgroundRegeneration,
		EarlyRefresh: engine.EarlyRefresh{Enabled: c.EarlyRefresh.Enabled, Beta: c.EarlyRefresh.Beta, Rand: c.EarlyRefresh.Rand},
		ShouldCache:  c.ShouldCache, FailClosed: c.FailClosed,
		InvalidationRefresh: c.InvalidationRefresh,
		NearMaxEntries:      c.Near.MaxEntries, NearMaxStaleness: c.Near.MaxStaleness,
		Logger: c.Logger, Observer: c.Observer, Tracer: c.Tracer,
		Expiration: c.Expiration, NegativeExpiration: c.NegativeExpiration, Grace: c.Grace,
		Owned: owned,
	}
	if c.Clock != nil {
		ec.Clock = c.Clock
	}
	if c.BreakerThreshold >= 0 {
		ec.Breaker = c.Breaker.orNew(c.BreakerThreshold, c.BreakerCooldown)
		if _, local := lock.LocalOf(c.Locker); c.Locker != nil && !local {
			ec.LockerBreaker = c.LockerBreaker.orNew(c.BreakerThreshold, c.BreakerCooldown)
		}
	}
	return ec
}
