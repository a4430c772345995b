// Package gens keeps a process's view of the invalidation generations:
// counters kept by the backend that only rise, raised by a region-wide
// invalidation (hard or soft) and by a cached function's InvalidateAll.
//
// It enforces this row of the consistency table: an entry whose creation
// began under an older generation than the reader knows of is retired —
// missing after a hard invalidation or an InvalidateAll, stale after a soft
// one — so a region-wide invalidation is never undone by a creation in
// flight, whatever the clocks say. Every entry carries the generations it
// was created under (serializer.Gens, stamped from a [Set] when its
// creation began); a [Set] compares them with its view, which only moves
// forward (View.Raise), and learns of newer generations from the backend
// (read at most every refresh interval) and from entries that carry them.
package gens

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/serializer"
)

// View is a process's view of one shared counter.
type View struct {
	g atomic.Uint64
}

// Load returns the view.
func (v *View) Load() uint64 { return v.g.Load() }

// Raise moves the view to g unless it is already there or past it.
func (v *View) Raise(g uint64) {
	for {
		old := v.g.Load()
		if g <= old || v.g.CompareAndSwap(old, g) {
			return
		}
	}
}

// Bump raises the view by one: an invalidation this process made, on a
// backend that keeps no counter (in-process), or that could not be reached.
func (v *View) Bump() { v.g.Add(1) }

// Func is the generation of one cached function's results, with the key of
// the shared counter.
type Func struct {
	View
	Key string
}

// TagView is a process's view of one tag's counter, with the key of the
// shared counter. Until it has been read (known) a value carrying the tag
// cannot be judged; while the backend holds no counter for it (missing:
// never made, or evicted), every value carrying it is retired — the
// invalidations the lost counter had counted are unknown.
type TagView struct {
	View
	Name, Key      string // the tag, and its counter's key
	known, missing atomic.Bool
}

// Learn sets the view from the counter's bytes (nil: missing).
func (t *TagView) Learn(data []byte) {
	if g, ok := Decode(data); ok {
		t.Raise(g)
		t.missing.Store(false)
	} else {
		t.missing.Store(true)
	}
	t.known.Store(true)
}

// Made records that the counter exists with at least g: this process
// made it or raised it.
func (t *TagView) Made(g uint64) {
	t.Raise(g)
	t.missing.Store(false)
	t.known.Store(true)
}

// Known reports whether the view was read; Missing whether the backend
// held no counter when it last was.
func (t *TagView) Known() bool   { return t.known.Load() }
func (t *TagView) Missing() bool { return t.missing.Load() }

// Current reports whether a value that carries t at gen is current with
// it: t was read, the counter exists, and gen is not behind it.
func (t *TagView) Current(gen uint64) bool {
	return t.Known() && !t.Missing() && gen >= t.Load()
}

// MaxTagViews bounds the tags a Set keeps views of; past it, it forgets
// them all (each is read again when next needed).
const MaxTagViews = 10_000

// Freshness is what the generations say of an entry.
type Freshness int

const (
	Retired Freshness = iota // created before a hard invalidation or an InvalidateAll: missing
	Stale                    // created before a soft invalidation: stale
	Current                  // created under the generations in force
)

// Set is a region's view of its generations, and when to read them again.
type Set struct {
	Hard, Soft View

	funcs sync.Map // key → *Func: the cached functions' generations
	tags  sync.Map // tag → *TagView
	ntags atomic.Int64

	// checked is when the shared counters were last read, on the region's
	// clock; refreshing lets one reader at a time read them.
	checked    atomic.Int64
	refreshing atomic.Bool
	// failing is set while the last read failed: the view may be older
	// than the refresh interval, so reads must not trust the backend until
	// a read succeeds. The next attempt is not before retryAt (monotonic
	// nanoseconds); backoff is the wait that set it, doubled at each
	// failure.
	failing          atomic.Bool
	retryAt, backoff atomic.Int64
}

// Func returns the generation of the cached function whose counter is
// under key, adding it to the set (the next refresh reads it).
func (s *Set) Func(key string) *Func {
	v, loaded := s.funcs.LoadOrStore(key, &Func{Key: key})
	if !loaded {
		s.MakeDue()
	}
	return v.(*Func)
}

// LookupTag returns the view of tag, if the set has one.
func (s *Set) LookupTag(tag string) (*TagView, bool) {
	v, ok := s.tags.Load(tag)
	if !ok {
		return nil, false
	}
	return v.(*TagView), true
}

// Tag returns the view of tag, whose counter is under key, adding it.
func (s *Set) Tag(tag, key string) *TagView {
	if v, ok := s.tags.Load(tag); ok {
		return v.(*TagView)
	}
	if s.ntags.Load() >= MaxTagViews {
		s.tags.Range(func(k, _ any) bool {
			s.tags.Delete(k)
			return true
		})
		s.ntags.Store(0)
	}
	v, loaded := s.tags.LoadOrStore(tag, &TagView{Name: tag, Key: key})
	if !loaded {
		s.ntags.Add(1)
	}
	return v.(*TagView)
}

// Stamp returns the generations a creation beginning now runs under; fn is
// the cached function's generation, or nil; tags are the views of the
// value's tags, read for it.
func (s *Set) Stamp(fn *Func, tags ...*TagView) serializer.Gens {
	g := serializer.Gens{Hard: s.Hard.Load(), Soft: s.Soft.Load()}
	if fn != nil {
		g.Func = fn.Load()
	}
	if len(tags) > 0 {
		ts := make([]serializer.Tag, len(tags))
		for i, t := range tags {
			ts[i] = serializer.Tag{Name: t.Name, Gen: t.Load()}
		}
		g.Tags = serializer.MakeTags(ts)
	}
	return g
}

