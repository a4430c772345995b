package serializer

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/s2"
	"golang.org/x/crypto/chacha20poly1305"
)

// ErrNilSerializer is returned by [NewCodec] when it is given no serializer.
var ErrNilSerializer = errors.New("serializer: nil serializer")

// MaxDecodedSize is the largest payload, in bytes, that a [Codec]
// decompresses. [Codec.Decode] rejects a compressed payload that declares a
// larger size before allocating anything for it, and [Codec.Encode] stores
// larger payloads uncompressed.
const MaxDecodedSize = 512 << 20

// Envelope layout, version 3 (all integers big-endian):
//
//	offset  size  field
//	0       1     magic 0xC1 (never the first byte of MessagePack, UTF-8 or JSON)
//	1       1     version (3)
//	2       4     checksum: low 32 bits of xxhash64 of every byte from offset 6 on
//	6       1     flags: bit 0 = payload is an s2 block; bit 1 = payload is
//	              sealed; bit 2 = negative entry (Meta.Negative: no payload,
//	              bit 0 clear); bit 3 = tagged (Meta.Gens.Tags follow
//	              Meta.Delta); other bits must be zero
//	7       8     Meta.Created, int64 Unix nanoseconds
//	15      4     Meta.Type, the writer's type tag (0: unknown)
//	19      1-10  Meta.Expiration, zig-zag varint nanoseconds
//	...     1-10  Meta.Gens.Hard, uvarint
//	...     1-10  Meta.Gens.Soft, uvarint
//	...     1-10  Meta.Gens.Func, uvarint
//	...     1-10  Meta.Delta, zig-zag varint nanoseconds
//	...           with flag bit 3 only: Meta.Gens.Tags, a uvarint count,
//	              then per tag its name (uvarint length, bytes) and
//	              generation (uvarint)
//	...           payload: the serializer's bytes, or an s2 block of them
//
// A sealed payload (see [Keyring]) is, in place of the payload above:
//
//	1-5   the key ID, uvarint
//	24    the XChaCha20-Poly1305 nonce, random
//	...   the payload above (s2-compressed first when it shrinks), encrypted,
//	      followed by the 16-byte authentication tag
//
// Its associated data is every byte before the encrypted payload (with the
// checksum as zero) followed by the key the entry is bound to (see
// [Codec.EncodeFor]): the header cannot be altered, nor the entry moved to
// another key, without the tag failing. A negative entry written by a codec
// with a Keyring is sealed too, its encrypted payload empty, so that its
// header and key are authenticated like a value's.
//
// Version 2 (without Meta.Delta and the sealed flag) is still read, with a
// zero Delta. Version 1 (without Meta.Type) is no longer read: such entries
// are undecodable, hence misses. A codec that predates the negative flag
// rejects an envelope carrying it for its unknown flag, so an older reader
// takes a negative entry for an undecodable one (a miss), never for a value;
// so too a tagged entry, whose tags it could not check.
//
// An s2 block starts with the uvarint length of the decoded bytes, which is
// checked against MaxDecodedSize before decoding.
const (
	envMagic       = 0xC1
	envVersion     = 3
	envVersionV2   = 2
	envChecksumOff = 2
	envFlagsOff    = 6
	envCreatedOff  = 7
	envTypeOff     = 15
	envExpOff      = 19
	envMinLen      = envExpOff + 4
	envMaxHeader   = envExpOff + 5*binary.MaxVarintLen64

	flagS2       = 1 << 0
	flagSealed   = 1 << 1
	flagNegative = 1 << 2
	flagTags     = 1 << 3
	knownFlag    = flagS2 | flagSealed | flagNegative | flagTags
	// knownFlagV2 are the flags version 2 knew (the negative flag was
	// first written in version 2 envelopes).
	knownFlagV2 = flagS2 | flagNegative

	nonceSize = chacha20poly1305.NonceSizeX
)

