package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/flight"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/internal/near"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/serializer"
)

// The read path: a call's first read, whether what it found will do, and
// what happens when it will not — the dogpile algorithm of DESIGN.md, for
// one key.

// Freshness of an entry, as a reader judges it.
type Freshness int

const (
	Missing Freshness = iota // no entry, or one retired by a generation
	Stale                    // past its expiration, or a soft invalidation
	Fresh
	Due // fresh, and the read drew an early refresh (see EarlyRefresh)
)

// Judge tells whether an entry stored at created with soft expiration exp,
// whose creation began under g, is fresh, stale or as good as missing at
// now; fn is the generation of the cached function it belongs to, if any.
// An entry that carries tags is judged against them too (tagsCurrent).
func (e *Engine) Judge(ctx context.Context, created int64, exp time.Duration, g *serializer.Gens, fn *gens.Func, now int64) Freshness {
	f := e.gens.Judge(g, fn)
	if f != gens.Retired && g.Tags != (serializer.Tags{}) && !e.tagsCurrent(ctx, g) {
		f = gens.Retired
	}
	switch f {
	case gens.Retired:
		return Missing
	case gens.Stale:
		return Stale
	}
	if exp > 0 && now-created >= int64(exp) {
		return Stale
	}
	return Fresh
}

// freshnessOf is Judge for an entry that may be nil (missing).
func (e *Engine) freshnessOf(ctx context.Context, en *backend.Entry, fn *gens.Func, now int64) Freshness {
	if en == nil {
		return Missing
	}
	return e.Judge(ctx, en.Created, en.Expiration, &en.Gens, fn, now)
}

// JudgeDrawn is Judge, with an early refresh drawn for a fresh entry whose
// creation took delta (see Drawn).
func (e *Engine) JudgeDrawn(ctx context.Context, created int64, exp, delta time.Duration, g *serializer.Gens, fn *gens.Func, now int64) Freshness {
	return e.drawn(e.Judge(ctx, created, exp, g, fn, now), created, exp, delta, now)
}

// fetched is a shared backend read's result: the bytes and the near token
// taken before it was sent.
type fetched struct {
	data []byte
	tok  near.Token
}

// ReadShared is a call's first read of key's bytes, shared with the
// goroutines of this process that read at the same moment: only a read
// sent after this call began (see flight.Reads, which batches the reads of
// many keys into one multi-get), so that it never returns what a write
// completed before the call — in any process — replaced. While the breaker
// is not closed nobody shares: a read in flight may be waiting for a
// timeout.
func (e *Engine) ReadShared(ctx context.Context, key string) ([]byte, near.Token, error) {
	if e.breakerOpen() {
		f, err := e.readBatch(ctx, []string{key})
		if err != nil {
			return nil, near.Token{}, err
		}
		return f[0].data, f[0].tok, nil
	}
	f, err := e.reads.Do(ctx, key, e.readBatch)
	return f.data, f.tok, err
}

