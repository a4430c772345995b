package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/corralcache/corral/backend"
)

// ErrInvalidOptions is returned by [New], wrapped, when [Options] hold a
// value it cannot use, such as a negative bound.
var ErrInvalidOptions = errors.New("memory: invalid options")

// DefaultMaxEntries is the bound on entries that [New] applies when neither
// [Options.MaxEntries] nor [Options.MaxBytes] is set.
const DefaultMaxEntries = 100_000

// ItemOverhead is the weight in bytes added to every stored value for the
// cache's own structures (otter's node, the stored item, its hash-table slot).
// It is an estimate for 64-bit platforms.
const ItemOverhead = 160

// DefaultEntryWeight is the weight in bytes given to a decoded
// [backend.Entry] stored with [Backend.StoreEntry] when [Options.Weigher] is
// nil. The size of a Go value cannot be measured cheaply, so this is a rough
// estimate of a small struct plus [ItemOverhead]; set a Weigher when values
// vary in size and the cache is bounded by [Options.MaxBytes].
const DefaultEntryWeight = 512

// DefaultClockResolution is the [Options.ClockResolution] that applies when
// it is zero.
const DefaultClockResolution = time.Millisecond

// Options configure a [Backend]. The zero value is valid: a cache of at most
// [DefaultMaxEntries] entries that keeps decoded values and reads the real
// time.
type Options struct {
	// MaxEntries bounds the number of entries. When both MaxEntries and
	// MaxBytes are zero, DefaultMaxEntries applies.
	MaxEntries int
	// MaxBytes bounds the total weight of the entries, in bytes. A byte value
	// weighs len(value) + len(key) + len(namespace) + ItemOverhead; a decoded
	// entry weighs what Weigher returns, or DefaultEntryWeight.
	//
	// When both MaxEntries and MaxBytes are set, each entry weighs at least
	// ceil(MaxBytes/MaxEntries), which enforces both bounds with a single
	// weighted policy (conservatively, when small and large entries mix).
	MaxBytes int64
	// Weigher returns the weight in bytes of a decoded entry stored under
	// (namespace, key). It is used only with MaxBytes; nil means every
	// decoded entry weighs DefaultEntryWeight. It runs under a lock of the
	// cache and must not call the Backend.
	Weigher func(namespace, key string, e *backend.Entry) uint32
	// Serialize makes KeepsValues report false, so that regions store encoded
	// copies through the byte methods instead of shared decoded values:
	// callers then cannot mutate what the cache holds. The ValueStore methods
	// keep working, but a region does not call them.
	Serialize bool
	// Clock, when set, is the time source for expiry, for tests; nil reads
	// the real time. With a Clock the cache does no periodic clean-up:
	// expired entries are invisible at once and are removed during later
	// writes. ClockResolution is then ignored.
	Clock interface{ Now() time.Time }
	// ClockResolution is how often the Backend reads the real time when Clock
	// is nil. Expiry reads the time on every operation, and a precise read
	// costs about as much as the rest of a lookup, so by default a goroutine
	// (stopped by Close) reads it once per resolution and lookups read a
	// variable. A hard TTL is then honoured to within ± ClockResolution.
	// Zero means DefaultClockResolution; a negative value reads the precise
	// time on every operation and starts no goroutine for the clock.
	ClockResolution time.Duration
}

// key is the cache key: a comparable pair, so that LoadEntry hashes the two
// strings without concatenating them.
type key struct {
	ns, key string
}

// kind tells what an item holds.
type kind uint8

const (
	// kindBytes is a value of the byte methods.
	kindBytes kind = iota
	// kindEntry is a decoded entry of the ValueStore methods.
	kindEntry
	// kindPlaceholder is what GetForUpdate and LoadEntryForUpdate leave in
	// a missing key: no value, only a version.
	kindPlaceholder
)

