package lock

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Backoff bounds how a distributed Locker's Obtain waits between attempts:
// the first wait is about Min, and each next one doubles, up to Max.
type Backoff struct {
	Min, Max time.Duration
}

// Poll calls try until it returns something other than ErrNotObtained, and
// returns that. Between attempts it waits a jittered, exponentially growing
// time within b (drawn from the upper half of the current step, so waiters of
// many processes do not poll in step, and a wait is never zero nor above
// b.Max). It returns ctx.Err() as soon as ctx is done, never sleeping past
// it. Distributed Lockers build Obtain on it.
func Poll(ctx context.Context, b Backoff, try func(context.Context) (Lock, error)) (Lock, error) {
	step := max(b.Min, time.Millisecond)
	ceiling := max(b.Max, step)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		l, err := try(ctx)
		if !errors.Is(err, ErrNotObtained) {
			return l, err
		}
		wait := step/2 + rand.N(step/2+1)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait) // since Go 1.23, Reset needs no drain
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		step = min(2*step, ceiling)
	}
}
