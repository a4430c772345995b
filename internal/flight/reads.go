package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Reads shares backend reads of a key between the goroutines that ask for
// it at the same moment. A caller joins a read only if the read had not
// been sent when the caller found it; otherwise it queues the next read,
// which is sent once the one in flight has returned — or after QueueWait,
// whichever comes first, so that a slow read does not hold up the callers
// behind it — and which the callers arriving meanwhile share. So a hot key
// has one read in flight most of the time, each read answers the callers
// that arrived while the previous one was out (round trips per hit well
// under one), and no caller is answered by a read sent before it began.
// The zero Reads is ready to use.
type Reads[T any] struct {
	m sync.Map // key → *read[T]: the newest read of the key
}

type read[T any] struct {
	done chan struct{} // closed once res and err are set
	// sent is set before the read is sent: a caller that finds it unset
	// may join, since the read will go out after it began.
	sent atomic.Bool
	prev *read[T] // the read in flight this one waits for, or nil
	res  T
	err  error
}

// QueueWait bounds how long a queued read waits for the read in flight
// before it is sent: about a slow round trip to a server nearby.
const QueueWait = 2 * time.Millisecond

// errAbandoned is what the joiners of a read get when its leader gave up
// before sending it (its context ended): they read again.
var errAbandoned = errors.New("flight: read abandoned before it was sent")

// Do returns the result of a read of key sent after the call began: one it
// joins, or one it sends itself with send(ctx, key). send runs on the caller's
// goroutine with its ctx. A caller whose ctx ends while it waits returns
// ctx.Err() at once; the read goes on for the others.
func (r *Reads[T]) Do(ctx context.Context, key string, send func(context.Context, string) (T, error)) (T, error) {
	for {
		v, ok := r.m.Load(key)
		if !ok {
			f := &read[T]{done: make(chan struct{})}
			if v, ok = r.m.LoadOrStore(key, f); !ok {
				return r.lead(ctx, key, f, send)
			}
		}
		f := v.(*read[T])
		if !f.sent.Load() {
			res, err := wait(ctx, f)
			if errors.Is(err, errAbandoned) {
				continue
			}
			return res, err
		}
		// The read in flight went out before this call began: queue the
		// next one behind it.
		g := &read[T]{done: make(chan struct{}), prev: f}
		if r.m.CompareAndSwap(key, f, g) {
			return r.lead(ctx, key, g, send)
		}
	}
}

// lead sends f, once the read before it has returned, and publishes its
// result.
func (r *Reads[T]) lead(ctx context.Context, key string, f *read[T], send func(context.Context, string) (T, error)) (T, error) {
	if p := f.prev; p != nil {
		select {
		case <-p.done:
		default:
			t := time.NewTimer(QueueWait)
			select {
			case <-p.done:
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				// Give the queued read up: its joiners read again.
				f.err = errAbandoned
				r.m.CompareAndDelete(key, f)
				close(f.done)
				var zero T
				return zero, ctx.Err()
			}
			t.Stop()
		}
		f.prev = nil
	}
	f.sent.Store(true)
	f.res, f.err = send(ctx, key)
	r.m.CompareAndDelete(key, f)
	close(f.done)
	return f.res, f.err
}

func wait[T any](ctx context.Context, f *read[T]) (T, error) {
	select {
	case <-f.done:
		if errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded) {
			// The caller that sent it gave up: not an answer for others.
			var zero T
			return zero, errAbandoned
		}
		return f.res, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
