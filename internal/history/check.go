package history

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ErrMalformed is returned, wrapped, by Check for a history the harness
// recorded wrongly, which the rule cannot judge.
var ErrMalformed = errors.New("history: malformed history")

// Options adjust Check.
type Options struct {
	// RemoteLag is, per kind of invalidating operation, how long after it
	// completes a read in another process may still miss it: the stated
	// bound on cross-process visibility (for Hard, say,
	// Config.InvalidationRefresh). Reads in the process that invalidated get
	// no lag: a process sees its own writes at once. A missing kind has no
	// lag.
	RemoteLag map[Kind]time.Duration
}

func (o *Options) lag(inv, read *Op) time.Duration {
	if inv.Proc == read.Proc {
		return 0
	}
	return o.RemoteLag[inv.Kind]
}

// Violation is a read that returned a version older than an invalidation
// completed before it began allows.
type Violation struct {
	// Read is the offending read.
	Read Op
	// Missed is the invalidating operation (Invalidate, Set, InvalidateAll,
	// Hard) that had completed, allowed lag included, before Read began.
	Missed Op
	// Write is the database write whose version Missed promised: the latest
	// one of Read's key that had completed before Missed began.
	Write Op
	// Creator is the creator run that computed the version Read returned
	// (the latest to end before Read did), when the history has one.
	Creator *Op
	// Lag is the lag Missed was allowed (Options.RemoteLag).
	Lag time.Duration

	origin int64 // the history's first Start, which times are shown from
}

// String describes the violation with times from the start of the history.
func (v *Violation) String() string {
	var b strings.Builder
	r, m, w := &v.Read, &v.Missed, &v.Write
	fmt.Fprintf(&b, "%s %s %s returned v%d %s", r.who(), r.Kind, r.Key, r.Version, v.span(r))
	if r.Via != "" || r.Outcome != "" {
		fmt.Fprintf(&b, " (%s)", strings.Trim(r.Via+", "+r.Outcome, ", "))
	}
	fmt.Fprintf(&b, "\n  but v%d was promised by %s's %s", w.Version, m.who(), m.Kind)
	if m.Key != r.Key {
		fmt.Fprintf(&b, " %q", m.Key)
	}
	fmt.Fprintf(&b, " %s, which ended %v before the read began (lag allowed: %v)",
		v.span(m), time.Duration(r.Start-m.End).Round(time.Microsecond), v.Lag)
	fmt.Fprintf(&b, "\n  after %s's db-write of v%d %s", w.who(), w.Version, v.span(w))
	if c := v.Creator; c != nil {
		fmt.Fprintf(&b, "\n  v%d was computed by %s's creator %s", c.Version, c.who(), v.span(c))
		if c.End > m.Start {
			b.WriteString(", which returned after the invalidation began")
		}
	}
	switch r.Outcome {
	case "hit", "stale":
		b.WriteString("\n  → served from the cache: an entry holding the old version outlived the invalidation")
	case "shared":
		b.WriteString("\n  → handed the result of a creation or read already under way")
	}
	return b.String()
}

// span formats op's start and end, in milliseconds from the history's start.
func (v *Violation) span(op *Op) string {
	ms := func(t int64) float64 { return float64(t-v.origin) / 1e6 }
	return fmt.Sprintf("[%.3fms → %.3fms]", ms(op.Start), ms(op.End))
}

// Result is what Check found.
type Result struct {
	// Reads and Invalidations count the successful reads judged and the
	// successful invalidating operations they were judged against.
	Reads, Invalidations int
	// Failed lists the operations that returned an error, which were
	// neither judged nor judged against. A history where many failed tells
	// little.
	Failed []Op
	// Violations holds one violation per offending read, in the order the
	// reads began: the missed invalidation that promised the newest version,
	// the earliest to end among those.
	Violations []Violation
}

// Report summarises the result: the violations counted by class (how the
// read was answered, what it missed, in which process), then an example of
// each class, at most max (one per kind of missed operation first).
func (r *Result) Report(max int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d reads violate the rule (checked against %d invalidations)",
		len(r.Violations), r.Reads, r.Invalidations)
	counts := map[string]int{}
	example := map[string]*Violation{}
	for i := range r.Violations {
		v := &r.Violations[i]
		where := "same process"
		if v.Read.Proc != v.Missed.Proc {
			where = "other process"
		}
		class := fmt.Sprintf("read (%s, %s) after %s, %s", v.Read.Via, v.Read.Outcome, v.Missed.Kind, where)
		if counts[class]++; example[class] == nil {
			example[class] = v
		}
	}
	classes := slices.Sorted(maps.Keys(counts))
	for _, c := range classes {
		fmt.Fprintf(&b, "\n  %5d × %s", counts[c], c)
	}
	// Examples: first one per kind of missed operation, then the others.
	var shown []string
	kinds := map[Kind]bool{}
	for _, c := range classes {
		if k := example[c].Missed.Kind; !kinds[k] {
			kinds[k] = true
			shown = append(shown, c)
		}
	}
	for _, c := range classes {
		if !slices.Contains(shown, c) {
			shown = append(shown, c)
		}
	}
	for i, c := range shown {
		if i == max {
			fmt.Fprintf(&b, "\n(examples of %d more classes left out)", len(shown)-max)
			break
		}
		fmt.Fprintf(&b, "\nexample of %q:\n%s", c, example[c])
	}
	return b.String()
}

