package region

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/maypok86/otter/v2"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/serializer"
)

// DefaultNearMaxStaleness is NearConfig.MaxStaleness on a backend that
// cannot push invalidations (memcached).
const DefaultNearMaxStaleness = 100 * time.Millisecond

// NearConfig configures a region's near cache: a bounded tier of decoded
// values in this process's memory, in front of a backend that stores bytes
// (Redis, memcached). A near hit costs a map lookup, no round trip and no
// decoding.
//
// Coherence: a write, delete or invalidation made by this process drops its
// near copy before the call returns, so this process reads its own writes
// at once. Writes made by other processes reach it through the backend: on a
// backend that pushes invalidations ([backend.Invalidator]: Redis, single
// node or Cluster) the server's message drops the copy (about a loopback
// round trip); while that stream is down, or has not answered its
// heartbeat for the backend's timeout, the near cache is flushed and serves
// nothing until the stream is back. On a backend without push (memcached) a
// copy is served for at most MaxStaleness after the read that fetched it
// began, so other processes' writes are seen within that bound.
//
// A near cache needs a backend that stores bytes, and no Config.KeyMangler
// (invalidations are matched against the key layout); otherwise New returns
// an error wrapping ErrInvalidConfig. Stats.NearHits, NearFlushes and
// NearLive show it at work.
//
// NOTE: like the in-memory backend, the near cache hands every reader the
// same decoded value: treat values read from a region as read-only.
type NearConfig struct {
	// MaxEntries bounds the number of values kept. Zero turns the near
	// cache off; negative is invalid.
	MaxEntries int
	// MaxStaleness bounds how long a copy is served after the backend read
	// that fetched it began. Default: none on a backend that pushes
	// invalidations, DefaultNearMaxStaleness on one that cannot. Negative
	// is invalid.
	MaxStaleness time.Duration
}

// nearStripes is the number of invalidation counters keys share by hash.
const nearStripes = 256

// near is a region's near cache.
//
// The race it must not lose: a read of key k is issued to the backend and
// returns k's old value, while k is written elsewhere and the invalidation
// of k arrives here before the read's answer is inserted. Inserting then
// would keep the old value until the next write. So a reader takes a token
// — the flush count and its stripe's invalidation count — before it issues
// the read, and the insert happens, under the stripe's lock, only if both
// are unchanged: any invalidation of the stripe, any flush, since the read
// was issued refuses it. Invalidations and flushes take the same locks.
type near struct {
	cache *otter.Cache[string, *nearEntry]
	// flushes counts flushes (stream lost or regained, server flushed);
	// changed only with every stripe's lock held.
	flushes atomic.Uint64
	// live is false while the invalidation stream may be missing changes:
	// nothing is served or inserted.
	live atomic.Bool
	// maxStale bounds a copy's age in nanoseconds (see nearNow); zero:
	// unbounded.
	maxStale int64
	// prefix is what the region's value keys begin with: a backend key with
	// it and the value suffix names one of this near cache's keys.
	prefix string
	stop   func() // ends the watch; nil without one
	// loggedDown is set once the stream's interruption was logged, until
	// it is back.
	loggedDown atomic.Bool

	stripes [nearStripes]nearStripe
}

type nearStripe struct {
	mu  sync.Mutex    // protects seq's changes and inserts of the stripe's keys
	seq atomic.Uint64 // invalidations of the stripe's keys
	_   [48]byte      // keep stripes on their own cache lines
}

// nearEntry is a copy and the time (nearNow) its read began.
type nearEntry struct {
	e  *backend.Entry
	at int64
}

// nearToken is what a reader takes before it issues a backend read.
type nearToken struct {
	flushes, seq uint64
	at           int64
	stripe       uint16
	ok           bool
}

// nearSink receives the backend's invalidations for a region.
type nearSink struct {
	r *Region
	n *near
}

