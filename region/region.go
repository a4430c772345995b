package region

import (
	"context"
	"errors"
	"fmt"
	"github.com/corralcache/corral/observe"
	"io"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/serializer"
)

// Region is a named cache region. It is safe for concurrent use; create it
// once with New at application setup and share it.
type Region struct {
	name   string
	cfg    Config
	codec  *serializer.Codec
	values backend.ValueStore // set when the backend keeps decoded values
	// grouper and grouped are set when the backend records a cached
	// function's keys in the registry's group in the same round trip as
	// their values.
	grouper backend.Grouper
	grouped keyreg.Grouped
	// direct is true when a lookup in values needs no key building: the
	// namespace and key go to the store as they are.
	direct bool

	// brk is the backend's circuit breaker (see breaker.go), nil on a
	// backend that keeps values; brkRef is the region's hold on it.
	brk    *breaker
	brkRef *breakerRef
	// lbrk is the distributed locker's breaker (see lockbreaker.go), nil
	// for an in-process locker; lbrkRef is the region's hold on it.
	lbrk    *breaker
	lbrkRef *breakerRef
	// skipErr is returned by calls that skip the backend (breaker open),
	// gensErr by those that skip it because the generations are unreadable;
	// both made once, so skipping allocates nothing.
	skipErr, gensErr error
	// local is the in-process lock a creation falls back on when the
	// distributed one is unreachable or the backend failed in its call.
	local *lock.Local
	// tooLarge remembers keys whose values were too large to store, so each
	// is logged once (see toolarge.go).
	tooLarge tooLargeLog

	// ob links the region to Config.Observer (ob.o nil without one) and
	// logs panics of the observer and tracer; traceHits is the Tracer's
	// TracesHits (see observe.go).
	ob        *observer
	traceHits bool

	sys   *coarseClock // cfg.Clock when it is the default clock, else nil
	owned io.Closer    // the default backend, which Close closes
	stats counters
	gens  gens
	fgens sync.Map // generations of the cached functions: scope → *funcGen
	// epochs count this process's completed writes, so no read joins work
	// issued before one (see epochs.go).
	epochs epochs
	// near is the near cache (see near.go), nil without one.
	near *near

	// base is cancelled by Close; every goroutine the region starts derives
	// its context from it and is counted in wg.
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	fmu   sync.Mutex          // protects funcs
	funcs map[string]struct{} // names of the region's cached functions

	mu      sync.Mutex // serialises starting owned goroutines with Close
	flights sync.Map   // creations in progress in this process: key → *flight
	reads   sync.Map   // first reads in progress on a byte backend: key → *readFlight
}

// New returns the region called name, configured by c. Zero fields of c take
// their documented defaults. An unusable configuration gives an error
// wrapping ErrInvalidConfig.
func New(name string, c Config) (*Region, error) {
	defaultBackend := c.Backend == nil
	c, err := c.withDefaults(name)
	if err != nil {
		return nil, err
	}
	codec, err := serializer.NewCodec(c.Serializer, serializer.CodecOptions{CompressAbove: c.CompressAbove, Keyring: c.Keyring})
	if err != nil {
		return nil, fmt.Errorf("%w: region %q: %w", ErrInvalidConfig, name, err)
	}
	r := &Region{name: name, cfg: c, codec: codec}
	r.sys, _ = c.Clock.(*coarseClock)
	if defaultBackend {
		r.owned, _ = c.Backend.(io.Closer)
	}
	if vs, ok := c.Backend.(backend.ValueStore); ok && vs.KeepsValues() {
		r.values = vs
		r.direct = c.KeyMangler == nil
	} else if g, ok := c.Registry.(keyreg.Grouped); ok {
		r.grouper, _ = c.Backend.(backend.Grouper)
		if _, cg := c.Backend.(backend.ConditionalGrouper); cg || r.grouper != nil {
			r.grouped = g
		}
	}
	r.skipErr = fmt.Errorf("%w: region %q: %w", ErrBackend, name, ErrBreakerOpen)
	r.gensErr = fmt.Errorf("%w: region %q: invalidation generations unreadable lately: %w", ErrBackend, name, ErrBreakerOpen)
	if l, ok := c.Locker.(*lock.Local); ok {
		r.local = l
	} else {
		r.local = lock.NewLocal()
	}
	r.useBreaker()
	r.useLockerBreaker()
	if err := r.observe(); err != nil {
		if r.brkRef != nil {
			r.brkRef.release()
		}
		if r.lbrkRef != nil {
			r.lbrkRef.release()
		}
		return nil, err
	}
	r.base, r.cancel = context.WithCancel(context.Background())
	if r.near, err = newNear(r, c.Near); err != nil {
		r.cancel()
		if r.brkRef != nil {
			r.brkRef.release()
		}
		return nil, err
	}
	return r, nil
}

