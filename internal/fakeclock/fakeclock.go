// Package fakeclock is the clock corral's tests inject where time must move
// only when a test says so. It is internal: tests of corral's packages use
// it; users bring their own clocks.
package fakeclock

import (
	"sync/atomic"
	"time"
)

// Clock is a clock that moves only when advanced. It is safe for concurrent
// use.
type Clock struct {
	nanos atomic.Int64 // Unix nanoseconds
}

// New returns a Clock reading start.
func New(start time.Time) *Clock {
	c := &Clock{}
	c.nanos.Store(start.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.nanos.Load()) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }
