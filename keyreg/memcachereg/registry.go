package memcachereg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/internal/mcmeta"
	"github.com/corralcache/corral/internal/memcachekey"
	"github.com/corralcache/corral/keyreg"
)

var (
	// ErrNotListable is returned by Keys: memcached cannot list the keys
	// recorded for a function. Use the function's InvalidateAll (ForgetAll),
	// which needs no list.
	ErrNotListable = fmt.Errorf("memcachereg: memcached has no sets: %w", keyreg.ErrNotListable)
	// ErrInvalidOptions is wrapped by the errors New returns for a
	// configuration it cannot use.
	ErrInvalidOptions = errors.New("memcachereg: invalid options")
	// ErrBadGeneration is wrapped by the errors of Namespace and ForgetAll
	// when a generation item holds something other than a number.
	ErrBadGeneration = errors.New("memcachereg: generation item is not a number")
)

// DefaultCacheFor is the default Options.CacheFor.
const DefaultCacheFor = time.Second

// DefaultPrefix is the default Options.Prefix.
const DefaultPrefix = "corral:reg:"

// Client is the part of *memcache.Client a Registry uses.
type Client interface {
	Get(key string) (*memcache.Item, error)
	Add(item *memcache.Item) error
	Set(item *memcache.Item) error
	Delete(key string) error
	Increment(key string, delta uint64) (uint64, error)
}

var _ Client = (*memcache.Client)(nil)

// Options configure a Registry. The zero value is valid.
type Options struct {
	// Prefix is prepended to the registry's items (generations and
	// records). Processes that share a registry must use the same prefix.
	// Default: DefaultPrefix.
	Prefix string
	// CacheFor is how long a process uses a function's generation before it
	// reads it again: the longest another process's ForgetAll goes unseen.
	// Negative means never cache (one `get` per Namespace). Default:
	// DefaultCacheFor.
	CacheFor time.Duration
	// Now tells the time. Default: time.Now.
	Now func() time.Time
}

// Registry is a generation-based [keyreg.Registry] on memcached. It is safe
// for concurrent use.
type Registry struct {
	client Client
	// meta is the Pool's meta-protocol client when client is a
	// memcachestore.Pool, nil otherwise.
	meta *mcmeta.Client
	opts Options
	gens sync.Map // fn → *generation
}

var _ keyreg.Registry = (*Registry)(nil)

// generation is a process's cached view of one function's generation.
type generation struct {
	// mu is held by the one caller reading the generation from memcached.
	mu  sync.Mutex
	gen atomic.Uint64
	// fetched is when gen was read or set, in Unix nanoseconds; 0 when it
	// has never been.
	fetched atomic.Int64
}

// New returns a Registry on client. When client is a
// [memcachestore.Pool], the Registry uses memcached's meta protocol for
// its generations (one `ma` that creates a missing one in the same round
// trip) and for Forget (one pipeline per server); on a server older than
// memcached 1.6.10 those calls fail with an error wrapping
// mcmeta.ErrServerTooOld (see memcachestore.Pool.CheckVersions).
// Errors wrap ErrInvalidOptions.
func New(client Client, o Options) (*Registry, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOptions)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	switch {
	case o.CacheFor == 0:
		o.CacheFor = DefaultCacheFor
	case o.CacheFor < 0:
		o.CacheFor = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Registry{client: client, opts: o}
	if p, ok := client.(interface{ Meta() *mcmeta.Client }); ok {
		r.meta = p.Meta()
	}
	return r, nil
}

func (r *Registry) entry(fn string) *generation {
	if g, ok := r.gens.Load(fn); ok {
		return g.(*generation)
	}
	g, _ := r.gens.LoadOrStore(fn, new(generation))
	return g.(*generation)
}

func (r *Registry) genKey(fn string) string {
	return memcachekey.Mangle(r.opts.Prefix + "gen:" + fn)
}

// recKey is the record item of key for fn; the length of fn keeps
// (fn, key) pairs apart whatever bytes they hold.
func (r *Registry) recKey(fn, key string) string {
	return memcachekey.Mangle(r.opts.Prefix + "rec:" + strconv.Itoa(len(fn)) + ":" + fn + ":" + key)
}

func namespace(fn string, gen uint64) string {
	return fn + "#g" + strconv.FormatUint(gen, 10)
}