// Name returns the region's name.
func (r *Region) Name() string { return r.name }

// Stats returns the region's counters.
func (r *Region) Stats() Stats {
	s := r.stats.snapshot()
	s.BreakerState, s.BreakerTrips = r.breakerState()
	s.LockerBreakerState, s.LockerBreakerTrips = r.lockerBreakerState()
	s.NearLive = r.near != nil && r.near.live.Load()
	return s
}

// Close stops the region's background regenerations and its clock, and waits
// for them to end. Later calls return ErrClosed. Close does not close a
// backend or locker passed in Config, which the caller owns; it closes the
// default in-memory backend.
func (r *Region) Close() error {
	r.mu.Lock()
	already := r.closed.Swap(true)
	r.mu.Unlock()
	if already {
		return nil
	}
	r.cancel()
	r.wg.Wait()
	if r.near != nil {
		r.near.close()
	}
	if r.brkRef != nil {
		r.brkRef.release()
	}
	if r.lbrkRef != nil {
		r.lbrkRef.release()
	}
	if r.sys != nil {
		r.sys.Stop()
	}
	if r.owned != nil {
		return r.owned.Close()
	}
	return nil
}

// now returns the region clock's time in Unix nanoseconds.
func (r *Region) now() int64 {
	if r.sys != nil {
		return r.sys.nowNano()
	}
	return r.cfg.Clock.Now().UnixNano()
}

// fullKey is the key the backend sees for key's value (see keys.go).
func (r *Region) fullKey(key string) string {
	return r.mangle(layoutKey(r.cfg.Namespace, key, suffixValue))
}

// BackendKey returns the key under which key's value is stored in the
// region's backend: the key layout of the package documentation, with
// Config.KeyMangler applied. It is for operations and debugging (reading an
// entry with redis-cli, say); the region's methods take the caller's key.
func (r *Region) BackendKey(key string) string { return r.fullKey(key) }

// LockKey returns the key the region locks in its Locker while it creates
// key's value (see BackendKey).
func (r *Region) LockKey(key string) string { return r.lockKey(key) }

// mangle applies Config.KeyMangler, if any, to a key of the layout.
func (r *Region) mangle(k string) string {
	if r.cfg.KeyMangler != nil {
		k = r.cfg.KeyMangler(k)
	}
	return k
}

// localKey is the (namespace, key) pair a ValueStore sees for key.
func (r *Region) localKey(key string) (string, string) {
	if r.direct {
		return r.cfg.Namespace, key
	}
	return "", r.fullKey(key)
}

// lockKey is the key locked while key is created.
func (r *Region) lockKey(key string) string {
	return r.mangle(layoutKey(r.cfg.Namespace, key, suffixLock))
}

// expiration is the soft expiration for a write with call options co.
func (r *Region) expiration(co callConfig) time.Duration {
	if co.hasExpiration {
		return co.expiration
	}
	return r.cfg.Expiration
}

// freshness of an entry.
type freshness int

const (
	missing freshness = iota
	stale
	fresh
)

// freshness tells whether an entry stored at created with soft expiration
// exp, whose creation began under generations g, is fresh, stale or as good
// as missing at now. fn is the generation of the cached function the entry
// belongs to, if any. Generations newer than this process's view are
// learned: they prove that the counters on the server got there.
func (r *Region) freshness(created int64, exp time.Duration, g serializer.Gens, fn *funcGen, now int64) freshness {
	if hard := r.gens.hard.gen.Load(); g.Hard != hard {
		if g.Hard < hard {
			return missing
		}
		r.gens.hard.raise(g.Hard)
	}
	if fn != nil && g.Func < fn.gen.Load() {
		return missing
	}
	if soft := r.gens.soft.gen.Load(); g.Soft < soft {
		return stale
	}
	if exp > 0 && now-created >= int64(exp) {
		return stale
	}
	return fresh
}

// freshnessOf is freshness for an entry that may be nil (missing).
func (r *Region) freshnessOf(e *backend.Entry, fn *funcGen, now int64) freshness {
	if e == nil {
		return missing
	}
	return r.freshness(e.Created, e.Expiration, e.Gens, fn, now)
}

// valueType decodes and checks values of one Go type for the untyped core.
type valueType interface {
	decode(c *serializer.Codec, bound string, data []byte) (any, serializer.Meta, error)
	holds(v any) bool
	// strict tells whether a first read that finds a value of another type
	// is an error wrapping ErrTypeMismatch (see Typed) rather than a miss.
	strict() bool
	name() string
}

