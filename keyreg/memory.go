package keyreg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrInvalidOptions is returned (wrapped) by [NewMemory] when its options are
// out of range.
var ErrInvalidOptions = errors.New("keyreg: invalid options")

// DefaultMaxKeys is the bound [NewMemory] uses when MemoryOptions.MaxKeys is
// zero.
const DefaultMaxKeys = 100_000

// Clock tells the time. Tests inject one to control expiry.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// MemoryOptions configures a [Memory] registry. The zero value is ready to
// use.
type MemoryOptions struct {
	// MaxKeys bounds the number of records over all functions. When a new
	// record would exceed it, the least recently recorded one is evicted.
	// Zero means DefaultMaxKeys; negative values are invalid.
	MaxKeys int
	// Clock is the time source for record expiry; nil means the system
	// clock.
	Clock Clock
}

// Memory is an in-process [Registry]. Its records live in this process only,
// so invalidation through it does not reach other processes.
//
// Memory never grows beyond MaxKeys records: when full, it evicts the least
// recently recorded key, across all functions (recording a key again makes it
// the most recent). Records whose ttl has passed are dropped lazily: they are
// never reported, and they leave when their function's keys are listed, when
// they reach the front of the eviction order, or when evicted.
//
// Memory is safe for concurrent use. Its methods never block and ignore ctx.
type Memory struct {
	clock Clock
	max   int

	// mu protects fns, head and size.
	mu sync.Mutex
	// fns maps a function to its records, by key. A function with no records
	// has no entry, so forgotten functions cost nothing.
	fns map[string]map[string]*record
	// head is the sentinel of the circular eviction list: head.next is the
	// least recently recorded record, head.prev the most recent.
	head record
	size int
}

// record is one recorded key, linked into Memory's eviction list.
type record struct {
	fn, key    string
	expires    time.Time // zero: never
	prev, next *record
}

var _ Registry = (*Memory)(nil)

// NewMemory returns an empty in-process registry configured by o. It returns
// an error wrapping [ErrInvalidOptions] when o.MaxKeys is negative.
func NewMemory(o MemoryOptions) (*Memory, error) {
	if o.MaxKeys < 0 {
		return nil, fmt.Errorf("%w: MaxKeys %d is negative", ErrInvalidOptions, o.MaxKeys)
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	m := &Memory{clock: o.Clock, max: o.MaxKeys, fns: make(map[string]map[string]*record)}
	m.head.next, m.head.prev = &m.head, &m.head
	return m, nil
}

// Namespace returns fn unchanged: Memory keeps sets of keys, not
// generations. It never fails.
func (m *Memory) Namespace(_ context.Context, fn string) (string, error) {
	return fn, nil
}

// Record notes that key was stored for fn, dropping the record after ttl
// (zero or negative: kept until forgotten or evicted). Recording a key again
// renews its ttl and its place in the eviction order. It never fails.
func (m *Memory) Record(_ context.Context, fn, key string, ttl time.Duration) error {
	now := m.clock.Now()
	var expires time.Time
	if ttl > 0 {
		expires = now.Add(ttl)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.fns[fn][key]; r != nil {
		r.expires = expires
		m.unlinkLocked(r)
		m.pushBackLocked(r)
		return nil
	}
	// Drop expired records at the front of the eviction order, then evict
	// the oldest while full.
	for m.size > 0 && m.head.next.expiredAt(now) {
		m.removeLocked(m.head.next)
	}
	for m.size >= m.max {
		m.removeLocked(m.head.next)
	}
	keys := m.fns[fn] // looked up after evicting, which may drop fn's map
	if keys == nil {
		keys = make(map[string]*record)
		m.fns[fn] = keys
	}
	r := &record{fn: fn, key: key, expires: expires}
	keys[key] = r
	m.pushBackLocked(r)
	m.size++
	return nil
}

// Recorded reports whether key is recorded for fn and its ttl has not
// passed. It never fails.
func (m *Memory) Recorded(_ context.Context, fn, key string) (bool, error) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.fns[fn][key]
	if r == nil {
		return false, nil
	}
	if r.expiredAt(now) {
		m.removeLocked(r)
		return false, nil
	}
	return true, nil
}

// Keys lists the keys recorded for fn whose ttl has not passed, in no
// particular order, and drops fn's expired records. It never fails.
func (m *Memory) Keys(_ context.Context, fn string) ([]string, error) {
	return m.collect(fn, false), nil
}

// Forget drops the records of keys for fn; keys never recorded are ignored.
// It never fails.
func (m *Memory) Forget(_ context.Context, fn string, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	recs := m.fns[fn]
	for _, k := range keys {
		if r := recs[k]; r != nil {
			m.removeLocked(r)
		}
	}
	return nil
}

// ForgetAll drops every record of fn and returns the keys whose ttl had not
// passed, for the caller to delete from the backend. It never fails.
func (m *Memory) ForgetAll(_ context.Context, fn string) ([]string, error) {
	return m.collect(fn, true), nil
}

// collect returns fn's live keys, dropping expired records, and every record
// of fn when forget is set.
func (m *Memory) collect(fn string, forget bool) []string {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	recs := m.fns[fn]
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		expired := r.expiredAt(now)
		if !expired {
			out = append(out, r.key)
		}
		if expired || forget {
			m.removeLocked(r)
		}
	}
	return out
}

// len returns the number of records, expired or not. For tests.
func (m *Memory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

func (r *record) expiredAt(now time.Time) bool {
	return !r.expires.IsZero() && !now.Before(r.expires)
}

// removeLocked unlinks r and deletes it from its function's map, deleting the
// map when it becomes empty.
func (m *Memory) removeLocked(r *record) {
	m.unlinkLocked(r)
	m.size--
	keys := m.fns[r.fn]
	delete(keys, r.key)
	if len(keys) == 0 {
		delete(m.fns, r.fn)
	}
}

func (m *Memory) unlinkLocked(r *record) {
	r.prev.next = r.next
	r.next.prev = r.prev
	r.prev, r.next = nil, nil
}

func (m *Memory) pushBackLocked(r *record) {
	r.prev = m.head.prev
	r.next = &m.head
	m.head.prev.next = r
	m.head.prev = r
}