// newNear builds r's near cache, or returns nil when c turns it off.
func newNear(r *Region, c NearConfig) (*near, error) {
	invalid := func(format string, args ...any) (*near, error) {
		return nil, fmt.Errorf("%w: region %q: Near: %s", ErrInvalidConfig, r.name, fmt.Sprintf(format, args...))
	}
	switch {
	case c.MaxEntries < 0:
		return invalid("MaxEntries %d is negative", c.MaxEntries)
	case c.MaxStaleness < 0:
		return invalid("MaxStaleness %v is negative", c.MaxStaleness)
	case c.MaxEntries == 0:
		return nil, nil
	case r.values != nil:
		return invalid("the backend keeps decoded values in this process already")
	case r.cfg.KeyMangler != nil:
		return invalid("a KeyMangler hides the key layout that invalidations are matched against")
	}
	cache, err := otter.New(&otter.Options[string, *nearEntry]{MaximumSize: c.MaxEntries})
	if err != nil {
		return invalid("%v", err)
	}
	n := &near{cache: cache, maxStale: int64(c.MaxStaleness), prefix: layoutKey(r.cfg.Namespace, "", "")}
	inv, push := r.cfg.Backend.(backend.Invalidator)
	if !push {
		if n.maxStale == 0 {
			n.maxStale = int64(DefaultNearMaxStaleness)
		}
		n.live.Store(true)
		return n, nil
	}
	// The watched prefix covers the region's values, locks, function
	// generations and region-wide marks: the length in front of the
	// namespace keeps other namespaces out.
	watch := layoutPrefix + string(scoped(nil, r.cfg.Namespace))
	stop, err := inv.WatchInvalidations(watch, nearSink{r, n})
	if err != nil {
		return invalid("watching invalidations: %v", err)
	}
	n.stop = stop
	return n, nil
}

// close ends the watch.
func (n *near) close() {
	if n.stop != nil {
		n.stop()
	}
	n.cache.StopAllGoroutines()
}

// stripeOf is the stripe of key.
func stripeOf(key string) uint16 { return uint16(xxhash.Sum64String(key) % nearStripes) }

// token returns what a reader of key takes before it issues a backend read.
func (r *Region) nearToken(key string) nearToken {
	n := r.near
	if n == nil || !n.live.Load() {
		return nearToken{}
	}
	s := stripeOf(key)
	return nearToken{flushes: n.flushes.Load(), seq: n.stripes[s].seq.Load(), at: r.nearNow(), stripe: s, ok: true}
}

// nearPut keeps e as key's copy, read by a backend read that took tok before
// it was issued, unless the key's stripe was invalidated, or the near cache
// flushed, since.
func (r *Region) nearPut(key string, tok nearToken, e *backend.Entry) {
	n := r.near
	if n == nil || !tok.ok {
		return
	}
	s := &n.stripes[tok.stripe]
	s.mu.Lock()
	if n.live.Load() && n.flushes.Load() == tok.flushes && s.seq.Load() == tok.seq {
		n.cache.Set(key, &nearEntry{e: e, at: tok.at})
	}
	s.mu.Unlock()
}

// nearGet returns key's copy, if the near cache may serve one.
func (r *Region) nearGet(key string) (*backend.Entry, bool) {
	n := r.near
	if !n.live.Load() {
		return nil, false
	}
	ne, ok := n.cache.GetIfPresent(key)
	if !ok {
		return nil, false
	}
	if n.maxStale > 0 {
		// A clock stepped back (age below zero) trusts nothing.
		if age := r.nearNow() - ne.at; age < 0 || age >= n.maxStale {
			return nil, false
		}
	}
	return ne.e, true
}

// nearNow is the time a copy's age is measured with: the monotonic clock,
// or Config.Clock when one was given (tests). The default clock is coarse
// and may lag under load, which would stretch the bound.
func (r *Region) nearNow() int64 {
	if r.sys != nil {
		return monotonic()
	}
	return r.cfg.Clock.Now().UnixNano()
}

// nearDrop drops the copies of keys, and refuses the inserts of reads issued
// before: called when this process wrote them, before the write returns.
func (r *Region) nearDrop(keys ...string) {
	if r.near == nil {
		return
	}
	for _, key := range keys {
		r.near.invalidate(key)
	}
}

func (n *near) invalidate(key string) {
	s := &n.stripes[stripeOf(key)]
	s.mu.Lock()
	s.seq.Add(1)
	n.cache.Invalidate(key)
	s.mu.Unlock()
}

