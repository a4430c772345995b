// Package near is a region's near cache: a bounded tier of decoded entries
// in this process's memory, in front of a backend that stores bytes.
//
// It enforces this row of the consistency table: a copy is never served
// after an invalidation of its key that reached this process — by this
// process's own write (dropped before the write returns), by the backend's
// invalidation stream (Redis tracking), or by the flush that follows a lost
// stream — and, on a backend that cannot push invalidations, never longer
// than MaxStaleness after the read that fetched it began.
//
// The race it must not lose: a read of key k is issued to the backend and
// returns k's old value, while k is written elsewhere and the invalidation
// of k arrives here before the read's answer is inserted. Inserting then
// would keep the old value until the next write. So a reader takes a
// [Token] — the flush count and its stripe's invalidation count — before it
// issues the read, and the insert happens, under the stripe's lock, only if
// both are unchanged: any invalidation of the stripe, any flush, since the
// read was issued refuses it. Invalidations and flushes take the same
// locks.
package near

import (
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/maypok86/otter/v2"

	"github.com/corralcache/corral/backend"
)

// stripes is the number of invalidation counters keys share by hash.
const stripes = 256

// Cache is a near cache.
type Cache struct {
	cache *otter.Cache[string, *entry]
	// flushes counts flushes; changed only with every stripe's lock held.
	flushes atomic.Uint64
	// live is false while the invalidation stream may be missing changes:
	// nothing is served or inserted.
	live atomic.Bool
	// maxStale bounds a copy's age in nanoseconds of now; zero: unbounded.
	maxStale int64
	now      func() int64

	stripes [stripes]stripe
}

type stripe struct {
	mu  sync.Mutex    // protects seq's changes and inserts of the stripe's keys
	seq atomic.Uint64 // invalidations of the stripe's keys
	_   [48]byte      // keep stripes on their own cache lines
}

// entry is a copy and the time its read began.
type entry struct {
	e  *backend.Entry
	at int64
}

// Token is what a reader takes before it issues a backend read.
type Token struct {
	flushes, seq uint64
	at           int64
	stripe       uint16
	ok           bool
}

// New returns a near cache of at most maxEntries copies, each served at
// most maxStale (nanoseconds of now; zero: no bound) after its read began,
// live (serving) from the start when live is set.
func New(maxEntries int, maxStale int64, now func() int64, live bool) (*Cache, error) {
	cache, err := otter.New(&otter.Options[string, *entry]{MaximumSize: maxEntries})
	if err != nil {
		return nil, err
	}
	c := &Cache{cache: cache, maxStale: maxStale, now: now}
	c.live.Store(live)
	return c, nil
}

// Close stops the cache's goroutines.
func (c *Cache) Close() { c.cache.StopAllGoroutines() }

func stripeOf(key string) uint16 { return uint16(xxhash.Sum64String(key) % stripes) }

// Token returns what a reader of key takes before it issues a backend read.
// The zero Token (the cache is not live) inserts nothing.
func (c *Cache) Token(key string) Token {
	if c == nil || !c.live.Load() {
		return Token{}
	}
	s := stripeOf(key)
	return Token{flushes: c.flushes.Load(), seq: c.stripes[s].seq.Load(), at: c.now(), stripe: s, ok: true}
}

// Put keeps e as key's copy, read by a backend read that took tok before it
// was issued, unless the key's stripe was invalidated, or the cache
// flushed, since.
func (c *Cache) Put(key string, tok Token, e *backend.Entry) {
	if c == nil || !tok.ok {
		return
	}
	s := &c.stripes[tok.stripe]
	s.mu.Lock()
	if c.live.Load() && c.flushes.Load() == tok.flushes && s.seq.Load() == tok.seq {
		c.cache.Set(key, &entry{e: e, at: tok.at})
	}
	s.mu.Unlock()
}

// Get returns key's copy, if the cache may serve one.
func (c *Cache) Get(key string) (*backend.Entry, bool) {
	if !c.live.Load() {
		return nil, false
	}
	ne, ok := c.cache.GetIfPresent(key)
	if !ok {
		return nil, false
	}
	if c.maxStale > 0 {
		// A clock stepped back (age below zero) trusts nothing.
		if age := c.now() - ne.at; age < 0 || age >= c.maxStale {
			return nil, false
		}
	}
	return ne.e, true
}

// Drop drops key's copy and refuses the inserts of reads issued before.
func (c *Cache) Drop(key string) {
	s := &c.stripes[stripeOf(key)]
	s.mu.Lock()
	s.seq.Add(1)
	c.cache.Invalidate(key)
	s.mu.Unlock()
}

// Flush drops every copy and refuses every insert of a read issued before;
// live says whether to serve afterwards.
func (c *Cache) Flush(live bool) {
	for i := range c.stripes {
		c.stripes[i].mu.Lock()
	}
	c.flushes.Add(1)
	c.live.Store(live)
	c.cache.InvalidateAll()
	for i := range c.stripes {
		c.stripes[i].mu.Unlock()
	}
}

// Live reports whether the cache serves copies now.
func (c *Cache) Live() bool { return c != nil && c.live.Load() }

// Len is the number of copies held, for tests.
func (c *Cache) Len() int {
	c.cache.CleanUp()
	return c.cache.EstimatedSize()
}
