// Package keyspace builds every key a region sends to a backend, a locker or
// a key registry, in one layout that no caller's key can escape.
//
// The namespace is length-prefixed, the caller's key (or a cached function's
// name) sits inside a Redis Cluster hash tag, and a fixed suffix after the
// last '}' says what the key holds:
//
//	kind                  key                                  example (namespace "users")
//	value                 c1:{<len(ns)>:<ns>:<key>}:v          c1:{5:users:user:42}:v
//	dogpile lock          c1:{<len(ns)>:<ns>:<key>}:l          c1:{5:users:user:42}:l
//	region invalidation   c1:{<len(ns)>:<ns>}:g:hard (…:soft)  c1:{5:users}:g:hard
//	function generation   c1:{<len(ns)>:<ns>:<len(fn)>:<fn>}:f c1:{5:users:11:db.LoadUser}:f
//	registry scope        <len(ns)>:<ns>:<function name>       5:users:db.LoadUser
//	tag generation        c1:{t:<len(tag)>:<tag>}:t            c1:{t:7:user:42}:t
//
// A tag's counter is in no namespace: regions that share a backend share
// their tags. Its hash tag starts with "t:", never a digit, so it is no
// namespace's key.
//
// Decoding a key: the suffix is what follows the last '}' (no suffix holds
// one); the length prefix says where the namespace ends; the rest, up to the
// last '}', is the caller's key. So two different (namespace, key) pairs
// never give one key, and a value key is never a lock or a generation,
// whatever bytes the key holds. A value and its lock share the hash tag,
// hence the Cluster hash slot, so one script can check and write both. "c1"
// is the layout's version: keys written by an older layout are simply not
// found.
//
// The registry scope is the function identity a region hands to its
// keyreg.Registry, which adds its own prefix (redisreg: "corral:keyreg:",
// memcachereg: "corral:reg:"): regions that share a registry keep apart.
package keyspace

import (
	"strconv"
	"strings"
)

// The parts of the layout.
const (
	Prefix      = "c1:{"
	SuffixValue = "}:v"
	SuffixLock  = "}:l"
	// SuffixFuncGen ends the key of a cached function's generation.
	SuffixFuncGen = "}:f"
	// SuffixHard and SuffixSoft end the keys of the region-wide
	// invalidation generations.
	SuffixHard = "}:g:hard"
	SuffixSoft = "}:g:soft"
	// SuffixTag ends the key of a tag's generation.
	SuffixTag = "}:t"
)

// Tag is the key of tag's generation counter.
func Tag(tag string) string {
	b := append([]byte(Prefix), "t:"...)
	b = Scoped(b, tag)
	return string(append(b, SuffixTag...))
}

// Scoped appends the length-prefixed namespace to b.
func Scoped(b []byte, ns string) []byte {
	b = strconv.AppendInt(b, int64(len(ns)), 10)
	b = append(b, ':')
	return append(b, ns...)
}

// Key is Prefix + Scoped(ns) + ":" + key + suffix.
func Key(ns, key, suffix string) string {
	b := make([]byte, 0, len(Prefix)+len(ns)+len(key)+len(suffix)+6)
	b = append(b, Prefix...)
	b = Scoped(b, ns)
	b = append(b, ':')
	b = append(b, key...)
	return string(append(b, suffix...))
}

// Value is the key of key's value in namespace ns.
func Value(ns, key string) string { return Key(ns, key, SuffixValue) }

// Lock is the key of key's dogpile lock in namespace ns.
func Lock(ns, key string) string { return Key(ns, key, SuffixLock) }

// Mark is the key of a region-wide invalidation generation of namespace ns:
// the hard one, or the soft one when soft is set.
func Mark(ns string, soft bool) string {
	suffix := SuffixHard
	if soft {
		suffix = SuffixSoft
	}
	var b strings.Builder
	b.WriteString(Prefix)
	b.Write(Scoped(nil, ns))
	b.WriteString(suffix)
	return b.String()
}

// FuncGen is the key of the generation counter of the cached function fn:
// the function's name, length-prefixed, sits inside the hash tag, so no
// name can make it another kind of key.
func FuncGen(ns, fn string) string {
	b := append([]byte(Prefix), Scoped(nil, ns)...)
	b = append(b, ':')
	b = Scoped(b, fn)
	return string(append(b, SuffixFuncGen...))
}

// RegistryScope is the identity under which a region files the keys of its
// cached function fn in its registry.
func RegistryScope(ns, fn string) string {
	return string(append(append(Scoped(nil, ns), ':'), fn...))
}

// Watched is the prefix of every key of namespace ns: values, locks,
// function generations and region-wide marks. The length in front of the
// namespace keeps other namespaces out.
func Watched(ns string) string { return Prefix + string(Scoped(nil, ns)) }

// ValuePrefix is what the value keys of namespace ns begin with, before the
// caller's key.
func ValuePrefix(ns string) string { return Key(ns, "", "") }

// IsGeneration reports whether k is the key of a generation counter: a
// region-wide mark or a cached function's.
func IsGeneration(k string) bool {
	return strings.HasSuffix(k, SuffixFuncGen) || strings.HasSuffix(k, SuffixHard) || strings.HasSuffix(k, SuffixSoft) || strings.HasSuffix(k, SuffixTag)
}