// Check judges a history against the rule: no read that began after an
// invalidating operation of its key had completed (allowing
// Options.RemoteLag for operations of other processes) returned a version
// older than the database held, for that key, when the operation began.
//
// An invalidating operation is a successful Invalidate, Set (write-through;
// it promises at least the version it wrote), InvalidateAll or Hard; a write
// of the database is a DBWrite followed by one of them. "The database held"
// is the newest version a DBWrite of the key had written by the time the
// operation began, that is, whose End is at most its Start.
//
// "Before" allows equal times, which is program order within a goroutine:
// its next operation starts when its last one ended, or later. Failed
// operations are neither judged nor promise anything; Soft invalidations
// and creator runs are not judged.
//
// Writes of one key must not overlap one another, which the harness
// ensures: a write-through Set of a version older than one written before
// it began would be the harness's race, not the cache's, and is reported as
// an error wrapping ErrMalformed, like an operation that ends before it
// begins or two database writes of one version.
func Check(ops []Op, o Options) (*Result, error) {
	h, err := index(ops)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	var invs []*Op
	for i := range ops {
		switch op := &ops[i]; {
		case op.Failed():
			res.Failed = append(res.Failed, *op)
		case op.Kind.invalidates():
			invs = append(invs, op)
		}
	}
	res.Invalidations = len(invs)
	// promised is what an invalidating operation promised for a key: the
	// version and the database write that made it.
	type promise struct {
		inv   *Op
		write *Op
	}
	promised := map[string][]promise{} // by key, for every key read
	reads := make([]*Op, 0, len(ops))
	for i := range ops {
		if r := &ops[i]; r.Kind == Read && !r.Failed() {
			reads = append(reads, r)
		}
	}
	for _, r := range reads {
		if _, done := promised[r.Key]; done {
			continue
		}
		ps := []promise{}
		for _, inv := range invs {
			if !inv.covers(r.Key) {
				continue
			}
			w := h.latest(r.Key, inv.Start)
			if inv.Kind == Set && (w == nil || w.Version < inv.Version) {
				if own := h.write(r.Key, inv.Version); own != nil {
					w = own
				}
			}
			if inv.Kind == Set && w != nil && w.Version > inv.Version {
				return nil, fmt.Errorf("%w: %s's set of %s to v%d began after %s's db-write of v%d ended: writes of one key overlap",
					ErrMalformed, inv.who(), inv.Key, inv.Version, w.who(), w.Version)
			}
			if w != nil {
				ps = append(ps, promise{inv, w})
			}
		}
		promised[r.Key] = ps
	}
	slices.SortStableFunc(reads, func(a, b *Op) int { return cmp.Compare(a.Start, b.Start) })
	for _, r := range reads {
		res.Reads++
		var best *promise
		for i := range promised[r.Key] {
			p := &promised[r.Key][i]
			if p.inv.End+int64(o.lag(p.inv, r)) > r.Start || p.write.Version <= r.Version {
				continue
			}
			if best == nil || p.write.Version > best.write.Version ||
				p.write.Version == best.write.Version && p.inv.End < best.inv.End {
				best = p
			}
		}
		if best != nil {
			res.Violations = append(res.Violations, Violation{
				Read: *r, Missed: *best.inv, Write: *best.write,
				Creator: h.creator(r.Key, r.Version, r.End),
				Lag:     o.lag(best.inv, r), origin: h.origin,
			})
		}
	}
	return res, nil
}

// indexed is a history's database writes and creator runs, by key.
type indexed struct {
	writes   map[string][]*Op // successful DBWrites, by End
	creators map[string][]*Op // successful Creates
	origin   int64            // the first Start
}

func index(ops []Op) (*indexed, error) {
	h := &indexed{writes: map[string][]*Op{}, creators: map[string][]*Op{}}
	for i := range ops {
		op := &ops[i]
		if op.End < op.Start {
			return nil, fmt.Errorf("%w: %s's %s of %q ends before it begins", ErrMalformed, op.who(), op.Kind, op.Key)
		}
		if i == 0 || op.Start < h.origin {
			h.origin = op.Start
		}
		if op.Failed() {
			continue
		}
		switch op.Kind {
		case DBWrite:
			if w := h.write(op.Key, op.Version); w != nil {
				return nil, fmt.Errorf("%w: %s and %s both wrote v%d of %q", ErrMalformed, w.who(), op.who(), op.Version, op.Key)
			}
			h.writes[op.Key] = append(h.writes[op.Key], op)
		case Create:
			h.creators[op.Key] = append(h.creators[op.Key], op)
		}
	}
	for _, ws := range h.writes {
		slices.SortStableFunc(ws, func(a, b *Op) int { return cmp.Compare(a.End, b.End) })
	}
	return h, nil
}

// latest returns the newest database write of key that had ended by t, or
// nil.
func (h *indexed) latest(key string, t int64) *Op {
	var best *Op
	for _, w := range h.writes[key] {
		if w.End > t {
			break
		}
		if best == nil || w.Version > best.Version {
			best = w
		}
	}
	return best
}

// write returns the database write of version v of key, or nil.
func (h *indexed) write(key string, v int64) *Op {
	for _, w := range h.writes[key] {
		if w.Version == v {
			return w
		}
	}
	return nil
}

// creator returns the creator run of key that read version v and ended
// last before t, or nil.
func (h *indexed) creator(key string, v, t int64) *Op {
	var best *Op
	for _, c := range h.creators[key] {
		if c.Version == v && c.End <= t && (best == nil || c.End > best.End) {
			best = c
		}
	}
	return best
}
