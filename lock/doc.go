// Package lock defines the Locker contract behind corral's dogpile lock, and
// an in-process implementation. Distributed implementations live in the
// backend packages' sibling packages (lock/redislock, lock/memcachelock).
//
// A [Lock] is a plain value: any goroutine may extend or release it, so a
// background regenerator can release a lock taken by the caller that started
// it.
package lock
