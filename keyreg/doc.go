// Package keyreg derives deterministic cache keys from a function's identity
// and its arguments, and records which keys were generated for each function
// so that callers can invalidate "the cached result of GetUser(42)" or "every
// cached result of GetUser" without handling raw keys.
//
// The same function name and arguments give the same key in every process.
// A [Registry] shared through a backend makes invalidation work across
// processes; [Memory] is the in-process registry.
package keyreg
