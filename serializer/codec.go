package serializer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/s2"
)

// ErrNilSerializer is returned by [NewCodec] when it is given no serializer.
var ErrNilSerializer = errors.New("serializer: nil serializer")

// MaxDecodedSize is the largest payload, in bytes, that a [Codec]
// decompresses. [Codec.Decode] rejects a compressed payload that declares a
// larger size before allocating anything for it, and [Codec.Encode] stores
// larger payloads uncompressed.
const MaxDecodedSize = 512 << 20

// Envelope layout, version 2 (all integers big-endian):
//
//	offset  size  field
//	0       1     magic 0xC1 (never the first byte of MessagePack, UTF-8 or JSON)
//	1       1     version (2)
//	2       4     checksum: low 32 bits of xxhash64 of every byte from offset 6 on
//	6       1     flags: bit 0 = payload is an s2 block; bit 2 = negative
//	              entry (Meta.Negative: no payload, bit 0 clear); other bits
//	              must be zero (bit 1 is kept for sealed payloads)
//	7       8     Meta.Created, int64 Unix nanoseconds
//	15      4     Meta.Type, the writer's type tag (0: unknown)
//	19      1-10  Meta.Expiration, zig-zag varint nanoseconds
//	...     1-10  Meta.Gens.Hard, uvarint
//	...     1-10  Meta.Gens.Soft, uvarint
//	...     1-10  Meta.Gens.Func, uvarint
//	...           payload: the serializer's bytes, or an s2 block of them
//
// Version 1 (without Meta.Type) is no longer read: such entries are
// undecodable, hence misses. Flag bit 2 was added within version 2: a codec
// that predates it rejects such an envelope for its unknown flag, so an
// older reader takes a negative entry for an undecodable one (a miss), never
// for a value.
//
// An s2 block starts with the uvarint length of the decoded bytes, which is
// checked against MaxDecodedSize before decoding.
const (
	envMagic       = 0xC1
	envVersion     = 2
	envChecksumOff = 2
	envFlagsOff    = 6
	envCreatedOff  = 7
	envTypeOff     = 15
	envExpOff      = 19
	envMinLen      = envExpOff + 4
	envMaxHeader   = envExpOff + 4*binary.MaxVarintLen64

	flagS2       = 1 << 0
	flagNegative = 1 << 2
	knownFlag    = flagS2 | flagNegative
)

// CodecOptions configures a [Codec].
type CodecOptions struct {
	// CompressAbove compresses payloads of more than this many bytes; zero or
	// negative disables compression. A compressed payload is stored only when
	// it is at least 1/16 smaller than the original.
	CompressAbove int
}

// Codec wraps serialized payloads in corral's envelope: a versioned header
// with a checksum and the entry's [Meta], followed by the payload, compressed
// with s2 when it is large and compresses well. A Codec is safe for
// concurrent use.
type Codec struct {
	s             Serializer
	app           AppendMarshaler // s as an AppendMarshaler, or nil
	copiesInput   bool            // s never keeps the bytes given to Unmarshal
	compressAbove int
	bufs          sync.Pool // of *[]byte scratch buffers, each at most maxPooledBuf
}

// NewCodec returns a Codec that encodes payloads with s. It returns
// [ErrNilSerializer] when s is nil.
func NewCodec(s Serializer, o CodecOptions) (*Codec, error) {
	if s == nil {
		return nil, ErrNilSerializer
	}
	c := &Codec{s: s, compressAbove: o.CompressAbove}
	c.app, _ = s.(AppendMarshaler)
	_, c.copiesInput = s.(inputCopier)
	return c, nil
}

// Serializer returns the serializer c encodes payloads with.
func (c *Codec) Serializer() Serializer { return c.s }

func (c *Codec) getBuf() *[]byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

// putBuf returns b to the pool holding buf, or drops it when buf is too big.
func (c *Codec) putBuf(b *[]byte, buf []byte) {
	if cap(buf) > maxPooledBuf {
		return
	}
	*b = buf[:0]
	c.bufs.Put(b)
}

