// Package serializer turns values into bytes and back for the backends that
// store bytes, and defines the envelope every stored entry travels in.
//
// A [Serializer] encodes the payload (msgpack by default, JSON, or raw bytes).
// A [Codec] wraps the payload in a versioned envelope that carries the
// entry's metadata (creation time and the expiration it was written with) and
// compresses large payloads. Bytes that are truncated, corrupt or were never
// written by corral decode to an error wrapping [ErrDecode], never a panic;
// regions treat them as a miss.
package serializer
