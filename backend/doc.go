// Package backend defines the storage contract that corral regions are built
// on. Implementations live in subpackages: memory (in-process, bounded), null
// (stores nothing), redis and memcached.
//
// A Backend moves encoded entries as bytes; the region owns serialization.
// In-process backends may also implement [ValueStore], which lets a region
// keep decoded values and skip the serializer on the hit path.
//
// Backends may also store conditionally: [Conditional] (and
// [ConditionalValueStore] for decoded entries) reads keys with a [Version]
// and writes a value only if its key still holds that version, so that a
// value computed from an old read never replaces a write or an invalidation
// that completed meanwhile. [ConditionalGrouper] adds the records of a key
// registry to such a write.
package backend