// item is what the cache holds for a key: encoded bytes, a decoded entry or
// a placeholder, with its version and the hard TTL otter's expiry calculator
// reads. Only the version of a stored item changes; a write stores a new
// item.
type item struct {
	entry *backend.Entry
	value []byte
	// expireAfter is the hard TTL; math.MaxInt64 means never.
	expireAfter time.Duration
	// version names the latest lease on the item, or its write if no lease
	// was taken: a lease (GetForUpdate, LoadEntryForUpdate) replaces it by a
	// new one with a compare-and-swap, without otter's lock of the key. A
	// conditional write that matches it swaps it to retired, under that lock,
	// before it replaces the item, so that no lease is taken on an item a
	// conditional write has consumed: a leaser that finds it retired takes
	// its lease under the lock, on what replaced it.
	version atomic.Uint64
	// kind tells a decoded entry from a byte value, so that the byte methods
	// and the ValueStore methods never see each other's values, and both
	// from a placeholder, which neither returns.
	kind kind
}

// retired is the version of an item a conditional write has consumed. It is
// never handed out, like the zero Version it equals.
const retired = 0

// Backend is an in-process, bounded store of byte values and decoded
// entries. Every method is safe for concurrent use. Create one with [New].
//
// It implements [backend.Conditional] and [backend.ConditionalValueStore]:
// every write and every lease gives its key the next value of a counter as
// its version. A lease on a value or an entry swaps the version of the item
// in place (the item, its value and its expiry stay as they are, and a hit
// does not allocate); a lease on a placeholder replaces it by a new one. A
// conditional write compares and replaces the key's item under otter's lock
// of the key (Compute). A placeholder, an eviction victim like any item, is
// never returned by Get, GetMulti or LoadEntry.
//
// The byte methods copy: Set keeps a copy of the caller's value and Get
// returns a fresh copy, so neither side can corrupt the other's bytes. The
// ValueStore methods share the stored *backend.Entry instead (see
// [Options.Serialize]). The methods never block, so they ignore their ctx.
type Backend struct {
	cache *otter.Cache[key, *item]
	// versions counts the writes and leases, so that each gets a version no
	// earlier write or lease of any key had.
	versions atomic.Uint64
	// coarse is the clock Close stops, or nil.
	coarse    *otter.CoarseClock
	serialize bool
}

var (
	_ backend.Backend               = (*Backend)(nil)
	_ backend.ValueStore            = (*Backend)(nil)
	_ backend.Conditional           = (*Backend)(nil)
	_ backend.ConditionalValueStore = (*Backend)(nil)
)

// New returns a Backend configured by o. It returns an error wrapping
// [ErrInvalidOptions] when a bound is negative.
func New(o Options) (*Backend, error) {
	if o.MaxEntries < 0 {
		return nil, fmt.Errorf("%w: MaxEntries %d is negative", ErrInvalidOptions, o.MaxEntries)
	}
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidOptions, o.MaxBytes)
	}

	oo := &otter.Options[key, *item]{
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[key, *item]) time.Duration {
			return e.Value.expireAfter
		}),
	}
	var coarse *otter.CoarseClock
	switch {
	case o.Clock != nil:
		oo.Clock = clock{o.Clock}
	case o.ClockResolution >= 0:
		res := o.ClockResolution
		if res == 0 {
			res = DefaultClockResolution
		}
		coarse = otter.NewCoarseClock(res)
		oo.Clock = coarse
	}
	switch {
	case o.MaxBytes > 0:
		oo.MaximumWeight = uint64(o.MaxBytes)
		var floor uint64
		if o.MaxEntries > 0 {
			floor = (uint64(o.MaxBytes) + uint64(o.MaxEntries) - 1) / uint64(o.MaxEntries)
		}
		oo.Weigher = weigher(o.Weigher, floor)
	case o.MaxEntries > 0:
		oo.MaximumSize = o.MaxEntries
	default:
		oo.MaximumSize = DefaultMaxEntries
	}

	c, err := otter.New(oo)
	if err != nil {
		if coarse != nil {
			coarse.Stop()
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return &Backend{cache: c, coarse: coarse, serialize: o.Serialize}, nil
}

// weigher returns otter's weigher: the weight of a byte value or a decoded
// entry, at least floor and at least 1 (otter ignores zero weights). A
// placeholder weighs as an empty byte value.
func weigher(entryWeigher func(string, string, *backend.Entry) uint32, floor uint64) func(key, *item) uint32 {
	return func(k key, it *item) uint32 {
		var w uint64
		switch {
		case it.kind != kindEntry:
			w = uint64(len(it.value)) + uint64(len(k.ns)) + uint64(len(k.key)) + ItemOverhead
		case entryWeigher != nil:
			w = uint64(entryWeigher(k.ns, k.key, it.entry))
		default:
			w = DefaultEntryWeight
		}
		w = max(w, floor, 1)
		return uint32(min(w, math.MaxUint32))
	}
}

// clock adapts a Now-only clock to otter's Clock. It never ticks, so the
// cache does no periodic clean-up with it.
type clock struct {
	c interface{ Now() time.Time }
}

func (c clock) NowNano() int64                      { return c.c.Now().UnixNano() }
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }

// expireAfter turns a backend TTL into otter's duration: zero means never.
func expireAfter(ttl time.Duration) time.Duration {
	if ttl == 0 {
		return math.MaxInt64
	}
	return ttl
}

// Get returns a copy of the value stored under key, or
// [backend.ErrNotFound] (also for a key that holds a placeholder or a decoded
// entry). An empty stored value comes back as a non-nil empty slice.
func (b *Backend) Get(_ context.Context, key string) ([]byte, error) {
	if v, ok := b.get(key); ok {
		return v, nil
	}
	return nil, backend.ErrNotFound
}

func (b *Backend) get(k string) ([]byte, bool) {
	it, ok := b.cache.GetIfPresent(key{key: k})
	if !ok || it.kind != kindBytes {
		return nil, false
	}
	return bytes.Clone(it.value), true
}

// GetMulti returns a copy of the value under each key, in the order of keys;
// a missing key gives nil. It never returns an error.
func (b *Backend) GetMulti(_ context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _ = b.get(k)
	}
	return out, nil
}

// Set stores a copy of value under key, so the caller may reuse value. The
// value is dropped after ttl; zero means no hard limit, and a negative ttl
// removes the key at once. It never returns an error.
func (b *Backend) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	b.set(key, value, ttl)
	return nil
}

func (b *Backend) set(k string, value []byte, ttl time.Duration) {
	if ttl < 0 {
		b.cache.Invalidate(key{key: k})
		return
	}
	b.cache.Set(key{key: k}, b.newBytes(value, ttl))
}

// newBytes returns the item of a write of value with ttl (not negative), with
// a new version.
func (b *Backend) newBytes(value []byte, ttl time.Duration) *item {
	// append to a non-nil empty slice: an empty value stays present.
	v := append(make([]byte, 0, len(value)), value...)
	return b.versioned(&item{value: v, kind: kindBytes, expireAfter: expireAfter(ttl)})
}

// versioned gives it, not yet stored, a new version, and returns it.
func (b *Backend) versioned(it *item) *item {
	it.version.Store(uint64(b.nextVersion()))
	return it
}

// nextVersion returns a version that no earlier write or lease had.
func (b *Backend) nextVersion() backend.Version {
	return backend.Version(b.versions.Add(1))
}

// SetMulti stores a copy of every item, as Set does. It never returns an
// error.
func (b *Backend) SetMulti(_ context.Context, items []backend.Item) error {
	for _, it := range items {
		b.set(it.Key, it.Value, it.TTL)
	}
	return nil
}

// Delete removes key. Deleting a missing key is not an error, and Delete
// never returns one.
func (b *Backend) Delete(_ context.Context, k string) error {
	b.cache.Invalidate(key{key: k})
	return nil
}

// DeleteMulti removes every key. Missing keys are not an error, and
// DeleteMulti never returns one.
func (b *Backend) DeleteMulti(_ context.Context, keys []string) error {
	for _, k := range keys {
		b.cache.Invalidate(key{key: k})
	}
	return nil
}

// KeepsValues reports whether regions should keep decoded values in the
// Backend: true unless [Options.Serialize] was set.
func (b *Backend) KeepsValues() bool { return !b.serialize }

// LoadEntry returns the entry stored under (namespace, key) by StoreEntry or
// StoreEntryIf, the very pointer that was stored. A value stored through the
// byte methods is not an entry and reports false, as does a placeholder.
// LoadEntry does not allocate.
func (b *Backend) LoadEntry(namespace, k string) (*backend.Entry, bool) {
	it, ok := b.cache.GetIfPresent(key{ns: namespace, key: k})
	if !ok || it.kind != kindEntry {
		return nil, false
	}
	return it.entry, true
}