// CodecOptions configures a [Codec].
type CodecOptions struct {
	// CompressAbove compresses payloads of more than this many bytes; zero or
	// negative disables compression. A compressed payload is stored only when
	// it is at least 1/16 smaller than the original.
	CompressAbove int
	// Keyring, when set, encrypts every payload with its current key (after
	// compression) and binds it to the key given to [Codec.EncodeFor]; only
	// entries sealed with one of its keys, for the same key, decode. Nil: no
	// encryption, and sealed entries do not decode.
	Keyring *Keyring
}

// Codec wraps serialized payloads in corral's envelope: a versioned header
// with a checksum and the entry's [Meta], followed by the payload, compressed
// with s2 when it is large and compresses well, and sealed (encrypted and
// authenticated) when the codec has a [Keyring]. A Codec is safe for
// concurrent use.
type Codec struct {
	s             Serializer
	app           AppendMarshaler // s as an AppendMarshaler, or nil
	copiesInput   bool            // s never keeps the bytes given to Unmarshal
	compressAbove int
	keys          *Keyring  // nil: entries are not sealed
	bufs          sync.Pool // of *[]byte scratch buffers, each at most maxPooledBuf
}

// NewCodec returns a Codec that encodes payloads with s. It returns
// [ErrNilSerializer] when s is nil.
func NewCodec(s Serializer, o CodecOptions) (*Codec, error) {
	if s == nil {
		return nil, ErrNilSerializer
	}
	c := &Codec{s: s, compressAbove: o.CompressAbove, keys: o.Keyring}
	c.app, _ = s.(AppendMarshaler)
	_, c.copiesInput = s.(inputCopier)
	return c, nil
}

// Serializer returns the serializer c encodes payloads with.
func (c *Codec) Serializer() Serializer { return c.s }

// Seals reports whether c encrypts its payloads (it has a [Keyring]).
func (c *Codec) Seals() bool { return c.keys != nil }

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

// Encode is EncodeFor with no key: a sealed entry it writes decodes only
// with [Codec.Decode] (or DecodeFor with the empty key).
func (c *Codec) Encode(v any, m Meta) ([]byte, error) {
	return c.EncodeFor("", v, m)
}