// Judge tells whether an entry created under g is current, stale or
// retired by the region's and fn's generations; fn is the cached function
// it belongs to, if any. A hard generation newer than the view is learned:
// it proves the counter on the server got there. It does not judge g's
// tags: their counters may need a read first, which the caller makes
// (each with TagView.Current).
func (s *Set) Judge(g *serializer.Gens, fn *Func) Freshness {
	if hard := s.Hard.Load(); g.Hard != hard {
		if g.Hard < hard {
			return Retired
		}
		s.Hard.Raise(g.Hard)
	}
	if fn != nil && g.Func < fn.Load() {
		return Retired
	}
	if g.Soft < s.Soft.Load() {
		return Stale
	}
	return Current
}

// Keys returns the keys of every shared counter of the set, the region's
// marks first, with the views they raise.
func (s *Set) Keys(hard, soft string) ([]string, []*View) {
	keys := []string{hard, soft}
	views := []*View{&s.Hard, &s.Soft}
	s.funcs.Range(func(_, v any) bool {
		f := v.(*Func)
		keys, views = append(keys, f.Key), append(views, &f.View)
		return true
	})
	return keys, views
}

// KnownTags returns the views of the tags read so far, to refresh them
// with the other counters.
func (s *Set) KnownTags() []*TagView {
	var out []*TagView
	s.tags.Range(func(_, v any) bool {
		if t := v.(*TagView); t.Known() {
			out = append(out, t)
		}
		return true
	})
	return out
}

// Apply raises views[i] to the counter data[i] holds.
func Apply(views []*View, data [][]byte) {
	for i, d := range data {
		if g, ok := Decode(d); ok && i < len(views) {
			views[i].Raise(g)
		}
	}
}

// Bounds of the wait between refresh attempts after a failure.
const (
	MinBackoff = 50 * time.Millisecond
	MaxBackoff = 5 * time.Second
)

// Refresh is what a reader must do about the shared counters before it
// trusts the backend.
type Refresh int

const (
	Fresh    Refresh = iota // the view is recent enough: read on
	Read                    // read them now: this reader refreshes (call Done)
	Distrust                // a refresh failed lately and is not due again: skip the backend
)

// Due tells a reader at now (the region's clock) whether the view is
// recent enough for every, whether it must refresh it, or whether the
// backend must be skipped; retry says whether a failed refresh may be
// retried now (the breaker paces it when it is open). A clock stepped back
// makes the refresh due at once rather than delay it.
func (s *Set) Due(now int64, every time.Duration, retry func() bool) Refresh {
	if age := now - s.checked.Load(); age >= 0 && age < int64(every) {
		return Fresh
	}
	failing := s.failing.Load()
	if failing && !retry() {
		return Distrust
	}
	if !s.refreshing.CompareAndSwap(false, true) {
		if failing { // another caller is retrying; not to be trusted yet
			return Distrust
		}
		return Fresh
	}
	return Read
}

// RetryDue reports whether the backoff of a failed refresh is over.
func (s *Set) RetryDue(mono int64) bool { return s.retryAt.Load() <= mono }

// Done ends a refresh Due handed out: read at now (the region's clock), it
// succeeded, or failed (with backoff, when the backend failed; without,
// when it was skipped by its breaker, whose probe paces the attempts).
func (s *Set) Done(now int64, err error, backoff bool, ceiling time.Duration, mono int64) {
	defer s.refreshing.Store(false)
	if err == nil {
		s.Refreshed(now)
		return
	}
	if backoff {
		b := min(max(2*s.backoff.Load(), int64(MinBackoff)), int64(min(ceiling, MaxBackoff)))
		s.backoff.Store(b)
		s.retryAt.Store(mono + b)
	}
	s.failing.Store(true)
}

// Abandon ends a refresh Due handed out that the reader gave up: nothing
// is learned, and the next reader refreshes.
func (s *Set) Abandon() { s.refreshing.Store(false) }

// Refreshed records a successful read of every shared counter, begun at now.
func (s *Set) Refreshed(now int64) {
	s.checked.Store(now)
	s.backoff.Store(0)
	s.failing.Store(false)
}

// MakeDue makes the next reader read the counters.
func (s *Set) MakeDue() { s.checked.Store(math.MinInt64 / 2) }

// Failing reports whether the last refresh failed.
func (s *Set) Failing() bool { return s.failing.Load() }

// Next is the counter that follows data (the stored counter, or nil when
// there is none) and seen (this process's view). A counter that is missing
// — never written, or evicted by a memcached short of memory — starts past
// the clock in milliseconds, so it lands above the counts it lost unless
// more than a thousand invalidations a second were made, or this clock is
// behind the one that made them.
func Next(data []byte, seen uint64) uint64 {
	cur, ok := Decode(data)
	if !ok {
		cur = max(seen, uint64(time.Now().UnixMilli()))
	}
	return max(cur, seen) + 1
}

// Encode and Decode are the bytes of a counter on the backend.
func Encode(g uint64) []byte { return binary.BigEndian.AppendUint64(nil, g) }

func Decode(data []byte) (uint64, bool) {
	if len(data) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(data), true
}