// StoreEntry stores e under (namespace, key), dropping it after ttl; zero
// means no hard limit, and a negative ttl removes the key at once. The
// Backend keeps e itself, not a copy: e must not be modified afterwards.
func (b *Backend) StoreEntry(namespace, k string, e *backend.Entry, ttl time.Duration) {
	if ttl < 0 {
		b.cache.Invalidate(key{ns: namespace, key: k})
		return
	}
	b.cache.Set(key{ns: namespace, key: k}, b.newEntry(e, ttl))
}

// newEntry returns the item of a write of e with ttl (not negative), with a
// new version.
func (b *Backend) newEntry(e *backend.Entry, ttl time.Duration) *item {
	return b.versioned(&item{entry: e, kind: kindEntry, expireAfter: expireAfter(ttl)})
}

// DeleteEntry removes the entry or placeholder under (namespace, key).
// Removing a missing entry does nothing.
func (b *Backend) DeleteEntry(namespace, k string) {
	b.cache.Invalidate(key{ns: namespace, key: k})
}

// GetForUpdate returns a copy of the value under each key, in the order of
// keys, nil for a missing one, and takes a new lease on each key: the
// version it returns for a key is new, and every version handed out before
// for that key stops matching. A value, or a decoded entry of the
// ValueStore methods (which gives a nil value), stays as it is, expiry
// included, under a new version; a key that holds nothing, or a placeholder,
// gets a new placeholder that lives for placeholderTTL. A key named twice is
// leased once and gets the same value and version twice. It returns an error
// wrapping [backend.ErrInvalidArgument] when placeholderTTL is not positive,
// and no other error.
func (b *Backend) GetForUpdate(_ context.Context, keys []string, placeholderTTL time.Duration) ([][]byte, []backend.Version, error) {
	if placeholderTTL <= 0 {
		return nil, nil, fmt.Errorf("memory: placeholder TTL %v is not positive: %w", placeholderTTL, backend.ErrInvalidArgument)
	}
	values := make([][]byte, len(keys))
	versions := make([]backend.Version, len(keys))
	var first map[string]int // the first index of each key, when there are several
	if len(keys) > 1 {
		first = make(map[string]int, len(keys))
	}
	for i, k := range keys {
		if first != nil {
			if j, dup := first[k]; dup {
				values[i], versions[i] = bytes.Clone(values[j]), versions[j]
				continue
			}
			first[k] = i
		}
		it, v := b.lease(key{key: k}, placeholderTTL)
		if it != nil && it.kind == kindBytes {
			values[i] = bytes.Clone(it.value)
		}
		versions[i] = v
	}
	return values, versions, nil
}

// lease takes a new lease on k: it returns the item under k, or nil, with a
// version that no earlier write or lease had, now the item's. A value or an
// entry keeps its place and expiry and gets the new version. A key that
// holds nothing or a placeholder gets a new placeholder that lives for ttl;
// when ttl is not positive it makes none: a missing key then gives nil and
// the zero version, and a placeholder keeps its expiry and gets the new
// version.
//
// A hit takes the lease with a compare-and-swap of the item's version, which
// allocates nothing and takes no lock; the other cases, and an item a
// conditional write retired meanwhile, take it under otter's lock of the key.
func (b *Backend) lease(k key, ttl time.Duration) (*item, backend.Version) {
	it, ok := b.cache.GetIfPresent(k)
	if !ok && ttl <= 0 {
		return nil, 0
	}
	if ok && (it.kind != kindPlaceholder || ttl <= 0) {
		v := b.nextVersion()
		for {
			cur := it.version.Load()
			if cur == retired {
				break
			}
			if it.version.CompareAndSwap(cur, uint64(v)) {
				return it, v
			}
		}
	}
	return b.leaseLocked(k, ttl)
}

