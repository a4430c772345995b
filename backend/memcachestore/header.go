package memcachestore

import (
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// Every item the Store writes begins with a header: a kind byte, the
// deadline of the item's hard TTL (Unix nanoseconds, big-endian; zero for
// none), and a lease tag (8 bytes; zero for a plain write). A value follows
// its header; a placeholder is a header alone.
//
// The deadline lets a lease re-store a value with the TTL it has left,
// which memcached's text protocol does not report. The tag lets a lease
// recognise its own write when it reads the key back for the CAS value:
// memcached's store commands do not return it.
const (
	headerLen       = 1 + 8 + 8
	kindValue       = 0xF5
	kindPlaceholder = 0xF6
)

// header is the decoded header of an item.
type header struct {
	kind     byte
	deadline int64 // Unix nanoseconds; 0: no hard TTL
	tag      uint64
}

// appendHeader appends h to dst.
func appendHeader(dst []byte, h header) []byte {
	dst = append(dst, h.kind)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.deadline))
	return binary.BigEndian.AppendUint64(dst, h.tag)
}

// frame returns value behind h.
func frame(h header, value []byte) []byte {
	return append(appendHeader(make([]byte, 0, headerLen+len(value)), h), value...)
}

// parse splits an item's value into its header and payload. ok is false for
// an item without a header of ours, such as one another client or an
// earlier corral release wrote.
func parse(b []byte) (h header, payload []byte, ok bool) {
	if len(b) < headerLen || (b[0] != kindValue && b[0] != kindPlaceholder) {
		return header{}, nil, false
	}
	h = header{
		kind:     b[0],
		deadline: int64(binary.BigEndian.Uint64(b[1:9])),
		tag:      binary.BigEndian.Uint64(b[9:17]),
	}
	if h.kind == kindPlaceholder && len(b) != headerLen {
		return header{}, nil, false
	}
	return h, b[headerLen:], true
}

// deadline returns the header deadline of a write with ttl at now: zero for
// no TTL (or a negative one, which memcached drops at once).
func deadline(ttl time.Duration, now time.Time) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Add(ttl).UnixNano()
}

// newTag returns a random lease tag that is not zero.
func newTag() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}
