package engine

import (
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/corralcache/corral/internal/breaker"
)

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

// stopwatch times a creation, for its entry's Delta.
type stopwatch struct {
	start int64     // Now() at the start, on an injected clock
	mono  time.Time // time.Now() at the start, on the default clock
}

// startWatch starts timing a creation. On the default clock it uses the
// system's monotonic clock, as the coarse clock would round short creations
// to zero; an injected clock (a test's) is used as it is.
func (e *Engine) startWatch() stopwatch {
	if e.sys != nil {
		return stopwatch{mono: time.Now()}
	}
	return stopwatch{start: e.Now()}
}

// elapsed returns how long has passed since s started; never negative.
func (e *Engine) elapsed(s stopwatch) time.Duration {
	if e.sys != nil {
		return max(time.Since(s.mono), 0)
	}
	return max(time.Duration(e.Now()-s.start), 0)
}

// monoNow is the time a near copy's age is measured with: the monotonic
// clock, or the injected clock when one was given (tests). The default
// clock is coarse and may lag under load, which would stretch the bound.
func (e *Engine) monoNow() int64 {
	if e.sys != nil {
		return breaker.Monotonic()
	}
	return e.cfg.Clock.Now().UnixNano()
}
