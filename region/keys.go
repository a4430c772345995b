package region

import (
	"strconv"
	"strings"
)

// Key layout.
//
// Every key a region sends to a backend or a locker is built here, in one
// layout that no user key can escape: the namespace is length-prefixed, the
// user's key (or the function's name) sits inside a Redis Cluster hash tag,
// and a fixed suffix after the last '}' says what the key holds:
//
//	kind                  key                                  example (namespace "users")
//	value                 c1:{<len(ns)>:<ns>:<key>}:v          c1:{5:users:user:42}:v
//	dogpile lock          c1:{<len(ns)>:<ns>:<key>}:l          c1:{5:users:user:42}:l
//	region invalidation   c1:{<len(ns)>:<ns>}:g:hard (…:soft)  c1:{5:users}:g:hard
//	function generation   c1:{<len(ns)>:<ns>:<len(fn)>:<fn>}:f c1:{5:users:11:db.LoadUser}:f
//	registry scope        <len(ns)>:<ns>:<function name>       5:users:db.LoadUser
//
// Decoding a key: the suffix is what follows the last '}' (no suffix holds
// one); the length prefix says where the namespace ends; the rest, up to the
// last '}', is the user's key. So two different (namespace, key) pairs never
// give one key, and a value key is never a lock or a generation, whatever bytes the
// key holds. A value and its lock share the hash tag, hence the Cluster hash
// slot, so one script can check and write both. "c1" is the layout's
// version: keys written by an older layout are simply not found.
//
// The registry scope is the function identity a region hands to its
// keyreg.Registry, which adds its own prefix (redisreg: "corral:keyreg:",
// memcachereg: "corral:reg:"): regions that share a registry keep apart.
const (
	layoutPrefix = "c1:{"
	suffixValue  = "}:v"
	suffixLock   = "}:l"
	// suffixFuncGen ends the key of a cached function's generation.
	suffixFuncGen = "}:f"
)

// markSuffixes are the suffixes of the region-wide invalidation marks, by
// Invalidation.
var markSuffixes = [2]string{"}:g:hard", "}:g:soft"}

// scoped appends the length-prefixed namespace and a colon to b.
func scoped(b []byte, ns string) []byte {
	b = strconv.AppendInt(b, int64(len(ns)), 10)
	b = append(b, ':')
	return append(b, ns...)
}

// layoutKey is layoutPrefix + scoped(ns) + ":" + key + suffix.
func layoutKey(ns, key, suffix string) string {
	b := make([]byte, 0, len(layoutPrefix)+len(ns)+len(key)+len(suffix)+6)
	b = append(b, layoutPrefix...)
	b = scoped(b, ns)
	b = append(b, ':')
	b = append(b, key...)
	return string(append(b, suffix...))
}

// markKey is the key of the region-wide invalidation mark of kind how.
func markKey(ns string, how Invalidation) string {
	var b strings.Builder
	b.WriteString(layoutPrefix)
	b.Write(scoped(nil, ns))
	b.WriteString(markSuffixes[how])
	return b.String()
}

// funcGenKey is the key of the generation counter of the cached function fn:
// the function's name, length-prefixed, sits inside the hash tag, so no name
// can make it another kind of key.
func funcGenKey(ns, fn string) string {
	b := append([]byte(layoutPrefix), scoped(nil, ns)...)
	b = append(b, ':')
	b = scoped(b, fn)
	return string(append(b, suffixFuncGen...))
}

// registryScope is the identity under which a region files the keys of its
// cached function fn in its registry.
func registryScope(ns, fn string) string {
	return string(append(append(scoped(nil, ns), ':'), fn...))
}
