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
//
// A caller that joins it is answered by it according to when it joined
// (its Phase):
//
//   - Early, before the creation sent the first read that may answer it
//     (the read under the lease): whatever the creation answers — a value
//     created, or read, after the caller began — will do.
//   - Late, after that read was sent and before the store under the lease
//     was: only a value the creation created and stored under its lease
//     will do — a write of the key completed before the caller began fell
//     after the lease, so it would have voided the store. A value the
//     creation read (another creator stored it), or could not store, may
//     predate such a write: the caller reads again (OvertakenError).
//   - Settled, after the store was sent: a write may have completed between
//     the store and the caller's start; the caller reads again.
type Creation struct {
	done  chan struct{} // closed once the result is set
	epoch uint64        // the key's epoch when the creation started
	// began is set before the creation sends the first read that may
	// answer it; settled before it sends its store (see Phase).
	began, settled atomic.Bool

	// The result, set before done is closed.
	value   any
	created bool // the value comes from this creation's creator
	stored  bool // and was stored under the creation's lease
	err     error
	// overtaken is set when the created value was not stored because a
	// write of the key voided the lease; faulted when it was not because
	// the backend failed.
	overtaken, faulted bool
	// stale is set when the creation ended with its leader's stale value
	// (it served it instead of creating): no answer for a caller that
	// found the key missing, as that read may predate a write the caller
	// saw complete.
	stale bool
}

// Phase is when a caller joined a creation; see Creation.
type Phase uint8

const (
	Early Phase = iota
	Late
	Settled
)

// Phase returns the phase a caller joining now joins in.
func (f *Creation) Phase() Phase {
	switch {
	case f.settled.Load():
		return Settled
	case f.began.Load():
		return Late
	}
	return Early
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

// Begin marks the creation as about to send the first read that may
// answer it.
func (f *Creation) Begin() { f.began.Store(true) }

// Settle marks the creation as about to send its store.
func (f *Creation) Settle() { f.settled.Store(true) }

// Stored marks the created value as stored under the creation's lease.
func (f *Creation) Stored() { f.stored = true }

// Overtaken marks the created value as not stored because a write of the
// key voided the creation's lease.
func (f *Creation) Overtaken() { f.overtaken = true }

// Faulted marks the created value as not stored because the backend
// failed.
func (f *Creation) Faulted() { f.faulted = true }

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
// whose answer may predate a write the caller saw complete (see Creation):
// the caller reads again. Value is the creation's value.
type OvertakenError struct{ Value any }

func (*OvertakenError) Error() string { return "flight: creation overtaken by a write of its key" }

// Wait returns the creation's result, or ctx.Err() as soon as ctx is done.
// leader tells whether the caller started it; joined is the phase it
// joined in (see Creation).
func Wait(ctx context.Context, f *Creation, leader bool, joined Phase) (any, Result, error) {
	select {
	case <-f.done:
		switch {
		case f.stale && !leader:
			return nil, 0, ErrStale
		case leader && f.created:
			return f.value, Created, f.err
		case leader || f.err != nil:
			return f.value, Shared, f.err
		case joined == Early && !f.overtaken:
			// Created or read after the caller began; but a creation a
			// write overtook is read again, for the newer value.
			return f.value, Shared, nil
		case joined == Late && f.stored:
			return f.value, Shared, nil
		}
		return nil, 0, &OvertakenError{Value: f.value}
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// Done returns a channel closed when the creation has landed.
func (f *Creation) Done() <-chan struct{} { return f.done }
