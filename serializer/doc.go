// Package serializer turns values into bytes and back for the backends that
// store bytes, and defines the envelope every stored entry travels in.
//
// A [Serializer] encodes the payload: [MsgPack] (the default), [JSON], or
// [Raw] for bytes and strings that other clients must read unchanged.
// Serializers that implement [AppendMarshaler] encode straight into the
// envelope's buffer.
//
// A [Codec] wraps the payload in a versioned envelope that carries the
// entry's metadata ([Meta]: creation time and the expiration it was written
// with) and a checksum, and compresses large payloads with s2 when
// [CodecOptions.CompressAbove] asks for it. [Codec.DecodeMeta] reads the
// metadata without touching the payload. Bytes that are truncated, corrupt
// or were never written by corral decode to an error wrapping [ErrDecode],
// never a panic; regions treat them as a miss.
//
// The envelope (version 1) is, in order: the magic byte 0xC1 (which never
// starts MessagePack, JSON or UTF-8 text), a version byte, a 4-byte
// big-endian checksum (the low 32 bits of xxhash64 of everything after it), a
// flags byte (bit 0: the payload is an s2 block), Created as an 8-byte
// big-endian int64, Expiration as a zig-zag varint, then the payload.
package serializer
