// Package history records what concurrent clients of a cache did and checks
// the record against corral's consistency rule: a completed write or
// invalidation is never undone.
//
// A test drives a versioned fake database (every key holds an integer
// version that a write raises) through a region, and logs one [Op] per step:
// reads of the cache, writes of the database, invalidations and write-through
// sets, each with its process, goroutine and start and end times from one
// clock every process of the machine shares ([Now]). [Check] then looks for
// a read that began after an invalidation of its key had completed, yet
// returned a version older than the database held when that invalidation
// began.
//
// It is internal: corral's coherence tests use it, in one process
// (region) and across worker processes (integration).
package history
