package region

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/corralcache/corral/observe"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/serializer"
)

// Invalidation chooses how Region.Invalidate retires entries.
type Invalidation int

const (
	// Hard makes every entry created before the invalidation a miss: the
	// next caller waits for a new value.
	Hard Invalidation = iota
	// Soft makes every entry created before the invalidation stale: it is
	// served (under ServeStale) while one caller regenerates it.
	Soft
)

// Invalidation counts generations, not time. A region-wide invalidation
// raises the region's hard or soft generation, a cached function's
// InvalidateAll raises the function's generation; every entry carries the
// generations its creation began under, and an entry created under an older
// generation than the reader knows of is retired (missing, or stale for
// soft). Counters only move forward — on the server by a compare-and-swap
// that raises them, in a process by raise — so no clock, fast, slow or
// stopped, can bring a retired entry back.

// genView is a process's view of one shared generation counter.
type genView struct {
	gen atomic.Uint64
}

// raise moves the view to g unless it is already there or past it.
func (v *genView) raise(g uint64) {
	for {
		old := v.gen.Load()
		if g <= old || v.gen.CompareAndSwap(old, g) {
			return
		}
	}
}

// funcGen is the generation of one cached function's results, with the key
// under which it is shared.
type funcGen struct {
	genView
	key string // the backend key of the shared counter
}

// gens is the region's view of its generations.
type gens struct {
	hard, soft genView
	// checked is when the shared counters were last read from a byte
	// backend; refreshing lets one reader at a time do that.
	checked    atomic.Int64
	refreshing atomic.Bool
	// failing is set while the last refresh failed: the view may be older
	// than Config.InvalidationRefresh, so reads must not trust the backend
	// until a refresh succeeds. The next attempt is not before retryAt (in
	// monotonic time: the backoff is about the network, not the region's
	// clock); backoff is the wait that set it, doubled at each failure.
	failing          atomic.Bool
	retryAt, backoff atomic.Int64
}

// Bounds of the wait between refresh attempts after a failure.
const (
	minRefreshBackoff = 50 * time.Millisecond
	maxRefreshBackoff = 5 * time.Second
)

func (g *gens) of(how Invalidation) *genView {
	if how == Soft {
		return &g.soft
	}
	return &g.hard
}

// stampGens returns the generations a creation beginning now runs under;
// fn is the cached function's generation, or nil.
func (r *Region) stampGens(fn *funcGen) serializer.Gens {
	g := serializer.Gens{Hard: r.gens.hard.gen.Load(), Soft: r.gens.soft.gen.Load()}
	if fn != nil {
		g.Func = fn.gen.Load()
	}
	return g
}

// Invalidate retires every entry the region holds, in this process and, on a
// backend shared between processes, in every process: Hard makes them
// misses, Soft makes them stale. Every read that begins after Invalidate
// returns, in this process, sees it; other processes see it within
// Config.InvalidationRefresh. A creation that began before it and ends
// after it stores a value that is retired too. The backend's data is left in
// place and expires by its TTL, so no FLUSH of a shared server is needed.
// Errors wrap ErrBackend, or are ErrClosed or ErrNilContext.
func (r *Region) Invalidate(ctx context.Context, how Invalidation) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	if how != Hard && how != Soft {
		return fmt.Errorf("region: unknown Invalidation %d", how)
	}
	defer r.epochs.bumpAll()
	view := r.gens.of(how)
	if r.values != nil {
		view.gen.Add(1)
		return nil
	}
	return r.bump(ctx, r.markKey(how), view)
}

// bump raises the shared counter under key past every value it or view
// held, and raises view to it. On a backend without conditional writes the
// read and the write are not atomic: two concurrent bumps may count once,
// which retires the same entries.
func (r *Region) bump(ctx context.Context, key string, view *genView) error {
	if err := r.admit(ctx); err != nil {
		view.gen.Add(1) // the invalidation holds in this process at least
		return err
	}
	t0 := r.tick()
	next, err := r.bumpShared(ctx, key, view.gen.Load())
	r.took(observe.TimingBackend, observe.OpBumpGeneration, t0)
	r.settle(ctx, err)
	if err != nil {
		// The invalidation holds in this process at least.
		view.gen.Add(1)
		return r.backendError(ctx, "invalidate", key, err)
	}
	view.raise(next)
	return nil
}

// maxBumpTries bounds the compare-and-swap loop of bumpShared under
// contention.
const maxBumpTries = 32

// errBumpContended is returned when maxBumpTries compare-and-swaps lost.
var errBumpContended = errors.New("region: invalidation counter too contended")

func (r *Region) bumpShared(ctx context.Context, key string, seen uint64) (uint64, error) {
	c, ok := r.cfg.Backend.(backend.Conditional)
	if !ok {
		data, err := r.cfg.Backend.Get(ctx, key)
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return 0, err
		}
		next := nextGen(data, seen)
		return next, r.cfg.Backend.Set(ctx, key, encodeGen(next), 0)
	}
	for range maxBumpTries {
		vals, vers, err := c.GetForUpdate(ctx, []string{key}, r.cfg.LockTTL)
		if err != nil {
			return 0, err
		}
		next := nextGen(vals[0], seen)
		stored, err := c.SetIf(ctx, []backend.Item{{Key: key, Value: encodeGen(next)}}, vers)
		if err != nil {
			return 0, err
		}
		if stored[0] {
			return next, nil
		}
	}
	return 0, errBumpContended
}

