package redisstore

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/corralcache/corral/backend"
)

// Every Redis string the Store writes begins with a header: one kind byte and
// the write's version, 8 bytes big-endian. A value follows its header; a
// placeholder is a header alone. The kind bytes are never the first byte of
// UTF-8 text, JSON, or corral's serializer envelope (0xC1), so a string
// written by another client, or by corral before values had headers, is
// seldom taken for one of ours; reads report it missing.
const (
	headerLen       = 1 + 8
	kindValue       = 0xF5
	kindPlaceholder = 0xF6
)

// newVersion returns a random version that is not zero. Versions of one key
// are not counted: a SetIf succeeds with a stale version only if a later
// write drew the same 64 random bits, a chance of 2^-64 per write.
func newVersion() backend.Version {
	for {
		if v := rand.Uint64(); v != 0 {
			return backend.Version(v)
		}
	}
}

// appendHeader appends the header of kind and v to dst.
func appendHeader(dst []byte, kind byte, v backend.Version) []byte {
	return binary.BigEndian.AppendUint64(append(dst, kind), uint64(v))
}

// withHeader returns value behind the header of a new write of it.
func withHeader(value []byte) []byte {
	return append(appendHeader(make([]byte, 0, headerLen+len(value)), kindValue, newVersion()), value...)
}

// parse splits a stored string into its kind, version and value. ok is false
// for a string without a header of ours.
func parse[S string | []byte](s S) (kind byte, v backend.Version, value S, ok bool) {
	if len(s) < headerLen || (s[0] != kindValue && s[0] != kindPlaceholder) {
		return 0, 0, s[:0], false
	}
	for i := 1; i < headerLen; i++ {
		v = v<<8 | backend.Version(s[i])
	}
	return s[0], v, s[headerLen:], true
}

// payload returns the value a stored string holds, or false for a
// placeholder or a string without a header.
func payload[S string | []byte](s S) (S, bool) {
	kind, _, value, ok := parse(s)
	if !ok || kind != kindValue {
		return s[:0], false
	}
	return value, true
}
