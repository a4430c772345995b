package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Values too large for the backend (backend.ErrTooLarge: memcached's item
// size limit, say) are not a fault of the backend: they are returned to the
// callers, counted in Stats.NotCached rather than Stats.BackendErrors, do
// not count against the circuit breaker, and are logged once per key — a
// hot key that is always too large would otherwise log on every call.

// tooLargeSlots bounds the memory of the "once per key" bookkeeping: a
// key's log line may come again once tooLargeSlots other oversized keys
// have come and gone (or one shared its slot).
const tooLargeSlots = 1024

// tooLargeLog remembers recently logged oversized keys, by hash, in a
// direct-mapped table made on first use.
type tooLargeLog struct {
	once  sync.Once
	slots *[tooLargeSlots]atomic.Uint64
}

// first reports whether key is not among the remembered ones, and
// remembers it.
func (t *tooLargeLog) first(key string) bool {
	t.once.Do(func() { t.slots = new([tooLargeSlots]atomic.Uint64) })
	h := xxhash.Sum64String(key) | 1 // never 0, the empty slot
	return t.slots[h%tooLargeSlots].Swap(h) != h
}

// notStoredTooLarge counts keys, whose values the backend refused as too
// large (err), as not cached, logs each once, and returns an error for a
// caller that asked to write them.
func (e *Engine) notStoredTooLarge(ctx context.Context, keys []string, err error) error {
	e.stats.notCached.Add(ctx, uint64(len(keys)))
	for _, key := range keys {
		if e.tooLarge.first(key) {
			e.warn(ctx, "corral: value too large for the backend: returned but not cached; Config.CompressAbove compresses large values and may bring it under the limit",
				"region", e.name, "key", key, "compress_above", e.cfg.CompressAbove, "err", err)
		}
	}
	return fmt.Errorf("region %q: key %q: value not cached (Config.CompressAbove may bring it under the limit): %w", e.name, keys[0], err)
}
