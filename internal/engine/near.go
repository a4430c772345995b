package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/keyspace"
	"github.com/corralcache/corral/internal/near"
	"github.com/corralcache/corral/serializer"
)

// nearWatch is the engine's end of its backend's invalidation stream.
type nearWatch struct {
	prefix string // what the region's value keys begin with
	stop   func() // ends the watch; nil without one
	// loggedDown is set once the stream's interruption was logged, until
	// it is back.
	loggedDown atomic.Bool
}

// startNear builds the near cache, when configured (see region.NearConfig).
func (e *Engine) startNear() error {
	max := e.cfg.NearMaxEntries
	if max == 0 {
		return nil
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: region %q: Near: %s", ErrInvalidConfig, e.name, fmt.Sprintf(format, args...))
	}
	switch {
	case max < 0:
		return invalid("MaxEntries %d is negative", max)
	case e.cfg.NearMaxStaleness < 0:
		return invalid("MaxStaleness %v is negative", e.cfg.NearMaxStaleness)
	case e.KeepsValues():
		return invalid("the backend keeps decoded values in this process already")
	case e.cfg.KeyMangler != nil:
		return invalid("a KeyMangler hides the key layout that invalidations are matched against")
	}
	inv, push := backend.As[backend.Invalidator](e.cfg.Backend)
	maxStale := int64(e.cfg.NearMaxStaleness)
	if !push && maxStale == 0 {
		maxStale = int64(DefaultNearMaxStaleness)
	}
	n, err := near.New(max, maxStale, e.monoNow, !push)
	if err != nil {
		return invalid("%v", err)
	}
	e.near = n
	e.nearWatch.prefix = keyspace.ValuePrefix(e.cfg.Namespace)
	if !push {
		return nil
	}
	stop, err := inv.WatchInvalidations(keyspace.Watched(e.cfg.Namespace), nearSink{e})
	if err != nil {
		n.Close()
		e.near = nil
		return invalid("watching invalidations: %v", err)
	}
	e.nearWatch.stop = stop
	return nil
}

func (e *Engine) stopNear() {
	if e.nearWatch.stop != nil {
		e.nearWatch.stop()
	}
	if e.near != nil {
		e.near.Close()
	}
}

// nearSink receives the backend's invalidations.
type nearSink struct{ e *Engine }

// Invalidate implements backend.InvalidationSink.
func (s nearSink) Invalidate(keys []string) {
	e := s.e
	if keys == nil {
		e.stats.nearFlushes.Add(context.Background(), 1) // pushed: no call
		e.near.Flush(e.near.Live())
		e.gens.MakeDue()
		return
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, e.nearWatch.prefix)
		switch {
		case ok && strings.HasSuffix(rest, keyspace.SuffixValue):
			e.near.Drop(rest[:len(rest)-len(keyspace.SuffixValue)])
		case keyspace.IsGeneration(k):
			e.gens.MakeDue() // an invalidation by generation: read them at the next call
		}
	}
}

// Live implements backend.InvalidationSink.
func (s nearSink) Live(live bool, err error) {
	e := s.e
	e.stats.nearFlushes.Add(context.Background(), 1) // pushed: no call
	was := e.near.Live()
	e.near.Flush(live)
	switch {
	case live:
		e.nearWatch.loggedDown.Store(false)
	case was || !e.nearWatch.loggedDown.Swap(true):
		// Once per outage, not at every attempt to reconnect.
		e.nearWatch.loggedDown.Store(true)
		e.warn(e.base, "corral: near cache invalidations interrupted; near cache flushed and off until they are back",
			"region", e.name, "err", err)
	}
}

// nearDrop drops the near copies of keys, and refuses the inserts of reads
// issued before: called when this process wrote them, before the write
// returns.
func (e *Engine) nearDrop(keys ...string) {
	if e.near == nil {
		return
	}
	for _, key := range keys {
		e.near.Drop(key)
	}
}

// NearGet returns key's near copy, if the near cache may serve one and the
// generations may be trusted (refreshed when due: an unreadable view
// serves nothing from the near cache either). It counts a near hit.
func (e *Engine) NearGet(ctx context.Context, key string) (*backend.Entry, bool) {
	if e.near == nil {
		return nil, false
	}
	en, ok := e.near.Get(key)
	if !ok || e.refreshGens(ctx) != nil {
		return nil, false
	}
	e.stats.nearHits.Add(ctx, 1)
	return en, true
}

// NearKeep keeps a value a typed first read decoded, read by a backend
// read that took tok before it was issued.
func (e *Engine) NearKeep(key string, tok near.Token, v any, m serializer.Meta) {
	if e.near != nil {
		en := &backend.Entry{Value: v, Created: m.Created, Expiration: m.Expiration, Gens: m.Gens, Delta: m.Delta}
		if m.Negative {
			en.Value = Negative // a cached "not found", not a zero value
		}
		e.near.Put(key, tok, en)
	}
}

// NearLen is the number of near copies held, for tests.
func (e *Engine) NearLen() int {
	if e.near == nil {
		return 0
	}
	return e.near.Len()
}
