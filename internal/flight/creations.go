package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Creations are the creations in progress in this process, by key: the
// callers that need a key being created wait for its creation rather than
// ask the lock again. The zero Creations is ready to use.
type Creations struct {
	m sync.Map // key → *Creation
}

// Creation is one creation of a key in progress in this process.
type Creation struct {
	done  chan struct{} // closed once the result is set
	epoch uint64        // the key's epoch when the creation started
	// began is set when the creator is about to run: a caller that joins
	// before then gets a value whose creation began after its call did.
	began atomic.Bool

	// The result, set before done is closed.
	value   any
	created bool // the value comes from this creation's creator
	err     error
	// superseded is set when the created value was not stored: a write of
	// the key overtook the creation, or (faulted) the backend failed.
	superseded, faulted bool
	// stale is set when the creation ended with its leader's stale value
	// (it served it instead of creating): no answer for a caller that
	// found the key missing, as that read may predate a write the caller
	// saw complete.
	stale bool
}

// Join returns the creation of key in progress, or starts one when there is
// none; leader is true for the caller that started it, which must Land it.
// A creation that started before a write of key completed in this process
// — one of an older epoch than epoch, the key's now — is not joined: its
// value may be what the write replaced; the caller starts a new one in its
// place, which waits for the old one's lock and reads again. Finding a
// creation under way takes no lock.
func (c *Creations) Join(key string, epoch uint64) (f *Creation, leader bool) {
	v, ok := c.m.Load(key)
	if ok && v.(*Creation).epoch >= epoch {
		return v.(*Creation), false
	}
	f = &Creation{done: make(chan struct{}), epoch: epoch}
	for {
		if !ok {
			if v, ok = c.m.LoadOrStore(key, f); !ok {
				return f, true
			}
		} else if c.m.CompareAndSwap(key, v, f) {
			return f, true
		}
		if v.(*Creation).epoch >= epoch {
			return v.(*Creation), false
		}
		v, ok = c.m.Load(key)
	}
}

// Running reports whether key is being created in this process.
func (c *Creations) Running(key string) bool {
	_, ok := c.m.Load(key)
	return ok
}

// Begin marks the creator as about to run.
func (f *Creation) Begin() { f.began.Store(true) }

// Began reports whether the creator had begun.
func (f *Creation) Began() bool { return f.began.Load() }

// Superseded marks the created value as not stored: overtaken by a write
// of its key, or, when faulted, not stored because the backend failed.
func (f *Creation) Superseded(faulted bool) { f.superseded, f.faulted = true, faulted }

// Land publishes the creation's result and forgets it. created says the
// value comes from its creator; stale that it is the leader's stale value,
// served instead.
func (c *Creations) Land(key string, f *Creation, v any, created, stale bool, err error) {
	f.value, f.created, f.stale, f.err = v, created, stale, err
	c.m.CompareAndDelete(key, f)
	close(f.done)
}

// Result is how a caller was answered by a creation.
type Result int

const (
	Created Result = iota + 1 // by its own creator (the leader)
	Shared                    // by another caller's creation
)

// ErrStale is what Wait returns to a caller that joined a creation whose
// leader served its stale value instead of creating.
var ErrStale = errors.New("flight: creation ended with a stale value")

// OvertakenError is what Wait returns to a caller that joined a creation
// whose value was not stored because a write of its key overtook it: the
// caller reads again. Value is the creation's value.
type OvertakenError struct{ Value any }

func (*OvertakenError) Error() string { return "flight: creation overtaken by a write of its key" }

// Wait returns the creation's result, or ctx.Err() as soon as ctx is done.
// leader tells whether the caller started it, late whether it joined after
// its creator began. A caller that joined a creation whose value was
// superseded gets an *OvertakenError — unless the value was not stored only
// because the backend failed and the caller joined before the creator began
// (late is false): then the value is as new as any the caller could create
// itself, with no backend to read.
func Wait(ctx context.Context, f *Creation, leader, late bool) (any, Result, error) {
	select {
	case <-f.done:
		if f.stale && !leader {
			return nil, 0, ErrStale
		}
		if f.created && leader {
			return f.value, Created, f.err
		}
		if f.superseded && f.err == nil && (late || !f.faulted) {
			return nil, 0, &OvertakenError{Value: f.value}
		}
		return f.value, Shared, f.err
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// Done returns a channel closed when the creation has landed.
func (f *Creation) Done() <-chan struct{} { return f.done }