// EncodeFor serializes v and returns it in an envelope carrying m. When c
// has a [Keyring], the payload is compressed (if asked), then sealed with
// the current key and bound to key, the name the entry is stored under:
// [Codec.DecodeFor] with any other key rejects it. Without a Keyring, key is
// not used. A negative entry ([Meta.Negative]) has no payload: v is not
// used, and with a Keyring the empty payload is sealed, binding the header
// to key. The result is newly allocated and owned by the caller; it is
// the only allocation EncodeFor makes when the serializer is an
// [AppendMarshaler] such as [MsgPack] and nothing is sealed. Errors come
// from the serializer and are not [ErrDecode].
func (c *Codec) EncodeFor(key string, v any, m Meta) ([]byte, error) {
	if m.Negative {
		return c.encodeNegative(key, m), nil
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
		if err == nil && c.keys == nil && !c.shouldCompress(len(p)) {
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

	var out []byte
	if c.keys != nil {
		out = c.seal(key, buf, hlen)
	} else if out = c.compress(buf, hlen); out == nil {
		out = make([]byte, len(buf))
		copy(out, buf)
	}
	c.putBuf(bp, buf)
	return sealEnvelope(out), nil
}

// encodeNegative returns the envelope of a negative entry carrying m: a
// header and no payload, sealed (an empty payload bound to key) when c has
// a Keyring.
func (c *Codec) encodeNegative(key string, m Meta) []byte {
	head := appendHeader(make([]byte, 0, envMaxHeader), flagNegative, m)
	if c.keys != nil {
		return sealEnvelope(c.seal(key, head, len(head)))
	}
	return sealEnvelope(head)
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
	comp, dst := c.s2Encode(*cp, payload)
	var out []byte
	if comp != nil {
		out = make([]byte, hlen+len(comp))
		copy(out, buf[:hlen])
		out[envFlagsOff] |= flagS2
		copy(out[hlen:], comp)
	}
	c.putBuf(cp, dst)
	return out
}

// s2Encode compresses payload into dst (grown if needed) and returns the
// compressed bytes, or nil when they are not at least 1/16 smaller, and the
// buffer used, to return to the pool.
func (c *Codec) s2Encode(dst, payload []byte) (comp, buf []byte) {
	if need := s2.MaxEncodedLen(len(payload)); cap(dst) < need {
		dst = make([]byte, need)
	}
	comp = s2.Encode(dst[:cap(dst)], payload)
	if len(comp) > len(payload)-len(payload)/16 {
		comp = nil
	}
	return comp, dst
}

// seal returns a new envelope holding buf's header and its payload
// (buf[hlen:]), compressed when it is large and shrinks, then encrypted
// with the keyring's current key and bound to key.
func (c *Codec) seal(key string, buf []byte, hlen int) []byte {
	payload := buf[hlen:]
	flags := buf[envFlagsOff] | flagSealed
	var cp *[]byte
	var cbuf []byte
	if c.shouldCompress(len(payload)) {
		cp = c.getBuf()
		var comp []byte
		if comp, cbuf = c.s2Encode(*cp, payload); comp != nil {
			payload, flags = comp, flags|flagS2
		}
	}
	id := c.keys.current
	aead := c.keys.aeads[id]
	out := make([]byte, hlen, hlen+binary.MaxVarintLen32+nonceSize+len(payload)+aead.Overhead())
	copy(out, buf[:hlen])
	out[envFlagsOff] = flags
	out = binary.AppendUvarint(out, uint64(id))
	out = out[:len(out)+nonceSize]
	nonce := out[len(out)-nonceSize:]
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails; it crashes the program if the system's generator does
	ap := c.getBuf()
	ad := appendAD((*ap)[:0], out, key)
	out = aead.Seal(out, nonce, payload, ad)
	c.putBuf(ap, ad)
	if cp != nil {
		c.putBuf(cp, cbuf)
	}
	return out
}

// appendAD appends to dst the associated data of a sealed envelope whose
// bytes before the encrypted payload are head, bound to key: head with its
// checksum as zero, then key.
func appendAD(dst, head []byte, key string) []byte {
	dst = append(dst, head...)
	clear(dst[envChecksumOff : envChecksumOff+4])
	return append(dst, key...)
}

// appendHeader appends an envelope header with the given flags and m to dst,
// leaving the checksum zero.
func appendHeader(dst []byte, flags byte, m Meta) []byte {
	if m.Gens.Tags.enc != "" {
		flags |= flagTags
	}
	dst = append(dst, envMagic, envVersion, 0, 0, 0, 0, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Created))
	dst = binary.BigEndian.AppendUint32(dst, m.Type)
	dst = binary.AppendVarint(dst, int64(m.Expiration))
	dst = binary.AppendUvarint(dst, m.Gens.Hard)
	dst = binary.AppendUvarint(dst, m.Gens.Soft)
	dst = binary.AppendUvarint(dst, m.Gens.Func)
	dst = binary.AppendVarint(dst, int64(m.Delta))
	return append(dst, m.Gens.Tags.enc...)
}

// errBadTags is the error of an envelope whose tags do not parse.
var errBadTags = fmt.Errorf("%w: envelope truncated or corrupt in its tags", ErrDecode)

// parseTags reads the tags of a header from rest, returning what follows.
func parseTags(rest []byte) (Tags, []byte, error) {
	all := rest
	n, k := binary.Uvarint(rest)
	if k <= 0 || n == 0 || n > MaxTags {
		return Tags{}, nil, errBadTags
	}
	rest = rest[k:]
	for range n {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > MaxTagLen || uint64(len(rest)-k) < l {
			return Tags{}, nil, errBadTags
		}
		rest = rest[k+int(l):]
		if _, k = binary.Uvarint(rest); k <= 0 {
			return Tags{}, nil, errBadTags
		}
		rest = rest[k:]
	}
	return Tags{enc: string(all[:len(all)-len(rest)])}, rest, nil
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
// metadata, flags and payload (for a sealed envelope: its key ID, nonce and
// encrypted payload). It does not verify the checksum.
func parseHeader(data []byte) (Meta, byte, []byte, error) {
	if len(data) > 0 && data[0] != envMagic {
		return Meta{}, 0, nil, fmt.Errorf("%w: not a corral envelope (first byte %#02x)", ErrDecode, data[0])
	}
	if len(data) < envMinLen {
		return Meta{}, 0, nil, fmt.Errorf("%w: envelope truncated: %d bytes, header needs at least %d", ErrDecode, len(data), envMinLen)
	}
	version := data[1]
	if version != envVersion && version != envVersionV2 {
		return Meta{}, 0, nil, fmt.Errorf("%w: unknown envelope version %d (this codec reads %d and %d)", ErrDecode, version, envVersionV2, envVersion)
	}
	flags := data[envFlagsOff]
	known := byte(knownFlag)
	if version == envVersionV2 {
		known = knownFlagV2
	}
	if flags&^known != 0 || flags&(flagNegative|flagS2) == flagNegative|flagS2 {
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
	var delta int64
	if version == envVersion {
		if delta, n = binary.Varint(rest); n <= 0 {
			return Meta{}, 0, nil, fmt.Errorf("%w: envelope truncated or corrupt in its creation time", ErrDecode)
		}
		rest = rest[n:]
	}
	var tags Tags
	if flags&flagTags != 0 {
		var err error
		if tags, rest, err = parseTags(rest); err != nil {
			return Meta{}, 0, nil, err
		}
	}
	m := Meta{
		Created:    int64(binary.BigEndian.Uint64(data[envCreatedOff:])),
		Type:       binary.BigEndian.Uint32(data[envTypeOff:]),
		Expiration: time.Duration(exp),
		Gens:       Gens{Hard: gens[0], Soft: gens[1], Func: gens[2], Tags: tags},
		Delta:      time.Duration(delta),
		Negative:   flags&flagNegative != 0,
	}
	if m.Negative && flags&flagSealed == 0 && len(rest) != 0 {
		return Meta{}, 0, nil, fmt.Errorf("%w: negative entry with a payload", ErrDecode)
	}
	return m, flags, rest, nil
}

// DecodeMeta returns the metadata of the envelope in data without decoding
// its payload or verifying its checksum, so it costs the same for any size of
// value. The metadata of a sealed envelope is authenticated only by
// [Codec.DecodeFor]: DecodeMeta is for a quick look. Errors wrap
// [ErrDecode]: bytes that are not a corral envelope, are truncated within
// the header, or have an unknown version or flags.
func (c *Codec) DecodeMeta(data []byte) (Meta, error) {
	m, _, _, err := parseHeader(data)
	return m, err
}

// Decode is DecodeFor with no key.
func (c *Codec) Decode(data []byte, v any) (Meta, error) {
	return c.DecodeFor("", data, v)
}

// DecodeFor opens the envelope in data, read from under key, verifies its
// checksum, decrypts and authenticates a sealed payload, decompresses the
// payload if needed and unmarshals it into v, which must be a non-nil
// pointer of a type the payload fits. It returns the envelope's metadata.
// DecodeFor never keeps a reference to data. Every error wraps [ErrDecode]:
// foreign, truncated or corrupt bytes, an unknown version, a compressed
// payload declaring more than [MaxDecodedSize] bytes, or a payload the
// serializer cannot decode into v. When c has a [Keyring], so are an
// unsealed envelope, one sealed with a key ID the keyring lacks (wrapping
// [ErrUnknownKey] too), and one that fails authentication (tampered with,
// sealed with another key of the same ID, or bound to another key than
// key); without one, a sealed envelope is. On error the returned Meta is
// zero.
func (c *Codec) DecodeFor(key string, data []byte, v any) (Meta, error) {
	return c.decodeFor(key, data, v, false)
}

// Verify checks the envelope in data, read from under key, as
// [Codec.DecodeFor] does — its header, its checksum and, when c has a
// [Keyring], that it is sealed and authentic for key — without
// decompressing or unmarshalling its payload, and returns its metadata,
// which is then authenticated (unlike [Codec.DecodeMeta]'s). A reader that
// acts on the metadata alone, such as one refusing an entry of another type,
// verifies it first. Errors are DecodeFor's, but for those of the payload.
func (c *Codec) Verify(key string, data []byte) (Meta, error) {
	return c.decodeFor(key, data, nil, true)
}

// decodeFor is DecodeFor; with verifyOnly, v is not used and the payload is
// authenticated (when sealed) but not decoded.
func (c *Codec) decodeFor(key string, data []byte, v any, verifyOnly bool) (Meta, error) {
	m, flags, payload, err := parseHeader(data)
	if err != nil {
		return Meta{}, err
	}
	if got, want := envChecksum(data), binary.BigEndian.Uint32(data[envChecksumOff:]); got != want {
		return Meta{}, fmt.Errorf("%w: envelope checksum mismatch (corrupt or truncated)", ErrDecode)
	}
	sealed := flags&flagSealed != 0
	switch {
	case sealed && c.keys == nil:
		return Meta{}, fmt.Errorf("%w: the entry is encrypted and this codec has no keyring", ErrDecode)
	case !sealed && c.keys != nil:
		return Meta{}, fmt.Errorf("%w: the entry is not encrypted and this codec decrypts", ErrDecode)
	case sealed:
		return c.open(key, data, m, flags, payload, v, verifyOnly)
	case m.Negative || verifyOnly:
		return m, nil // nothing to unmarshal: v is left as it is
	}
	if err := c.decodePayload(flags, payload, v); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// open decrypts the sealed payload of data (sealed, from its key ID on)
// and decodes it into v.
func (c *Codec) open(key string, data []byte, m Meta, flags byte, sealed []byte, v any, verifyOnly bool) (Meta, error) {
	id, n := binary.Uvarint(sealed)
	if n <= 0 || id > 1<<32-1 {
		return Meta{}, fmt.Errorf("%w: envelope truncated or corrupt in its key ID", ErrDecode)
	}
	sealed = sealed[n:]
	aead, ok := c.keys.aeads[uint32(id)]
	if !ok {
		return Meta{}, fmt.Errorf("%w: %w: key ID %d", ErrDecode, ErrUnknownKey, id)
	}
	if len(sealed) < nonceSize+aead.Overhead() {
		return Meta{}, fmt.Errorf("%w: sealed payload truncated", ErrDecode)
	}
	nonce, ct := sealed[:nonceSize], sealed[nonceSize:]
	ap := c.getBuf()
	ad := appendAD((*ap)[:0], data[:len(data)-len(ct)], key)
	var bp *[]byte
	var dst []byte
	if c.copiesInput && len(ct) <= maxPooledBuf {
		bp = c.getBuf()
		dst = (*bp)[:0]
	}
	plain, err := aead.Open(dst, nonce, ct, ad)
	c.putBuf(ap, ad)
	switch {
	case err == nil && m.Negative:
		if len(plain) != 0 {
			err = fmt.Errorf("%w: negative entry with a payload", ErrDecode)
		} // else nothing to unmarshal: v is left as it is
	case err == nil && verifyOnly:
	case err == nil:
		err = c.decodePayload(flags, plain, v)
	default:
		err = fmt.Errorf("%w: sealed payload fails authentication (tampered with, or written under another key or with another key of ID %d)", ErrDecode, id)
	}
	if bp != nil {
		c.putBuf(bp, plain)
	}
	if err != nil {
		return Meta{}, err
	}
	return m, nil
}

// decodePayload decompresses payload when flags say so and unmarshals it
// into v.
func (c *Codec) decodePayload(flags byte, payload []byte, v any) error {
	if flags&flagS2 == 0 {
		return c.unmarshal(payload, v)
	}
	n, err := s2.DecodedLen(payload)
	if err != nil {
		return fmt.Errorf("%w: corrupt compressed payload: %w", ErrDecode, err)
	}
	if n > MaxDecodedSize {
		return fmt.Errorf("%w: compressed payload declares %d bytes, over the %d-byte limit", ErrDecode, n, MaxDecodedSize)
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
	return err
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