// Encode serializes v and returns it in an envelope carrying m. The result is
// newly allocated and owned by the caller; it is the only allocation Encode
// makes when the serializer is an [AppendMarshaler] such as [MsgPack].
// Errors come from the serializer and are not [ErrDecode].
func (c *Codec) Encode(v any, m Meta) ([]byte, error) {
	if m.Negative {
		return sealEnvelope(appendHeader(make([]byte, 0, envMaxHeader), flagNegative, m)), nil
	}
	bp := c.getBuf()
	buf := appendHeader(*bp, 0, m)
	hlen := len(buf)
	var err error
	if c.app != nil {
		buf, err = c.app.AppendMarshal(buf, v)
	} else {
		var p []byte
		p, err = c.s.Marshal(v)
		if err == nil && !c.shouldCompress(len(p)) {
			// Build the result directly rather than copying p twice.
			out := make([]byte, hlen+len(p))
			copy(out, buf)
			copy(out[hlen:], p)
			c.putBuf(bp, buf)
			return sealEnvelope(out), nil
		}
		buf = append(buf, p...)
	}
	if err != nil {
		c.putBuf(bp, buf)
		return nil, fmt.Errorf("serializer: encode %T: %w", v, err)
	}

	out := c.compress(buf, hlen)
	if out == nil {
		out = make([]byte, len(buf))
		copy(out, buf)
	}
	c.putBuf(bp, buf)
	return sealEnvelope(out), nil
}

func (c *Codec) shouldCompress(n int) bool {
	return c.compressAbove > 0 && n > c.compressAbove && n <= MaxDecodedSize
}

// compress returns a new envelope holding buf's header and its payload
// (buf[hlen:]) compressed, or nil when the payload is not to be compressed or
// does not shrink enough.
func (c *Codec) compress(buf []byte, hlen int) []byte {
	payload := buf[hlen:]
	if !c.shouldCompress(len(payload)) {
		return nil
	}
	cp := c.getBuf()
	dst := *cp
	if need := s2.MaxEncodedLen(len(payload)); cap(dst) < need {
		dst = make([]byte, need)
	}
	comp := s2.Encode(dst[:cap(dst)], payload)
	var out []byte
	if len(comp) <= len(payload)-len(payload)/16 {
		out = make([]byte, hlen+len(comp))
		copy(out, buf[:hlen])
		out[envFlagsOff] |= flagS2
		copy(out[hlen:], comp)
	}
	c.putBuf(cp, dst)
	return out
}

// appendHeader appends an envelope header with the given flags and m to dst,
// leaving the checksum zero.
func appendHeader(dst []byte, flags byte, m Meta) []byte {
	dst = append(dst, envMagic, envVersion, 0, 0, 0, 0, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Created))
	dst = binary.BigEndian.AppendUint32(dst, m.Type)
	dst = binary.AppendVarint(dst, int64(m.Expiration))
	dst = binary.AppendUvarint(dst, m.Gens.Hard)
	dst = binary.AppendUvarint(dst, m.Gens.Soft)
	return binary.AppendUvarint(dst, m.Gens.Func)
}

// sealEnvelope writes env's checksum and returns env.
func sealEnvelope(env []byte) []byte {
	binary.BigEndian.PutUint32(env[envChecksumOff:], envChecksum(env))
	return env
}

func envChecksum(env []byte) uint32 {
	return uint32(xxhash.Sum64(env[envFlagsOff:]))
}

