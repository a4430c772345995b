package memcachestore

import (
	"time"

	"github.com/corralcache/corral/internal/memcachekey"
)

// MaxKeyLen is the longest key memcached accepts, in bytes.
const MaxKeyLen = memcachekey.MaxLen

// MangleKey returns the key memcached stores key under. Legal keys (at most
// MaxKeyLen bytes, no byte at or below the space, no DEL) come back
// unchanged. Any other key becomes a readable prefix (its first bytes, each
// forbidden byte replaced by '_') followed by '~' and the hex SHA-256 of the
// whole key: the same result in every process, at most MaxKeyLen bytes.
//
// A legal key that already ends with '~' and 64 lowercase hex digits is
// mangled too, so that no legal key can equal the mangled form of another
// key: MangleKey is injective unless SHA-256 collides. The memcached locker
// and key registry mangle their keys the same way.
func MangleKey(key string) string { return memcachekey.Mangle(key) }

// Expiration returns memcached's expiration field for a TTL starting at
// now: 0 (no expiry) for a zero ttl; -1 (expired at once) for a negative
// one; otherwise ttl in whole seconds rounded up, so never 0; and beyond 30
// days the absolute Unix time now+ttl, since memcached reads larger values
// as Unix times.
//
// NOTE: memcached's clock ticks once per second, so an item written with N
// seconds lives between N-1 and N seconds. Callers that need at least ttl
// (locks) add a second.
func Expiration(ttl time.Duration, now time.Time) int32 { return memcachekey.Expiration(ttl, now) }
