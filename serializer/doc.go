// Package serializer turns values into bytes and back for the backends that
// store bytes, and defines the envelope every stored entry travels in.
//
// A [Serializer] encodes the payload: [MsgPack] (the default), [JSON], or
// [Raw] for bytes and strings that other clients must read unchanged.
// Serializers that implement [AppendMarshaler] encode straight into the
// envelope's buffer.
//
// A [Codec] wraps the payload in a versioned envelope that carries the
// entry's metadata ([Meta]: creation time, the expiration it was written
// with, the writer's type, its invalidation generations and how long it
// took to create) and a checksum, and compresses large payloads with s2
// when [CodecOptions.CompressAbove] asks for it. With a [Keyring]
// ([CodecOptions.Keyring]) it also seals the payload: compressed first,
// then encrypted and authenticated with XChaCha20-Poly1305 under the
// keyring's current key, whose ID the envelope names, and bound to the key
// the entry is stored under ([Codec.EncodeFor], [Codec.DecodeFor]); the
// header stays readable but is authenticated too. [Codec.DecodeMeta] reads
// the metadata without touching the payload. Bytes that are truncated,
// corrupt, tampered with, sealed with an unknown key or for another key, or
// were never written by corral decode to an error wrapping [ErrDecode],
// never a panic; regions treat them as a miss.
//
// The envelope (version 3; version 2 is still read) is, in order: the magic
// byte 0xC1 (which never starts MessagePack, JSON or UTF-8 text), a version
// byte, a 4-byte big-endian checksum (the low 32 bits of xxhash64 of
// everything after it), a flags byte (bit 0: the payload is an s2 block;
// bit 1: it is sealed; bit 2: a negative entry, "not found", with no
// payload or, when sealed, an empty one), Created as an 8-byte big-endian int64, the type tag,
// Expiration as a zig-zag varint, the three generations and Delta as
// varints, then the payload (when sealed: the key ID, a 24-byte nonce, the
// ciphertext and its tag). codec.go has the byte layout.
package serializer
