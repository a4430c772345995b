// Package null is a corral backend that stores nothing: every read misses
// and every write is dropped. It turns caching off for a region without
// changing the code around it, and stands in for a backend in tests.
package null