// nextGen is the counter that follows data (the stored counter, or nil when
// there is none) and seen (this process's view). A counter that is missing
// — never written, or evicted by a memcached short of memory — starts past
// the clock in milliseconds, so it lands above the counts it lost unless
// more than a thousand invalidations a second were made, or this clock is
// behind the one that made them.
func nextGen(data []byte, seen uint64) uint64 {
	cur, ok := decodeGen(data)
	if !ok {
		cur = max(seen, uint64(time.Now().UnixMilli()))
	}
	return max(cur, seen) + 1
}

func encodeGen(g uint64) []byte { return binary.BigEndian.AppendUint64(nil, g) }

func decodeGen(data []byte) (uint64, bool) {
	if len(data) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(data), true
}

// refreshGens reads the shared generation counters (the region's and its
// cached functions') from a byte backend when the local view is older than
// Config.InvalidationRefresh, in one multi-get. One caller at a time
// refreshes; the others go on with the view they have.
//
// A refresh that fails is retried after a backoff (minRefreshBackoff,
// doubling up to Config.BreakerCooldown or maxRefreshBackoff, whichever is
// shorter), not at the next call; while the breaker is not closed, the
// breaker's probe refreshes them (see Region.probe). Until one
// succeeds the view may be older than the bound, so the callers get an
// error (the refresh's, or r.gensErr without touching the network) and
// must not serve what the backend holds: they skip it, as for any backend
// failure.
func (r *Region) refreshGens(ctx context.Context) error {
	now := r.now()
	// A clock stepped back (age below zero) makes the refresh due at once,
	// rather than delay it by the step.
	if age := now - r.gens.checked.Load(); age >= 0 && age < int64(r.cfg.InvalidationRefresh) {
		return nil
	}
	failing := r.gens.failing.Load()
	if failing {
		if r.brk != nil && BreakerState(r.brk.state.Load()) != BreakerClosed {
			// The breaker's probe refreshes the generations (see
			// Region.probe): ask the breaker, which may send it, not
			// the backend.
			if err := r.admit(ctx); err != nil {
				return err
			}
		} else if r.gens.retryAt.Load() > monotonic() {
			r.stats.backendSkipped.Add(1)
			return r.gensErr
		}
	}
	if !r.gens.refreshing.CompareAndSwap(false, true) {
		if failing { // another caller is retrying; the view is not to be trusted yet
			r.stats.backendSkipped.Add(1)
			return r.gensErr
		}
		return nil
	}
	defer r.gens.refreshing.Store(false)
	keys, views := r.genKeys()
	if err := r.readGens(ctx, keys, views); err != nil {
		switch {
		case errors.Is(err, ErrBreakerOpen):
			// Not asked: the breaker paces the attempts, and its probe may
			// be the next refresh.
			r.gens.failing.Store(true)
		case ctx.Err() == nil: // the backend's failure, not the caller giving up
			ceiling := min(int64(maxRefreshBackoff), int64(r.cfg.BreakerCooldown))
			b := min(max(2*r.gens.backoff.Load(), int64(minRefreshBackoff)), ceiling)
			r.gens.backoff.Store(b)
			r.gens.retryAt.Store(monotonic() + b)
			r.gens.failing.Store(true)
		}
		return err
	}
	r.gens.refreshed(now)
	return nil
}

// refreshed records a successful read of every shared generation, begun at
// now (the region's clock).
func (g *gens) refreshed(now int64) {
	g.checked.Store(now)
	g.backoff.Store(0)
	g.failing.Store(false)
}

// genKeys returns the keys of every shared generation the region follows
// (its own and its cached functions'), with the views they raise.
func (r *Region) genKeys() ([]string, []*genView) {
	keys := []string{r.markKey(Hard), r.markKey(Soft)}
	views := []*genView{&r.gens.hard, &r.gens.soft}
	r.fgens.Range(func(_, v any) bool {
		fg := v.(*funcGen)
		keys, views = append(keys, fg.key), append(views, &fg.genView)
		return true
	})
	return keys, views
}

// readGensFor reads, whatever their age, the shared generations a creation
// is stamped with — the region's, and fn's when not nil — so that it carries
// every invalidation completed before it began, in any process.
func (r *Region) readGensFor(ctx context.Context, fn *funcGen) error {
	keys := []string{r.markKey(Hard), r.markKey(Soft)}
	views := []*genView{&r.gens.hard, &r.gens.soft}
	if fn != nil {
		keys, views = append(keys, fn.key), append(views, &fn.genView)
	}
	return r.readGens(ctx, keys, views)
}

// readGens reads the counters under keys in one multi-get and raises
// views[i] to the one under keys[i]. err reports a backend failure, already
// counted and logged, or a backend skipped (ErrBreakerOpen).
func (r *Region) readGens(ctx context.Context, keys []string, views []*genView) error {
	if err := r.admit(ctx); err != nil {
		return err
	}
	t0 := r.tick()
	data, err := r.cfg.Backend.GetMulti(ctx, keys)
	r.took(observe.TimingBackend, observe.OpReadGens, t0)
	r.settle(ctx, err)
	if err != nil {
		return r.backendError(ctx, "read invalidation generations", keys[0], err)
	}
	for i, d := range data {
		if g, ok := decodeGen(d); ok && i < len(views) {
			views[i].raise(g)
		}
	}
	return nil
}

// markKey is the backend key of the region-wide generation of kind how.
func (r *Region) markKey(how Invalidation) string {
	return r.mangle(markKey(r.cfg.Namespace, how))
}