// readBatch reads the bytes of keys, taking each one's near token before
// the read: one Get for one key, one multi-get for several.
func (e *Engine) readBatch(ctx context.Context, keys []string) ([]fetched, error) {
	out := make([]fetched, len(keys))
	for i, key := range keys {
		out[i].tok = e.near.Token(key)
	}
	if len(keys) == 1 {
		data, err := e.get(ctx, keys[0])
		out[0].data = data
		return out, err
	}
	data, err := e.getMulti(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, d := range data {
		if d != nil {
			out[i].data = d
		}
	}
	return out, nil
}

// Load reads key's entry for Get: from the near cache, the value store, or
// the backend (a read shared as ReadShared's, whose entry the near cache
// keeps).
func (e *Engine) Load(ctx context.Context, key string, vt ValueType) (*backend.Entry, error) {
	if _, bytes := e.tier.(*byteTier); !bytes {
		return e.tier.load(ctx, key, vt, true)
	}
	if en, ok := e.NearGet(ctx, key); ok && (vt.Holds(en.Value) || IsNegative(en.Value)) {
		return en, nil
	}
	data, tok, err := e.ReadShared(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	en, err := e.decodeEntry(ctx, key, data, vt, true)
	if en != nil && e.near != nil {
		e.near.Put(key, tok, en)
	}
	return en, err
}

// LoadMulti reads the entries of keys, in order, for GetMulti: nil where
// there is none.
func (e *Engine) LoadMulti(ctx context.Context, keys []string, vt ValueType, data [][]byte) ([]*backend.Entry, error) {
	return e.tier.loadMulti(ctx, keys, vt, true, data)
}

// First is what a call's first read found, when the façade made it (typed,
// before the untyped core).
type First struct {
	Entry *backend.Entry
	Err   error
	Done  bool      // false: there was none; the core reads
	Due   bool      // Entry is fresh and the read drew an early refresh
	Began time.Time // when the read began, for a Tracer's span; zero: unknown
}

// Creator is an untyped creator of one value.
type Creator func(context.Context) (any, error)

// Count counts a call the façade answered from its first read: a fresh
// value (hit) or a stale one served while this process regenerates it.
// ctx is the call's.
func (e *Engine) Count(ctx context.Context, o observe.Outcome) {
	switch o {
	case observe.OutcomeHit:
		e.stats.hits.Add(ctx, 1)
	case observe.OutcomeStale:
		e.stats.staleServed.Add(ctx, 1)
	case observe.OutcomeShared:
		e.stats.shared.Add(ctx, 1)
	case observe.OutcomeCreated:
		e.stats.misses.Add(ctx, 1)
	}
}

// CountMiss counts reads of Get and GetMulti that found nothing usable.
// ctx is the call's.
func (e *Engine) CountMiss(ctx context.Context, n int) { e.stats.misses.Add(ctx, uint64(n)) }

// Regenerating reports whether this process is creating key's value.
func (e *Engine) Regenerating(key string) bool { return e.creations.Running(key) }

// GetOrCreate is GetOrCreate's untyped core, after the first read (first,
// when done).
func (e *Engine) GetOrCreate(ctx context.Context, key string, vt ValueType, create Creator, c *Call, first First) (any, error) {
	if err := CheckTags(c.Tags); err != nil {
		return nil, err
	}
	if e.cfg.Tracer != nil && !c.Traced {
		return e.traceCall(ctx, key, vt, create, c, first)
	}
	en, err := first.Entry, first.Err
	c.due = first.Due
	if !first.Done {
		if en, err = e.Load(ctx, key, vt); en != nil && !IsNegative(en.Value) {
			c.due = e.drawn(e.freshnessOf(ctx, en, c.Gen, e.Now()), en.Created, en.Expiration, en.Delta, e.Now()) == Due
		}
	}
	if err != nil {
		if e.cfg.FailClosed || ctx.Err() != nil || IsMismatch(err) {
			return nil, err
		}
		c.faulted = true
	}
	v, outcome, err := e.answer(ctx, key, en, vt, create, c)
	if _, ok := asOvertaken(err); ok {
		// The creation this call waited for was overtaken by a write of
		// the key, perhaps one that completed before this call began (in
		// another process), or could not take a lease: read again rather
		// than hand out what the write replaced. Once; then the creation's
		// value will do. A call that saw the backend fail does not ask it
		// again: it is answered by a creation that begins after it did.
		en, err, c.due = nil, nil, false
		if !c.faulted {
			en, err = e.tier.load(ctx, key, vt, false)
		}
		if err != nil {
			if e.cfg.FailClosed || IsMismatch(err) {
				return nil, err
			}
			c.faulted = true
		}
		if v, outcome, err = e.answer(ctx, key, en, vt, create, c); err != nil {
			if ov, ok := asOvertaken(err); ok {
				v, outcome, err = ov.Value, observe.OutcomeShared, nil
			}
		}
	}
	if err != nil {
		if outcome == 0 && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
			e.stats.misses.Add(ctx, 1) // a miss that no value answered
		}
		return nil, err
	}
	e.Count(ctx, outcome)
	c.report(outcome)
	return v, nil
}

// answer answers a call whose read found en (nil: missing).
func (e *Engine) answer(ctx context.Context, key string, en *backend.Entry, vt ValueType, create Creator, c *Call) (any, observe.Outcome, error) {
	switch e.freshnessOf(ctx, en, c.Gen, e.Now()) {
	case Fresh:
		if c.due {
			return e.refreshEarly(ctx, key, en, vt, create, c)
		}
		return en.Value, observe.OutcomeHit, nil
	case Stale:
		if !e.cfg.BlockOnStale {
			return e.serveStale(ctx, key, en, vt, create, c)
		}
	}
	return e.createMissing(ctx, key, vt, create, c)
}

// outcomeOf is the outcome of a call answered by a creation.
func outcomeOf(r flight.Result) observe.Outcome {
	switch r {
	case flight.Created:
		return observe.OutcomeCreated
	case flight.Shared:
		return observe.OutcomeShared
	}
	return 0
}

// wait is flight.Wait, with the outcome.
func wait(ctx context.Context, f *flight.Creation, leader bool, joined flight.Phase) (any, observe.Outcome, error) {
	v, r, err := flight.Wait(ctx, f, leader, joined)
	return v, outcomeOf(r), err
}

// serveStale handles a stale entry under ServeStale: the caller that takes
// the lease without waiting regenerates, everyone else gets the stale
// value.
func (e *Engine) serveStale(ctx context.Context, key string, en *backend.Entry, vt ValueType, create Creator, c *Call) (any, observe.Outcome, error) {
	f, leader := e.creations.Join(key, e.epochs.Of(key))
	if !leader {
		return en.Value, observe.OutcomeStale, nil
	}
	f.Begin()
	h := e.newHold(c)
	as, err := e.tryLease(ctx, h, []string{key}, vt, c.Gen, nil)
	if err != nil || as[0].status != backend.LeaseTaken || h.faulted {
		// Held elsewhere, or the backend or locker failed: serve the
		// stale value. It was read before the creation began, maybe
		// before a write: no answer for a caller that found the key
		// missing.
		e.releaseHold(ctx, h)
		e.creations.Land(key, f, en.Value, false, true, nil)
		return en.Value, observe.OutcomeStale, nil
	}
	if !e.regenerateAsync(ctx, key, h, as[0].entry, vt, create, c, f) {
		return nil, 0, ErrClosed
	}
	if e.cfg.BackgroundRegeneration {
		return en.Value, observe.OutcomeStale, nil
	}
	return wait(ctx, f, true, flight.Early)
}

// createMissing handles a missing entry (or a stale one under
// BlockOnStale): one caller of this process takes the lease and creates;
// the others of this process wait for its result. A caller that joined a
// stale-serving caller's creation, which ended without creating, tries
// again: the stale value was read before that creation began, perhaps
// before a write this caller saw complete.
func (e *Engine) createMissing(ctx context.Context, key string, vt ValueType, create Creator, c *Call) (any, observe.Outcome, error) {
	f, leader := e.creations.Join(key, e.epochs.Of(key))
	if !leader {
		// A caller of this process waits for another's creation no longer
		// than a caller of another process waits for its lock.
		bound, cancel := context.WithTimeout(ctx, e.cfg.LockWait)
		defer cancel()
		for !leader {
			joined := f.Phase()
			e.stats.lockWaits.Add(ctx, 1)
			_, st := e.startStep(ctx, observe.SpanLockWait, observe.TimingLockWait, key)
			v, outcome, err := wait(bound, f, false, joined)
			if err != nil && bound.Err() != nil && ctx.Err() == nil && !errors.Is(err, flight.ErrStale) {
				select {
				case <-f.Done(): // landed as the bound ran out: take its result
					v, outcome, err = wait(ctx, f, false, joined)
				default:
					err = e.lockTimeout(ctx, key)
					st.end(err)
					return nil, 0, err
				}
			}
			st.end(err)
			if !errors.Is(err, flight.ErrStale) {
				return v, outcome, err
			}
			f, leader = e.creations.Join(key, e.epochs.Of(key))
		}
	}
	started := e.runOwned(ctx, func(ctx context.Context) {
		e.fly(ctx, key, f, func() (any, bool, error) {
			w := e.lockWait(ctx)
			defer w.stop()
			f.Begin()
			h := e.newHold(c)
			a, err := e.waitLease(ctx, h, key, vt, c, w)
			if err != nil {
				if e.closed.Load() {
					err = ErrClosed
				}
				return nil, false, err
			}
			if a.status != backend.LeaseTaken {
				// Another creator stored it while this one waited.
				return a.entry.Value, false, nil
			}
			return e.regenerate(ctx, key, h, a.entry, vt, create, c, f)
		})
	})
	if !started {
		e.creations.Land(key, f, nil, false, false, ErrClosed)
		return nil, 0, ErrClosed
	}
	return wait(ctx, f, true, flight.Early)
}

// fly runs body, the work of a creation in a goroutine the engine owns,
// and lands the creation with its result. A panic in body lands it with a
// *PanicError, logged.
func (e *Engine) fly(ctx context.Context, key string, f *flight.Creation, body func() (any, bool, error)) {
	v, created, err := e.safely(ctx, key, body)
	e.creations.Land(key, f, v, created, false, err)
}

// refreshEarly answers a read of the fresh entry en that drew an early
// refresh: it returns en's value at once, as a hit, and starts one
// regeneration of key in a goroutine the engine owns if it takes the
// key's lease without waiting. A creation of key already under way in this
// process, or a lease held elsewhere, means someone is on it.
func (e *Engine) refreshEarly(ctx context.Context, key string, en *backend.Entry, vt ValueType, create Creator, c *Call) (any, observe.Outcome, error) {
	f, leader := e.creations.Join(key, e.epochs.Of(key))
	if !leader {
		return en.Value, observe.OutcomeHit, nil
	}
	f.Begin()
	h := e.newHold(c)
	as, err := e.tryLease(ctx, h, []string{key}, vt, c.Gen, nil)
	if err != nil || as[0].status != backend.LeaseTaken || h.faulted {
		e.releaseHold(ctx, h)
		e.creations.Land(key, f, en.Value, false, true, nil)
		return en.Value, observe.OutcomeHit, nil
	}
	c.early, c.earlyOf = true, en.Created
	if !e.regenerateAsync(ctx, key, h, as[0].entry, vt, create, c, f) {
		return nil, 0, ErrClosed
	}
	return en.Value, observe.OutcomeHit, nil
}

// regenerateAsync runs f's regeneration of key, with h held, in a
// goroutine the engine owns. false: the engine is closed; h is released
// and f landed with ErrClosed.
func (e *Engine) regenerateAsync(ctx context.Context, key string, h *hold, en *backend.Entry, vt ValueType, create Creator, c *Call, f *flight.Creation) bool {
	cc := *c
	started := e.goOwned(ctx, func(ctx context.Context) {
		e.fly(ctx, key, f, func() (any, bool, error) {
			return e.regenerate(ctx, key, h, en, vt, create, &cc, f)
		})
	})
	if !started {
		e.releaseHold(ctx, h)
		e.creations.Land(key, f, nil, false, false, ErrClosed)
	}
	return started
}

// regenerate is the creation step for one key, held in h, which read en
// under its lease: see createHeld. It tells f what became of a created
// value: stored under the lease, overtaken by a write of the key, or not
// stored because the backend failed.
func (e *Engine) regenerate(ctx context.Context, key string, h *hold, en *backend.Entry, vt ValueType, create Creator, c *Call, f *flight.Creation) (any, bool, error) {
	values, created, out, err := e.createHeld(ctx, h, []string{key}, []*backend.Entry{en}, e.single(create, c), c, f.Settle)
	if err != nil {
		return nil, false, err
	}
	switch {
	case out[0] == stored:
		f.Stored()
	case out[0] == overtaken:
		f.Overtaken()
	case created[0] && h.faulted:
		f.Faulted()
	}
	return values[0], created[0], nil
}

// drawn returns Due when state is Fresh and the read draws an early
// refresh of an entry stored at created with soft expiration exp, whose
// creation took delta, at now; otherwise state. See EarlyRefresh.
func (e *Engine) drawn(state Freshness, created int64, exp, delta time.Duration, now int64) Freshness {
	er := &e.cfg.EarlyRefresh
	if state != Fresh || !er.Enabled || exp <= 0 || delta <= 0 {
		return state
	}
	left := float64(created + int64(exp) - now) // > 0: the entry is fresh
	scale := float64(delta) * er.Beta
	if left > scale*maxDraw {
		return state
	}
	u := 1 - e.uniform()
	if !(u > 0 && u <= 1) {
		return state
	}
	if -scale*math.Log(u) >= left {
		return Due
	}
	return state
}

// uniform calls EarlyRefresh.Rand; a panic gives 1, which draws nothing.
func (e *Engine) uniform() (u float64) {
	defer func() {
		if p := recover(); p != nil {
			u = 1
			e.warn(context.Background(), "corral: EarlyRefresh.Rand panicked; no early refresh", "region", e.name, "panic", fmt.Sprint(p))
		}
	}()
	return e.cfg.EarlyRefresh.Rand()
}

// maxDraw bounds −ln(u) for the u a draw can give: 1 − Rand() with Rand()
// below 1 in float64 is at least 2⁻⁵³, and −ln(2⁻⁵³) ≈ 36.7. An entry
// further than maxDraw·δ·β from its expiry cannot be drawn, so the hit path
// skips the draw.
const maxDraw = 37

// EarlyRefresh is early refresh (XFetch), resolved; see
// region.EarlyRefresh.
type EarlyRefresh struct {
	Enabled bool
	Beta    float64
	Rand    func() float64
}

// traceCall is GetOrCreate for a region with a Tracer, for a call whose
// first read found no fresh value: the call runs under a SpanCall that
// ends with its outcome, and begins when the first read did (on a byte
// backend, where it is a round trip) or now.
func (e *Engine) traceCall(ctx context.Context, key string, vt ValueType, create Creator, c *Call, first First) (any, error) {
	ctx, sp := e.startSpan(ctx, observe.SpanStart{Kind: observe.SpanCall, Call: observe.CallGetOrCreate, Region: e.name, Key: key, Time: first.Began})
	c.Traced = true
	var o observe.Outcome
	asked := c.Outcome
	c.Outcome = &o
	v, err := e.GetOrCreate(ctx, key, vt, create, c, first)
	if asked != nil && err == nil {
		*asked = o
	}
	if sp != nil {
		e.endSpan(sp, o, err)
	}
	return v, err
}

// asOvertaken returns the *flight.OvertakenError err is, if it is one (an
// error path: the test allocates).
func asOvertaken(err error) (*flight.OvertakenError, bool) {
	if err == nil {
		return nil, false
	}
	var ov *flight.OvertakenError
	ok := errors.As(err, &ov)
	return ov, ok
}