// Namespace returns "fn#g<generation>", the prefix of fn's keys. It costs
// no round trip while the process's copy of the generation is younger than
// Options.CacheFor, and one `get` otherwise (see the package overview).
// While one caller reads it, others use the copy they have. Errors come
// from the server, or wrap ErrBadGeneration.
func (r *Registry) Namespace(ctx context.Context, fn string) (string, error) {
	g := r.entry(fn)
	now := r.opts.Now().UnixNano()
	fetched := g.fetched.Load()
	if fetched != 0 && now-fetched < int64(r.opts.CacheFor) {
		return namespace(fn, g.gen.Load()), nil
	}
	if fetched != 0 && !g.mu.TryLock() {
		// Another caller is refreshing: the copy is good enough meanwhile.
		return namespace(fn, g.gen.Load()), nil
	} else if fetched == 0 {
		g.mu.Lock()
	}
	defer g.mu.Unlock()
	if f := g.fetched.Load(); f != fetched && f != 0 {
		return namespace(fn, g.gen.Load()), nil // refreshed while we waited
	}
	return r.refresh(ctx, fn, g, now)
}

// CurrentNamespace is Namespace read from memcached whatever the age of the
// process's copy (one `get`), which it refreshes: writes derive their keys
// from it (see keyreg.CurrentNamespacer).
func (r *Registry) CurrentNamespace(ctx context.Context, fn string) (string, error) {
	g := r.entry(fn)
	now := r.opts.Now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	return r.refresh(ctx, fn, g, now)
}

// refresh reads fn's generation into the process's copy g, read at now,
// and returns its namespace. The caller holds g.mu.
func (r *Registry) refresh(ctx context.Context, fn string, g *generation, now int64) (string, error) {
	gen, err := r.fetch(ctx, fn, g)
	if err != nil {
		return "", err
	}
	g.gen.Store(gen)
	g.fetched.Store(now)
	return namespace(fn, gen), nil
}

// fetch reads fn's generation from memcached, creating it when missing and
// moving it forward when it went back below the one last seen.
func (r *Registry) fetch(ctx context.Context, fn string, g *generation) (uint64, error) {
	key := r.genKey(fn)
	if r.meta != nil {
		gen, err := r.arith(ctx, fn, key, r.fresh(g), 0)
		if err != nil {
			return 0, err
		}
		if last := g.gen.Load(); gen < last {
			return r.incr(ctx, fn, g, last-gen+1)
		}
		return gen, nil
	}
	for range 3 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		it, err := r.client.Get(key)
		if errors.Is(err, memcache.ErrCacheMiss) {
			err = r.client.Add(&memcache.Item{Key: key, Value: strconv.AppendUint(nil, r.fresh(g), 10)})
			if err == nil || errors.Is(err, memcache.ErrNotStored) {
				continue // read back what is there now
			}
		}
		if err != nil {
			return 0, fmt.Errorf("memcachereg: generation of %q: %w", fn, err)
		}
		gen, err := strconv.ParseUint(string(it.Value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("memcachereg: generation of %q: %w: %q", fn, ErrBadGeneration, it.Value)
		}
		if last := g.gen.Load(); gen < last {
			// Lost and recreated lower than before: move past what this
			// process saw, so keys of that generation stay retired.
			return r.incr(ctx, fn, g, last-gen+1)
		}
		return gen, nil
	}
	return 0, fmt.Errorf("memcachereg: generation of %q vanished while being created", fn)
}

// fresh is the generation to create when fn's is missing: the time in
// milliseconds, or one above the last one seen if larger.
func (r *Registry) fresh(g *generation) uint64 {
	return max(uint64(r.opts.Now().UnixMilli()), g.gen.Load()+1)
}

// incr adds delta to fn's generation, creating it when missing.
func (r *Registry) incr(ctx context.Context, fn string, g *generation, delta uint64) (uint64, error) {
	key := r.genKey(fn)
	if r.meta != nil {
		return r.arith(ctx, fn, key, r.fresh(g), delta)
	}
	for range 3 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		gen, err := r.client.Increment(key, delta)
		if err == nil {
			return gen, nil
		}
		if !errors.Is(err, memcache.ErrCacheMiss) {
			return 0, fmt.Errorf("memcachereg: incr generation of %q: %w", fn, err)
		}
		gen = r.fresh(g)
		err = r.client.Add(&memcache.Item{Key: key, Value: strconv.AppendUint(nil, gen, 10)})
		if err == nil {
			return gen, nil
		}
		if !errors.Is(err, memcache.ErrNotStored) {
			return 0, fmt.Errorf("memcachereg: create generation of %q: %w", fn, err)
		}
		// Another process created it meanwhile: increment theirs.
	}
	return 0, fmt.Errorf("memcachereg: generation of %q vanished while being incremented", fn)
}

