package lock_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/corralcache/corral/lock"
)

func TestPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var waits []time.Duration
		last := time.Now()
		tries := 0
		held := lock.NewLocal()
		l, err := lock.Poll(context.Background(), lock.Backoff{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond},
			func(ctx context.Context) (lock.Lock, error) {
				now := time.Now()
				if tries > 0 {
					waits = append(waits, now.Sub(last))
				}
				last = now
				tries++
				if tries < 6 {
					return nil, lock.ErrNotObtained
				}
				return held.TryObtain(ctx, "k", time.Second)
			})
		if err != nil || l == nil {
			t.Fatalf("got %v, %v", l, err)
		}
		// Each wait lies in the upper half of its step: 10, 20, 40, 40, 40 ms.
		steps := []time.Duration{10, 20, 40, 40, 40}
		for i, w := range waits {
			step := steps[i] * time.Millisecond
			if w < step/2 || w > step {
				t.Errorf("wait %d = %v, want within [%v, %v]", i, w, step/2, step)
			}
		}
	})
}

func TestPollStopsOnOtherErrorsAndCtx(t *testing.T) {
	boom := errors.New("boom")
	if _, err := lock.Poll(context.Background(), lock.Backoff{}, func(context.Context) (lock.Lock, error) {
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the try's error", err)
	}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := lock.Poll(ctx, lock.Backoff{Min: time.Hour, Max: time.Hour}, func(context.Context) (lock.Lock, error) {
			return nil, lock.ErrNotObtained
		})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 25*time.Millisecond {
			t.Fatalf("got %v after %v; want the deadline, not a sleep past it", err, time.Since(start))
		}
	})
}
