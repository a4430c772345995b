package flight

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Reads shares backend reads between the goroutines of a process that read
// at the same moment, batching them into multi-gets, without ever answering
// a caller with a read sent before it began.
//
// A caller that finds no read in flight sends its own at once: a lone
// caller pays one round trip and nothing else. A caller that finds reads in
// flight — sent before it began, so perhaps before a write it saw complete
// — never joins them: it puts its key into the next batch, which is sent
// once the batch in flight returns (or after QueueWait, so that a slow
// read does not hold up the callers behind it), and which every caller
// arriving meanwhile shares, a key asked twice once. Under load a process
// then has about one multi-get in flight: each answers the callers that
// arrived while the previous one was out, the round trips per read fall
// well under one, and so do the system calls — while no caller is answered
// by a read sent before it began. The zero Reads is ready to use.
type Reads[T any] struct {
	mu      sync.Mutex
	pending *batch[T] // the next batch, accumulating: not sent yet
	last    *batch[T] // the last batch sent, until it returns
	// queueWait replaces QueueWait when set (tests).
	queueWait time.Duration
}

// MaxBatch bounds the keys of one batch; a full batch is sent as soon as
// the batch before it returns, and the next caller starts another.
const MaxBatch = 256

// QueueWait bounds how long a batch waits for the one in flight before it
// is sent: about a slow round trip to a server nearby.
const QueueWait = 2 * time.Millisecond

// batch is one backend read of several keys. Its fields are guarded by the
// Reads' mutex until done is set; then res and err are read-only.
type batch[T any] struct {
	keys []string
	one  [1]string      // keys' first array: a batch of one key allocates none
	at   map[string]int // a key's index in keys, once there are several
	// sent is set before the batch is sent: a caller that finds it unset
	// may add its key, since the batch will go out after it began.
	sent bool
	done bool
	// wake is made by the first caller that waits, and closed when the
	// batch is done: an uncontended read allocates no channel.
	wake chan struct{}
	prev *batch[T] // the batch in flight this one waits for, or nil
	res  []T
	err  error
}

// errAbandoned is what the callers of a batch get when its leader gave up
// before sending it (its context ended): they read again.
var errAbandoned = errors.New("flight: read abandoned before it was sent")

// Do returns the result for key of a read sent after the call began: one
// it shares, or one it sends itself with send(ctx, keys), which returns one
// result per key, in order. send runs on the caller's goroutine with its
// ctx. A caller whose ctx ends while it waits returns ctx.Err() at once;
// the read goes on for the others.
func (r *Reads[T]) Do(ctx context.Context, key string, send func(context.Context, []string) ([]T, error)) (T, error) {
	for {
		r.mu.Lock()
		if f := r.pending; f != nil && len(f.keys) < MaxBatch {
			// Not sent yet: it will go out after this call began.
			i := f.add(key)
			res, err := r.wait(ctx, f, i)
			if errors.Is(err, errAbandoned) {
				continue
			}
			return res, err
		}
		f := &batch[T]{}
		f.one[0] = key
		f.keys = f.one[:]
		if r.last == nil || r.last.done {
			// Nothing in flight: send at once.
			f.sent = true
			r.last = f
			r.mu.Unlock()
			return r.lead(ctx, f, send)
		}
		// Reads went out before this call began: lead the next batch,
		// which the callers arriving meanwhile join.
		f.prev = r.last
		if r.pending == nil {
			r.pending = f
		}
		r.mu.Unlock()
		return r.lead(ctx, f, send)
	}
}

// add puts key into f (once) and returns its index.
func (f *batch[T]) add(key string) int {
	if f.at == nil {
		if f.keys[0] == key {
			return 0
		}
		f.at = map[string]int{f.keys[0]: 0}
	} else if i, ok := f.at[key]; ok {
		return i
	}
	f.at[key] = len(f.keys)
	f.keys = append(f.keys, key)
	return len(f.keys) - 1
}

// lead sends f — once the batch before it has returned, or QueueWait has
// passed — and publishes its result; it returns the leader's, the first
// key's.
func (r *Reads[T]) lead(ctx context.Context, f *batch[T], send func(context.Context, []string) ([]T, error)) (T, error) {
	if p := f.prev; p != nil {
		if err := r.waitPrev(ctx, p); err != nil {
			// Give the batch up: its callers read again.
			r.mu.Lock()
			if r.pending == f {
				r.pending = nil
			}
			r.finishLocked(f, nil, errAbandoned)
			r.mu.Unlock()
			var zero T
			return zero, err
		}
		r.mu.Lock()
		if r.pending == f {
			r.pending = nil
		}
		f.sent, f.prev = true, nil
		r.last = f
		r.mu.Unlock()
	}
	res, err := send(ctx, f.keys)
	if err == nil && len(res) != len(f.keys) {
		err = errors.New("flight: a read returned the wrong number of results")
	}
	shared := err
	if err != nil && ctx.Err() != nil {
		// The leader gave up: not an answer for the others, who read
		// again. (A backend's own timeout is an answer: the backend
		// failed, and reading again would wait for it once more.)
		shared = errAbandoned
	}
	r.mu.Lock()
	r.finishLocked(f, res, shared)
	r.mu.Unlock()
	if err != nil {
		var zero T
		return zero, err
	}
	return res[0], nil
}

// waitPrev waits for p to be done, at most QueueWait; it returns ctx's
// error when ctx ends first.
func (r *Reads[T]) waitPrev(ctx context.Context, p *batch[T]) error {
	r.mu.Lock()
	if p.done {
		r.mu.Unlock()
		return nil
	}
	ch := p.wakeLocked()
	r.mu.Unlock()
	wait := QueueWait
	if r.queueWait > 0 {
		wait = r.queueWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// finishLocked publishes f's result and wakes its callers.
func (r *Reads[T]) finishLocked(f *batch[T], res []T, err error) {
	f.res, f.err, f.done = res, err, true
	if f.wake != nil {
		close(f.wake)
	}
}

// wakeLocked returns the channel closed when f is done, making it.
func (f *batch[T]) wakeLocked() chan struct{} {
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return f.wake
}

// wait waits for the i-th result of f, a batch not yet sent, with the
// mutex held (it releases it).
func (r *Reads[T]) wait(ctx context.Context, f *batch[T], i int) (T, error) {
	ch := f.wakeLocked()
	r.mu.Unlock()
	var zero T
	select {
	case <-ch:
		if f.err != nil {
			return zero, f.err
		}
		return f.res[i], nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
