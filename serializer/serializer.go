package serializer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// ErrDecode is wrapped by every error that reports bytes which cannot be
// decoded: a truncated or corrupt envelope, an unknown version, or a payload
// the serializer rejects.
var ErrDecode = errors.New("serializer: cannot decode")

// Serializer encodes payloads. Implementations are safe for concurrent use.
type Serializer interface {
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which is a non-nil pointer.
	Unmarshal(data []byte, v any) error
}

// Meta is the metadata an envelope carries beside the payload.
type Meta struct {
	// Created is when the value was created, in Unix nanoseconds.
	Created int64
	// Expiration is the soft expiration the value was written with (zero:
	// never stale).
	Expiration time.Duration
	// Type identifies the Go type the value was written as (see TypeTag);
	// zero when unknown. A reader expecting another type can tell, before
	// decoding, that the bytes are not for it.
	Type uint32
	// Gens are the invalidation generations the value's creation began
	// under; a reader that knows of later ones treats the value as retired.
	Gens Gens
	// Delta is how long the value took to create (zero when unknown, or
	// for a value written with Set): early refresh (XFetch) starts a
	// regeneration sooner for values that take longer to create.
	Delta time.Duration
	// Negative marks an entry that records "not found" (negative caching):
	// EncodeFor writes no payload for it (an empty sealed one with a
	// Keyring), ignoring the value, and DecodeFor leaves the value it is
	// given untouched.
	Negative bool
}

// Gens are the invalidation generations a value was created under: counters
// that only move forward, kept by the cache, not clocks.
type Gens struct {
	// Hard and Soft count the region-wide invalidations of each kind.
	Hard, Soft uint64
	// Func counts the invalidations of every result of the cached function
	// the value belongs to (zero for other values).
	Func uint64
	// Tags are the value's tags, each with the count of its invalidations
	// the creation began under.
	Tags Tags
}

// Tag is one tag of a value and its generation.
type Tag struct {
	Name string
	Gen  uint64
}

// MaxTags bounds the tags of one value, and MaxTagLen the bytes of one.
const (
	MaxTags   = 16
	MaxTagLen = 200
)

// Tags are a value's tags and their generations, held in their envelope
// form (a uvarint count, then per tag its name's uvarint length, the name
// and the generation as a uvarint) so that Meta stays comparable. The zero
// Tags has none.
type Tags struct{ enc string }

// MakeTags returns tags in their compact form; at most MaxTags tags of at
// most MaxTagLen bytes each are kept (callers check the limits).
func MakeTags(tags []Tag) Tags {
	if len(tags) == 0 {
		return Tags{}
	}
	tags = tags[:min(len(tags), MaxTags)]
	b := binary.AppendUvarint(nil, uint64(len(tags)))
	for _, t := range tags {
		name := t.Name[:min(len(t.Name), MaxTagLen)]
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, t.Gen)
	}
	return Tags{enc: string(b)}
}

// Len returns the number of tags.
func (t Tags) Len() int {
	if t.enc == "" {
		return 0
	}
	n, _ := binary.Uvarint([]byte(t.enc[:min(len(t.enc), binary.MaxVarintLen64)]))
	return int(n)
}

// All yields each tag's name and generation, in order.
func (t Tags) All() iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		for name, g, pos := t.Next(0); pos > 0; name, g, pos = t.Next(pos) {
			if !yield(name, g) {
				return
			}
		}
	}
}

// Next returns the tag at pos (0 for the first) and the position of the
// next; pos 0 back means there was none. It allocates nothing:
//
//	for name, gen, pos := t.Next(0); pos > 0; name, gen, pos = t.Next(pos) { … }
func (t Tags) Next(pos int) (name string, gen uint64, next int) {
	if pos == 0 {
		if t.enc == "" {
			return "", 0, 0
		}
		_, pos = uvarint(t.enc)
	}
	if pos >= len(t.enc) {
		return "", 0, 0
	}
	l, k := uvarint(t.enc[pos:])
	pos += k
	name = t.enc[pos : pos+int(l)]
	pos += int(l)
	gen, k = uvarint(t.enc[pos:])
	return name, gen, pos + k
}

// Slice returns the tags as a slice.
func (t Tags) Slice() []Tag {
	var out []Tag
	for name, g := range t.All() {
		out = append(out, Tag{Name: name, Gen: g})
	}
	return out
}

// String lists the tags, as name@generation.
func (t Tags) String() string {
	var b strings.Builder
	for name, g := range t.All() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%d", name, g)
	}
	return b.String()
}

// uvarint decodes a uvarint at the start of s; MakeTags and parseTags
// write and check every one read.
func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<(7*i), i + 1
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	return 0, len(s)
}