// leaseLocked is lease under otter's lock of k.
func (b *Backend) leaseLocked(k key, ttl time.Duration) (*item, backend.Version) {
	var (
		got *item
		v   backend.Version
	)
	b.cache.Compute(k, func(old *item, found bool) (*item, otter.ComputeOp) {
		switch {
		case found && (old.kind != kindPlaceholder || ttl <= 0):
			// Under the lock no item is retired: the write that retires one
			// replaces it in the same critical section. A concurrent lease
			// that swaps the version after this one is the later lease.
			got, v = old, b.nextVersion()
			old.version.Store(uint64(v))
			return old, otter.CancelOp
		case ttl <= 0:
			return old, otter.CancelOp
		}
		got = b.versioned(&item{kind: kindPlaceholder, expireAfter: ttl})
		v = backend.Version(got.version.Load())
		return got, otter.WriteOp
	})
	return got, v
}

// SetIf stores a copy of items[i], as Set does, only if its key still holds
// the value or placeholder that versions[i] names; stored[i] reports whether
// it did. A key written, deleted, expired or evicted since it was read gives
// false. It returns an error wrapping [backend.ErrInvalidArgument] when
// versions and items differ in length, and no other error.
func (b *Backend) SetIf(_ context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	if len(items) != len(versions) {
		return nil, fmt.Errorf("memory: %d items with %d versions: %w", len(items), len(versions), backend.ErrInvalidArgument)
	}
	stored := make([]bool, len(items))
	for i, it := range items {
		var n *item
		if versions[i] != 0 && it.TTL >= 0 {
			n = b.newBytes(it.Value, it.TTL)
		}
		stored[i] = b.storeIf(key{key: it.Key}, versions[i], n)
	}
	return stored, nil
}

// LoadEntryForUpdate returns the entry under (namespace, key), or nil, and
// takes a new lease on the key: the version it returns is new, and every
// version handed out before for the key stops matching. An entry, or a value
// of the byte methods (which returns nil), stays as it is, expiry included,
// under the new version; a key that holds nothing, or a placeholder, gets a
// new placeholder that lives for placeholderTTL. A placeholderTTL that is
// not positive makes no placeholder: a key that holds nothing then returns
// the zero version, with which StoreEntryIf never stores, and a placeholder
// keeps its expiry under the new version. A lease on a present entry does
// not allocate.
func (b *Backend) LoadEntryForUpdate(namespace, k string, placeholderTTL time.Duration) (*backend.Entry, backend.Version) {
	it, v := b.lease(key{ns: namespace, key: k}, placeholderTTL)
	if it == nil || it.kind != kindEntry {
		return nil, v
	}
	return it.entry, v
}

// StoreEntryIf stores e under (namespace, key), as StoreEntry does, only if
// the key still holds the entry or placeholder that v names, and reports
// whether it did. A key written, deleted, expired or evicted since it was
// read gives false.
func (b *Backend) StoreEntryIf(namespace, k string, e *backend.Entry, ttl time.Duration, v backend.Version) bool {
	var n *item
	if v != 0 && ttl >= 0 {
		n = b.newEntry(e, ttl)
	}
	return b.storeIf(key{ns: namespace, key: k}, v, n)
}

// storeIf replaces the item under k by n if the item's version is v, or
// removes it if n is nil (a negative TTL), and reports whether it did. The
// item is retired before it is replaced, so that a lease that finds it
// afterwards takes its lease on n. n is made before the bucket lock is
// taken, so that copying a value does not hold it.
func (b *Backend) storeIf(k key, v backend.Version, n *item) bool {
	if v == 0 {
		return false
	}
	stored := false
	b.cache.Compute(k, func(old *item, found bool) (*item, otter.ComputeOp) {
		if !found || !old.version.CompareAndSwap(uint64(v), retired) {
			return old, otter.CancelOp
		}
		stored = true
		if n == nil {
			return nil, otter.InvalidateOp
		}
		return n, otter.WriteOp
	})
	return stored
}

// Len returns the approximate number of entries, which may still count
// entries that have expired or are about to be evicted.
func (b *Backend) Len() int { return b.cache.EstimatedSize() }

// Close stops the Backend's goroutines: otter's periodic clean-up and the
// coarse clock. The Backend keeps working after Close, reading the precise
// time and without periodic clean-up. Close always returns nil.
func (b *Backend) Close() error {
	b.cache.StopAllGoroutines()
	if b.coarse != nil {
		b.coarse.Stop()
	}
	return nil
}