// arith adds delta to fn's generation under key and returns it, creating
// it as initial when missing, in one round trip: `ma <key> N0 J<initial>
// D<delta> v` (the meta protocol's increment, which creates a missing
// item in the same step).
func (r *Registry) arith(ctx context.Context, fn, key string, initial, delta uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	req := mcmeta.Request{Cmd: mcmeta.Arithmetic, Key: key, Flags: mcmeta.Flags(nil).Int('N', 0).Uint('J', initial).Uint('D', delta).Flag('v')}
	replies := make([]mcmeta.Reply, 1)
	err := r.meta.Do(ctx, []mcmeta.Request{req}, replies)
	rep := &replies[0]
	switch {
	case rep.Status == mcmeta.ClientError && strings.Contains(rep.Message, "non-numeric"):
		return 0, fmt.Errorf("memcachereg: generation of %q: %w", fn, ErrBadGeneration)
	case errors.Is(err, mcmeta.ErrTooOld):
		return 0, fmt.Errorf("memcachereg: generation of %q: %w: %w", fn, mcmeta.ErrServerTooOld, err)
	case err != nil:
		return 0, fmt.Errorf("memcachereg: generation of %q: %w", fn, err)
	}
	if rep.Status != mcmeta.VA {
		return 0, fmt.Errorf("memcachereg: generation of %q: unexpected reply %s %s", fn, rep.Status, rep.Message)
	}
	gen, err := strconv.ParseUint(string(rep.Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memcachereg: generation of %q: %w: %q", fn, ErrBadGeneration, rep.Value)
	}
	return gen, nil
}

// Record notes that key was stored for fn, with one `set` of a small item
// that expires after ttl (zero: kept until forgotten or evicted).
func (r *Registry) Record(ctx context.Context, fn, key string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := r.client.Set(&memcache.Item{Key: r.recKey(fn, key), Value: []byte{'1'}, Expiration: memcachekey.Expiration(ttl, r.opts.Now())})
	if err != nil {
		return fmt.Errorf("memcachereg: record %q: %w", key, err)
	}
	return nil
}

// Recorded reports whether key is recorded for fn, with one `get`.
func (r *Registry) Recorded(ctx context.Context, fn, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, err := r.client.Get(r.recKey(fn, key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, memcache.ErrCacheMiss):
		return false, nil
	}
	return false, fmt.Errorf("memcachereg: lookup %q: %w", key, err)
}

// Keys returns ErrNotListable: memcached cannot list a function's records.
func (r *Registry) Keys(context.Context, string) ([]string, error) {
	return nil, ErrNotListable
}

// Forget drops the records of keys for fn: one `delete` each, or on the
// meta protocol one pipeline of `md` per server.
func (r *Registry) Forget(ctx context.Context, fn string, keys ...string) error {
	if r.meta != nil && len(keys) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		reqs := make([]mcmeta.Request, len(keys))
		for i, key := range keys {
			reqs[i] = mcmeta.Request{Cmd: mcmeta.Delete, Key: r.recKey(fn, key)}
		}
		replies := make([]mcmeta.Reply, len(reqs))
		if err := r.meta.Do(ctx, reqs, replies); err != nil {
			if errors.Is(err, mcmeta.ErrTooOld) {
				err = fmt.Errorf("%w: %w", mcmeta.ErrServerTooOld, err)
			}
			return fmt.Errorf("memcachereg: forget %d keys: %w", len(keys), err)
		}
		for i, rep := range replies {
			if rep.Status != mcmeta.HD && rep.Status != mcmeta.NF {
				return fmt.Errorf("memcachereg: forget %q: %s %s", keys[i], rep.Status, rep.Message)
			}
		}
		return nil
	}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.client.Delete(r.recKey(fn, key)); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
			return fmt.Errorf("memcachereg: forget %q: %w", key, err)
		}
	}
	return nil
}

// ForgetAll retires every key of fn, in every process, by incrementing its
// generation with one `incr`; this process uses the new generation at once,
// others within Options.CacheFor. It returns no keys: the retired entries
// stay in memcached until their TTL. Errors come from the server.
func (r *Registry) ForgetAll(ctx context.Context, fn string) ([]string, error) {
	g := r.entry(fn)
	g.mu.Lock()
	defer g.mu.Unlock()
	gen, err := r.incr(ctx, fn, g, 1)
	if last := g.gen.Load(); err == nil && gen <= last {
		// The generation was lost and recreated lower: move past it.
		gen, err = r.incr(ctx, fn, g, last-gen+1)
	}
	if err != nil {
		return nil, err
	}
	g.gen.Store(gen)
	g.fetched.Store(r.opts.Now().UnixNano())
	return nil, nil
}
