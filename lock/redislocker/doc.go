// Package redislocker is a distributed [lock.Locker] on Redis, built on
// github.com/bsm/redislock.
//
// Every lock is a Redis key holding a random token, written with SET NX PX:
// it expires after its TTL unless the holder extends it, so a process that
// dies while holding a lock never orphans it. Extend and Release check the
// token in a Lua script, so a holder whose lock expired and was taken over
// cannot extend or release the new holder's lock.
//
// [Locker.TryObtain] makes exactly one attempt. [Locker.Obtain] retries with
// a bounded, jittered exponential backoff (by default from 10ms up to 500ms
// between attempts) until it gets the lock or its context is done; bound the
// wait with a context deadline.
//
// A region shares one lock attempt between the goroutines of a process that
// wait for the same key, so the number of Redis calls grows with the number
// of processes, not of goroutines.
package redislocker
