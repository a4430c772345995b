// Package backend defines the storage contract that corral regions are built
// on. Implementations live in subpackages: memory (in-process, bounded), null
// (stores nothing), redis and memcached.
//
// A Backend moves encoded entries as bytes; the region owns serialization.
// In-process backends may also implement [ValueStore], which lets a region
// keep decoded values and skip the serializer on the hit path.
package backend
