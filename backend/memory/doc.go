// Package memory is an in-process, bounded corral backend built on
// github.com/maypok86/otter/v2.
//
// A [Backend] implements both [backend.Backend], which moves encoded entries
// as bytes, and [backend.ValueStore], which keeps decoded [backend.Entry]
// values so that a region's hit path skips the serializer. It is bounded by a
// number of entries, a weight in bytes, or both, and evicts with otter's
// W-TinyLFU policy. Every stored value carries the hard TTL it was written
// with, after which it is gone (to within [Options.ClockResolution]: lookups
// read a coarse clock, which is much cheaper than reading the time).
//
// Keys are (namespace, key) pairs held in a comparable struct, so a lookup
// builds no string; the byte methods use the empty namespace.
//
// Set [Options.Serialize] to make regions keep encoded copies instead of
// shared decoded values: then callers can never mutate what the cache holds.
package memory