// flush drops every copy and refuses every insert of a read issued before;
// live says whether to serve afterwards.
func (n *near) flush(live bool) {
	for i := range n.stripes {
		n.stripes[i].mu.Lock()
	}
	n.flushes.Add(1)
	n.live.Store(live)
	n.cache.InvalidateAll()
	for i := range n.stripes {
		n.stripes[i].mu.Unlock()
	}
}

// Invalidate implements backend.InvalidationSink.
func (s nearSink) Invalidate(keys []string) {
	r, n := s.r, s.n
	if keys == nil {
		r.stats.nearFlushes.Add(1)
		n.flush(n.live.Load())
		r.gensDue()
		return
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, n.prefix)
		switch {
		case ok && strings.HasSuffix(rest, suffixValue):
			n.invalidate(rest[:len(rest)-len(suffixValue)])
		case strings.HasSuffix(k, suffixFuncGen), strings.HasSuffix(k, markSuffixes[Hard]), strings.HasSuffix(k, markSuffixes[Soft]):
			r.gensDue() // an invalidation by generation: read them at the next call
		}
	}
}

// Live implements backend.InvalidationSink.
func (s nearSink) Live(live bool, err error) {
	r, n := s.r, s.n
	r.stats.nearFlushes.Add(1)
	was := n.live.Load()
	n.flush(live)
	switch {
	case live:
		n.loggedDown.Store(false)
	case was || !n.loggedDown.Swap(true):
		// Once per outage, not at every attempt to reconnect.
		n.loggedDown.Store(true)
		r.warn(r.base, "corral: near cache invalidations interrupted; near cache flushed and off until they are back",
			"region", r.name, "err", err)
	}
}

// gensDue makes the next call read the shared invalidation generations.
func (r *Region) gensDue() {
	r.gens.checked.Store(math.MinInt64 / 2)
}

// nearFirst is GetOrCreate's first read from the near cache: hit reports a
// value served from it; otherwise first is the entry found there (done), or
// not done when there was none.
func nearFirst[T any](ctx context.Context, r *Region, key string, opts []CallOption) (v T, first loaded, hit bool) {
	if r.near == nil {
		return v, first, false
	}
	e, ok := r.nearGet(key)
	if !ok {
		return v, first, false
	}
	// A cached "not found" fits every T: the core answers it, or creates
	// when it is no longer fresh.
	negative := isNegative(e.Value)
	if !negative {
		if v, ok = e.Value.(T); !ok {
			return v, first, false // read and decode it as a T
		}
	}
	// The generations age as for a backend read: refreshed when due, and
	// an unreadable view serves nothing from the near cache either.
	if r.refreshGens(ctx) != nil {
		return v, first, false
	}
	r.stats.nearHits.Add(1)
	if negative {
		return v, loaded{entry: e, done: true}, false
	}
	now := r.now()
	state := r.drawn(r.freshness(e.Created, e.Expiration, e.Gens, funcGenOf(opts), now), e.Created, e.Expiration, e.Delta, now)
	if r.served(key, state, opts) {
		return v, first, true
	}
	return v, loaded{entry: e, done: true, due: state == due}, false
}

// nearLoad is load's first read with a near cache: a copy when there is
// one, else a backend read whose entry is kept.
func (r *Region) nearLoad(ctx context.Context, key string, vt valueType) (*backend.Entry, error) {
	if e, ok := r.nearGet(key); ok && vt.holds(e.Value) && r.refreshGens(ctx) == nil {
		r.stats.nearHits.Add(1)
		return e, nil
	}
	tok := r.nearToken(key)
	data, err := r.get(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	e := r.decode(ctx, key, data, vt, firstRead)
	if e != nil {
		r.nearPut(key, tok, e)
	}
	return e, nil
}

// nearKeep keeps a value a typed first read decoded.
func (r *Region) nearKeep(key string, tok nearToken, v any, m serializer.Meta) {
	if r.near != nil && tok.ok {
		e := &backend.Entry{Value: v, Created: m.Created, Expiration: m.Expiration, Gens: m.Gens, Delta: m.Delta}
		if m.Negative {
			e.Value = negative // a cached "not found", not a zero value
		}
		r.nearPut(key, tok, e)
	}
}

// nearLen is the number of copies held, for tests.
func (r *Region) nearLen() int {
	if r.near == nil {
		return 0
	}
	r.near.cache.CleanUp()
	return r.near.cache.EstimatedSize()
}