// parseHeader checks data's magic, version and flags and returns its
// metadata, flags and payload. It does not verify the checksum.
func parseHeader(data []byte) (Meta, byte, []byte, error) {
	if len(data) > 0 && data[0] != envMagic {
		return Meta{}, 0, nil, fmt.Errorf("%w: not a corral envelope (first byte %#02x)", ErrDecode, data[0])
	}
	if len(data) < envMinLen {
		return Meta{}, 0, nil, fmt.Errorf("%w: envelope truncated: %d bytes, header needs at least %d", ErrDecode, len(data), envMinLen)
	}
	if v := data[1]; v != envVersion {
		return Meta{}, 0, nil, fmt.Errorf("%w: unknown envelope version %d (this codec reads %d)", ErrDecode, v, envVersion)
	}
	flags := data[envFlagsOff]
	if flags&^knownFlag != 0 || flags == knownFlag {
		return Meta{}, 0, nil, fmt.Errorf("%w: unknown envelope flags %#02x", ErrDecode, flags)
	}
	rest := data[envExpOff:]
	exp, n := binary.Varint(rest)
	if n <= 0 {
		return Meta{}, 0, nil, fmt.Errorf("%w: envelope truncated or corrupt in its expiration", ErrDecode)
	}
	rest = rest[n:]
	var gens [3]uint64
	for i := range gens {
		if gens[i], n = binary.Uvarint(rest); n <= 0 {
			return Meta{}, 0, nil, fmt.Errorf("%w: envelope truncated or corrupt in its generations", ErrDecode)
		}
		rest = rest[n:]
	}
	m := Meta{
		Created:    int64(binary.BigEndian.Uint64(data[envCreatedOff:])),
		Type:       binary.BigEndian.Uint32(data[envTypeOff:]),
		Expiration: time.Duration(exp),
		Gens:       Gens{Hard: gens[0], Soft: gens[1], Func: gens[2]},
		Negative:   flags&flagNegative != 0,
	}
	if m.Negative && len(rest) != 0 {
		return Meta{}, 0, nil, fmt.Errorf("%w: negative entry with a payload", ErrDecode)
	}
	return m, flags, rest, nil
}

// DecodeMeta returns the metadata of the envelope in data without decoding
// its payload or verifying its checksum, so it costs the same for any size of
// value. Errors wrap [ErrDecode]: bytes that are not a corral envelope, are
// truncated within the header, or have an unknown version or flags.
func (c *Codec) DecodeMeta(data []byte) (Meta, error) {
	m, _, _, err := parseHeader(data)
	return m, err
}

// Decode opens the envelope in data, verifies its checksum, decompresses the
// payload if needed and unmarshals it into v, which must be a non-nil pointer
// of a type the payload fits. It returns the envelope's metadata. Decode
// never keeps a reference to data. Every error wraps [ErrDecode]: foreign,
// truncated or corrupt bytes, an unknown version, a compressed payload
// declaring more than [MaxDecodedSize] bytes, or a payload the serializer
// cannot decode into v. On error the returned Meta is zero. A negative
// entry ([Meta.Negative]) has no payload: Decode leaves v untouched.
func (c *Codec) Decode(data []byte, v any) (Meta, error) {
	m, flags, payload, err := parseHeader(data)
	if err != nil {
		return Meta{}, err
	}
	if got, want := envChecksum(data), binary.BigEndian.Uint32(data[envChecksumOff:]); got != want {
		return Meta{}, fmt.Errorf("%w: envelope checksum mismatch (corrupt or truncated)", ErrDecode)
	}
	if m.Negative {
		return m, nil // nothing to unmarshal: v is left as it is
	}
	if flags&flagS2 == 0 {
		if err := c.unmarshal(payload, v); err != nil {
			return Meta{}, err
		}
		return m, nil
	}

	n, err := s2.DecodedLen(payload)
	if err != nil {
		return Meta{}, fmt.Errorf("%w: corrupt compressed payload: %w", ErrDecode, err)
	}
	if n > MaxDecodedSize {
		return Meta{}, fmt.Errorf("%w: compressed payload declares %d bytes, over the %d-byte limit", ErrDecode, n, MaxDecodedSize)
	}
	var bp *[]byte
	var dst []byte
	if c.copiesInput && n <= maxPooledBuf {
		bp = c.getBuf()
		dst = *bp
	}
	plain, err := s2.Decode(dst, payload)
	if err == nil {
		err = c.unmarshal(plain, v)
	} else {
		err = fmt.Errorf("%w: corrupt compressed payload: %w", ErrDecode, err)
	}
	if bp != nil {
		c.putBuf(bp, plain)
	}
	if err != nil {
		return Meta{}, err
	}
	return m, nil
}

func (c *Codec) unmarshal(payload []byte, v any) error {
	err := c.s.Unmarshal(payload, v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrDecode):
		return err
	default:
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
}
