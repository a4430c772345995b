// Package memcachekey turns corral's keys into keys memcached accepts and
// TTLs into memcached's expiration field. The memcached store, locker and
// key registry share it, so that none of them imports another.
package memcachekey

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"time"
	"unicode/utf8"
)

const (
	// MaxLen is the longest key memcached accepts, in bytes.
	MaxLen = 250
	// hashLen is the length of the hex SHA-256 a mangled key ends with.
	hashLen = 2 * sha256.Size
	// marker separates a mangled key's readable prefix from its hash.
	marker = '~'
	// prefixLen is the longest readable prefix of a mangled key.
	prefixLen = MaxLen - hashLen - 1
	// maxRelative is the longest expiration memcached takes as relative to
	// now, in seconds (30 days); longer ones are absolute Unix times.
	maxRelative = 30 * 24 * 60 * 60
)

// Mangle returns the key memcached stores key under. Legal keys (at most
// MaxLen bytes, no byte at or below the space, no DEL) come back
// unchanged. Any other key becomes a readable prefix (its first bytes, each
// forbidden byte replaced by '_') followed by '~' and the hex SHA-256 of the
// whole key: the same result in every process, at most MaxLen bytes.
//
// A legal key that already ends with '~' and 64 lowercase hex digits is
// mangled too, so that no legal key can equal the mangled form of another
// key: Mangle is injective unless SHA-256 collides.
//
// NOTE: the result is part of the storage format: every process, build and
// version must map a key to the same memcached key.
func Mangle(key string) string {
	if legal(key) && !looksMangled(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	p := key
	if len(p) > prefixLen {
		p = p[:prefixLen]
		// Cut at a rune boundary, for readability only.
		for i := 0; i < utf8.UTFMax && len(p) > 0 && !utf8.ValidString(p); i++ {
			p = p[:len(p)-1]
		}
	}
	out := make([]byte, 0, len(p)+1+hashLen)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c == 0x7f {
			c = '_'
		}
		out = append(out, c)
	}
	out = append(out, marker)
	out = hex.AppendEncode(out, sum[:])
	return string(out)
}

// legal reports whether memcached accepts key as it is.
func legal(key string) bool {
	if len(key) == 0 || len(key) > MaxLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// looksMangled reports whether key has the shape of Mangle's output.
func looksMangled(key string) bool {
	if len(key) < hashLen+1 || key[len(key)-hashLen-1] != marker {
		return false
	}
	for i := len(key) - hashLen; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Expiration returns memcached's expiration field for a TTL starting at
// now: 0 (no expiry) for a zero ttl; -1 (expired at once) for a negative
// one; otherwise ttl in whole seconds rounded
// up, so never 0; and beyond 30 days the absolute Unix time now+ttl, since
// memcached reads larger values as Unix times.
//
// NOTE: memcached's clock ticks once per second, so an item written with N
// seconds lives between N-1 and N seconds. Callers that need at least ttl
// (locks) add a second.
func Expiration(ttl time.Duration, now time.Time) int32 {
	switch {
	case ttl == 0:
		return 0
	case ttl < 0:
		return -1
	}
	secs := int64(ttl / time.Second)
	if ttl%time.Second != 0 {
		secs++
	}
	if secs <= maxRelative {
		return int32(secs)
	}
	abs := now.Unix() + secs
	if secs > math.MaxInt32 || abs > math.MaxInt32 {
		abs = math.MaxInt32
	}
	return int32(abs)
}
