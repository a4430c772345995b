package region

import (
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// Clock tells the time. Tests inject a fake one; the default is the system
// clock, read coarsely (see ClockResolution).
type Clock interface {
	Now() time.Time
}

// ClockResolution is how often the default clock reads the system time.
// Expiration is decided to within it.
const ClockResolution = time.Millisecond

// coarseClock is the default Clock. A goroutine stores the system time once
// per resolution, so the hit path reads one word instead of the system
// clock, which costs several times more on virtual machines. The goroutine
// holds the clock weakly and stops when Stop is called or the clock is
// garbage, so a region never closed leaks nothing for long.
type coarseClock struct {
	now      atomic.Int64 // Unix nanoseconds, as last read
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func startCoarseClock(resolution time.Duration) *coarseClock {
	c := &coarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.now.Store(time.Now().UnixNano())
	go tick(weak.Make(c), resolution, c.stop, c.done)
	return c
}

func tick(wc weak.Pointer[coarseClock], resolution time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(resolution)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			c := wc.Value()
			if c == nil {
				return
			}
			c.now.Store(now.UnixNano())
		}
	}
}

func (c *coarseClock) nowNano() int64 { return c.now.Load() }

// Now returns the time as last read.
func (c *coarseClock) Now() time.Time { return time.Unix(0, c.now.Load()) }

// Stop ends the goroutine and waits for it.
func (c *coarseClock) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}
