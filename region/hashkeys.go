package region

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/corralcache/corral/internal/keyspace"
)

// MinHashKeysSecret is the shortest secret HashKeys accepts, in bytes.
const MinHashKeysSecret = 32

// hashedTag starts the hash tag of a key HashKeys hashed. No key of the
// layout has it: their tags start with the namespace's length, a digit.
const hashedTag = "h:"

// HashKeys returns a Config.KeyMangler that hides the names of keys from
// the cache server: the part of each key that holds the namespace, the
// caller's key or a cached function's name (the Redis Cluster hash tag
// between "{" and the last "}") becomes its HMAC-SHA256 under secret, and
// the suffix that says what the key holds (value, lock, generation) stays.
// So c1:{5:users:user:42}:v becomes c1:{h:<43 characters>}:v, and a value
// and its lock still share a hash slot. Keys of no layout are hashed whole.
// Every process given the same secret derives the same keys.
//
// secret must be at least MinHashKeysSecret random bytes, kept as secret as
// a Keyring's keys (with it, anyone can test guesses of a key name);
// HashKeys copies it. Changing it starts with a cold cache. Errors wrap
// ErrInvalidConfig.
//
// What it costs: nobody can list or inspect a region's keys on the server
// (use Region.BackendKey to find one); one HMAC per key built, about a
// microsecond. What it does not hide: the region's key registry files the
// keys of cached functions under their function's name — redisreg keeps
// them in a set on the server, memcachereg keeps function names in its
// counters' keys — so a region that must not show them there uses an
// in-process registry (keyreg.NewMemory: InvalidateAll still reaches every
// process through the function's generation, which is hashed; only the
// eager delete of the listed keys stays in the process that cached them).
// Values are hidden by Config.Keyring, not by HashKeys.
func HashKeys(secret []byte) (func(string) string, error) {
	if len(secret) < MinHashKeysSecret {
		return nil, fmt.Errorf("%w: HashKeys secret is %d bytes, want at least %d", ErrInvalidConfig, len(secret), MinHashKeysSecret)
	}
	key := append([]byte(nil), secret...)
	macs := sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
	return func(k string) string {
		mac := macs.Get().(hash.Hash)
		defer macs.Put(mac)
		mac.Reset()
		var sum [sha256.Size]byte
		end := strings.LastIndexByte(k, '}')
		if strings.HasPrefix(k, keyspace.Prefix) && end >= len(keyspace.Prefix) {
			mac.Write([]byte{'t'}) // a tag, apart from whole keys
			mac.Write([]byte(k[len(keyspace.Prefix):end]))
			return keyspace.Prefix + hashedTag + base64.RawURLEncoding.EncodeToString(mac.Sum(sum[:0])) + k[end:]
		}
		mac.Write([]byte{'k'})
		mac.Write([]byte(k))
		return hashedTag + base64.RawURLEncoding.EncodeToString(mac.Sum(sum[:0]))
	}, nil
}