// typeOf is the valueType of T. It has no fields, so passing it as a
// valueType does not allocate.
type typeOf[T any] struct{}

func (typeOf[T]) decode(c *serializer.Codec, bound string, data []byte) (any, serializer.Meta, error) {
	var v T
	m, err := decodeAs(c, bound, data, &v)
	if err == nil && m.Negative {
		return negative, m, nil
	}
	return v, m, err
}

func (typeOf[T]) holds(v any) bool {
	_, ok := v.(T)
	return ok
}

func (typeOf[T]) strict() bool { return false }

func (typeOf[T]) name() string { return reflect.TypeFor[T]().String() }

// read says whether a load counts and logs undecodable entries: a first read
// does, a confirming read under the lock does not count them again.
type read bool

const (
	firstRead read = true
	reread    read = false
)

// load reads key's entry. A missing or undecodable entry gives nil and no
// error; err reports a backend failure, already counted and logged.
func (r *Region) load(ctx context.Context, key string, vt valueType, how read) (*backend.Entry, error) {
	if r.values != nil {
		ns, k := r.localKey(key)
		e, ok := r.values.LoadEntry(ns, k)
		if !ok {
			return nil, nil
		}
		if vt.strict() && !vt.holds(e.Value) && !isNegative(e.Value) {
			return nil, r.mismatch(key, e.Value, vt)
		}
		return r.checkType(key, e, vt, how), nil
	}
	if r.near != nil && how == firstRead {
		return r.nearLoad(ctx, key, vt)
	}
	data, err := r.get(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	if vt.strict() {
		return r.decodeStrict(ctx, key, data, vt, how)
	}
	return r.decode(ctx, key, data, vt, how), nil
}

// get reads key's bytes from a byte backend, after refreshing the shared
// invalidation generations when they are due. A missing key gives nil and no
// error; err reports a backend failure, already counted and logged, or a
// backend skipped (ErrBreakerOpen): the generations could not be refreshed,
// or the breaker is open.
func (r *Region) get(ctx context.Context, key string) ([]byte, error) {
	if err := r.refreshGens(ctx); err != nil {
		return nil, err
	}
	if err := r.admit(ctx); err != nil {
		return nil, err
	}
	t0 := r.tick()
	data, err := r.cfg.Backend.Get(ctx, r.fullKey(key))
	r.took(observe.TimingBackend, observe.OpGet, t0)
	r.settle(ctx, err)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, r.backendError(ctx, "get", key, err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// readFlight is one backend read in progress; the goroutines that read the
// same key at the same time share it.
type readFlight struct {
	done  chan struct{} // closed once data and err are set
	epoch uint64        // the key's epoch when the read was issued
	near  nearToken     // taken before the read was issued (see near.go)
	data  []byte
	err   error
}

// getShared is get for a first read, shared between the goroutines of this
// process that read key at the same moment: one asks the backend, the others
// wait for its answer, so a hot key costs one round trip per burst of
// readers rather than one per reader. A reader never joins a read issued
// before a write of key (or a region-wide invalidation) that completed in
// this process: it would return what the write replaced. Reads under the
// lock must see the latest write and use get. While the breaker is not
// closed nobody joins a read: the one in flight went out before it opened.
func (r *Region) getShared(ctx context.Context, key string) ([]byte, nearToken, error) {
	if r.brk != nil && BreakerState(r.brk.state.Load()) != BreakerClosed {
		// A read in flight was sent before the breaker opened, to a
		// backend that may not answer for a timeout: skip, not wait.
		return r.getAlone(ctx, key)
	}
	epoch := r.epochs.of(key)
	v, ok := r.reads.Load(key)
	if !ok || v.(*readFlight).epoch < epoch {
		f := &readFlight{done: make(chan struct{}), epoch: epoch}
		if ok {
			ok = !r.reads.CompareAndSwap(key, v, f)
		} else {
			v, ok = r.reads.LoadOrStore(key, f)
		}
		if !ok {
			f.near = r.nearToken(key)
			f.data, f.err = r.get(ctx, key)
			r.reads.CompareAndDelete(key, f)
			close(f.done)
			return f.data, f.near, f.err
		}
		if v.(*readFlight).epoch < epoch {
			return r.getAlone(ctx, key) // raced with another reader: read alone
		}
	}
	f := v.(*readFlight)
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, nearToken{}, ctx.Err()
	}
	if errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded) {
		return r.getAlone(ctx, key) // the reader that asked gave up; ask again
	}
	return f.data, f.near, f.err
}

// getAlone is get with the near token taken before the read.
func (r *Region) getAlone(ctx context.Context, key string) ([]byte, nearToken, error) {
	tok := r.nearToken(key)
	data, err := r.get(ctx, key)
	return data, tok, err
}

// loadMulti reads the entries of keys, in order; see load. When first is
// not nil, it holds the bytes a typed first read already fetched (a key
// absent from it is missing) and the backend is not asked again.
func (r *Region) loadMulti(ctx context.Context, keys []string, vt valueType, how read, first map[string][]byte) ([]*backend.Entry, error) {
	entries := make([]*backend.Entry, len(keys))
	if r.values != nil {
		for i, key := range keys {
			ns, k := r.localKey(key)
			if e, ok := r.values.LoadEntry(ns, k); ok {
				if vt.strict() && !vt.holds(e.Value) && !isNegative(e.Value) {
					return entries, r.mismatch(key, e.Value, vt)
				}
				entries[i] = r.checkType(key, e, vt, how)
			}
		}
		return entries, nil
	}
	var data [][]byte
	if first != nil {
		data = make([][]byte, len(keys))
		for i, key := range keys {
			data[i] = first[key]
		}
	} else {
		var err error
		if data, err = r.getMulti(ctx, keys); err != nil {
			return entries, err
		}
	}
	for i, d := range data {
		if d == nil {
			continue
		}
		if vt.strict() {
			var err error
			if entries[i], err = r.decodeStrict(ctx, keys[i], d, vt, how); err != nil {
				return entries, err
			}
			continue
		}
		entries[i] = r.decode(ctx, keys[i], d, vt, how)
	}
	return entries, nil
}

// getMulti reads the bytes of keys from a byte backend in one multi-get,
// after refreshing the invalidation generations when due; a missing key
// gives nil.
// err reports a backend failure, already counted and logged.
func (r *Region) getMulti(ctx context.Context, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if err := r.refreshGens(ctx); err != nil {
		return nil, err
	}
	if err := r.admit(ctx); err != nil {
		return nil, err
	}
	full := make([]string, len(keys))
	for i, key := range keys {
		full[i] = r.fullKey(key)
	}
	t0 := r.tick()
	data, err := r.cfg.Backend.GetMulti(ctx, full)
	r.took(observe.TimingBackend, observe.OpGetMulti, t0)
	r.settle(ctx, err)
	if err == nil && len(data) != len(keys) {
		err = fmt.Errorf("backend returned %d values for %d keys", len(data), len(keys))
	}
	if err != nil {
		return nil, r.backendError(ctx, "get multi", keys[0], err)
	}
	return data, nil
}

// checkType returns e when it holds a value of the wanted type, and
// otherwise counts a decode error and returns nil.
func (r *Region) checkType(key string, e *backend.Entry, vt valueType, how read) *backend.Entry {
	if vt.holds(e.Value) || isNegative(e.Value) {
		return e
	}
	if how == reread {
		return nil
	}
	r.stats.decodeErrors.Add(1)
	r.warn(context.Background(), "corral: cached value has another type (do two regions, or cached functions, share a name?); treated as a miss",
		"region", r.name, "key", key, "type", fmt.Sprintf("%T", e.Value))
	return nil
}

// decode turns stored bytes into an entry, or counts and logs a decode error
// and returns nil.
func (r *Region) decode(ctx context.Context, key string, data []byte, vt valueType, how read) *backend.Entry {
	v, m, err := vt.decode(r.codec, r.boundKey(key), data)
	if err != nil {
		if how == firstRead {
			r.decodeError(ctx, key, err)
		}
		return nil
	}
	return &backend.Entry{Value: v, Created: m.Created, Expiration: m.Expiration, Gens: m.Gens, Delta: m.Delta}
}

// boundKey is the key the sealed bytes of key's value are bound to: its
// value key in the layout, before Config.KeyMangler (which is injective),
// so that bytes copied to another key, in this region or another, do not
// decode (see Config.Keyring), and no second HMAC of HashKeys is spent on
// it. Without encryption it is empty, and costs nothing.
func (r *Region) boundKey(key string) string {
	if !r.codec.Seals() {
		return ""
	}
	return layoutKey(r.cfg.Namespace, key, suffixValue)
}

// decodeError counts and logs an entry that cannot be decoded.
func (r *Region) decodeError(ctx context.Context, key string, err error) {
	r.stats.decodeErrors.Add(1)
	r.warn(ctx, "corral: undecodable entry; treated as a miss",
		"region", r.name, "key", key, "err", err)
}

// saveMulti stores values[i] under keys[i], stored now with soft
// expiration exp, whose creation began under gens and took delta, and records the keys under the cached function fn, if any:
// in the same round trip when the region is grouped, otherwise after the
// write. Record failures are counted and logged; errors are the write's.
func (r *Region) saveMulti(ctx context.Context, keys []string, values []any, gens serializer.Gens, exp, delta time.Duration, fn string) error {
	if len(keys) == 0 {
		return nil
	}
	created := r.now() // expiry counts from the store, not the creation's start
	ttl := r.cfg.hardTTL(exp)
	defer r.nearDrop(keys...)
	if r.values != nil {
		for i, key := range keys {
			ns, k := r.localKey(key)
			r.values.StoreEntry(ns, k, &backend.Entry{Value: values[i], Created: created, Expiration: exp, Gens: gens, Delta: delta}, ttl)
		}
		r.record(ctx, fn, keys, exp)
		return nil
	}
	items, err := r.encodeItems(keys, values, serializer.Meta{Created: created, Expiration: exp, Gens: gens, Delta: delta}, ttl)
	if err != nil {
		return err
	}
	if err := r.admit(ctx); err != nil {
		return err
	}
	if fn != "" && r.grouper != nil && r.grouped != nil {
		t0 := r.tick()
		err := r.grouper.SetMultiGrouped(ctx, items, r.grouped.Group(fn), keys, ttl)
		r.took(observe.TimingBackend, observe.OpSetGrouped, t0)
		r.settle(ctx, err)
		if err != nil {
			return r.writeError(ctx, "set and record", keys, err)
		}
		return nil
	}
	t0 := r.tick()
	err = r.cfg.Backend.SetMulti(ctx, items)
	r.took(observe.TimingBackend, observe.OpSetMulti, t0)
	r.settle(ctx, err)
	if err != nil {
		return r.writeError(ctx, "set", keys, err)
	}
	r.record(ctx, fn, keys, exp)
	return nil
}

// encodeItems encodes values[i] with m into the backend item of keys[i],
// which the backend drops after ttl.
func (r *Region) encodeItems(keys []string, values []any, m serializer.Meta, ttl time.Duration) ([]backend.Item, error) {
	items := make([]backend.Item, len(keys))
	for i, key := range keys {
		data, err := r.encode(r.boundKey(key), values[i], m)
		if err != nil {
			return nil, fmt.Errorf("region %q: key %q: %w", r.name, key, err)
		}
		items[i] = backend.Item{Key: r.fullKey(key), Value: data, TTL: ttl}
	}
	return items, nil
}

// remove deletes keys from the backend.
func (r *Region) remove(ctx context.Context, keys ...string) error {
	if r.values != nil {
		for _, key := range keys {
			ns, k := r.localKey(key)
			r.values.DeleteEntry(ns, k)
		}
		return nil
	}
	if err := r.admit(ctx); err != nil {
		return err
	}
	defer r.nearDrop(keys...)
	var err error
	t0 := r.tick()
	if len(keys) == 1 {
		err = r.cfg.Backend.Delete(ctx, r.fullKey(keys[0]))
	} else if len(keys) > 1 {
		full := make([]string, len(keys))
		for i, key := range keys {
			full[i] = r.fullKey(key)
		}
		err = r.cfg.Backend.DeleteMulti(ctx, full)
	}
	r.took(observe.TimingBackend, observe.OpDelete, t0)
	r.settle(ctx, err)
	if err != nil {
		return r.backendError(ctx, "delete", keys[0], err)
	}
	return nil
}

// writeError is backendError for a write of keys, except that values too
// large for the backend are counted as not cached and logged once per key
// (see toolarge.go).
func (r *Region) writeError(ctx context.Context, op string, keys []string, err error) error {
	if errors.Is(err, backend.ErrTooLarge) {
		return r.notStoredTooLarge(ctx, keys, err)
	}
	return r.backendError(ctx, op, keys[0], err)
}

// backendError counts and logs a failed backend or locker call and returns
// it wrapped in ErrBackend; a call whose ctx is done gets ctx's error,
// uncounted.
func (r *Region) backendError(ctx context.Context, op, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		// The caller gave up: not the backend's failure, and no reason to
		// go on to the creator.
		return cerr
	}
	r.stats.backendErrors.Add(1)
	r.warn(ctx, "corral: backend error", "region", r.name, "op", op, "key", key, "err", err)
	return fmt.Errorf("%w: region %q: %s %q: %w", ErrBackend, r.name, op, key, err)
}
