package region

import (
	"time"

	"github.com/corralcache/corral/internal/engine"
)

// DefaultNearMaxStaleness is NearConfig.MaxStaleness on a backend that
// cannot push invalidations (memcached).
const DefaultNearMaxStaleness = engine.DefaultNearMaxStaleness

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
