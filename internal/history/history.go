package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Kind is what an operation did.
type Kind string

// The kinds of operations. Keys are the database's; a cached function's key
// and the database row it caches share one name (e.g. "f/2").
const (
	// Read is a read through the cache (GetOrCreate, a cached function's
	// Call); Version is the version it returned.
	Read Kind = "read"
	// Create is one run of a creator: it read Version from the database.
	// The checker does not judge it; it names the creator that computed an
	// offending value.
	Create Kind = "create"
	// DBWrite raised Key's version in the database to Version. It changes
	// nothing in the cache: the invalidation or write-through that follows
	// does.
	DBWrite Kind = "db-write"
	// Invalidate removed Key from the cache (a cached function's Invalidate,
	// Region.Delete).
	Invalidate Kind = "invalidate"
	// Set wrote Version under Key through the cache (write-through).
	Set Kind = "set"
	// InvalidateAll removed every key that begins with Key (a cached
	// function's InvalidateAll: Key is the prefix of the function's keys).
	InvalidateAll Kind = "invalidate-all"
	// Hard is a region-wide hard invalidation: every key is retired.
	Hard Kind = "invalidate-hard"
	// Tag is an InvalidateTags of the tag Key: every key TagOf tags with
	// it is retired.
	Tag Kind = "invalidate-tag"
	// Soft is a region-wide soft invalidation. Entries turn stale and may be
	// served while one caller regenerates them, so it promises no fresh
	// read: the checker ignores it (it is logged so a failure report shows
	// it).
	Soft Kind = "invalidate-soft"
)

// invalidates reports whether ops of kind k promise that later reads see
// the database as it was when they began, and so are checked against.
func (k Kind) invalidates() bool {
	switch k {
	case Invalidate, Set, InvalidateAll, Hard, Tag:
		return true
	}
	return false
}

// TagOf is the tag the workload gives key: keys "f/<i>" and "g/<i>" share
// the tag "t/<i mod 4>", so a tag spans keys of both families.
func TagOf(key string) string {
	_, n, _ := strings.Cut(key, "/")
	i, err := strconv.Atoi(n)
	if err != nil {
		return "t/?"
	}
	return "t/" + strconv.Itoa(i%4)
}

// covers reports whether op, an invalidating operation, retires key.
func (op *Op) covers(key string) bool {
	switch op.Kind {
	case Invalidate, Set:
		return op.Key == key
	case InvalidateAll, Hard:
		return strings.HasPrefix(key, op.Key)
	case Tag:
		return TagOf(key) == op.Key
	}
	return false
}

// Op is one operation of one goroutine. Start is taken just before the
// operation is issued and End just after it returned, from [Now].
type Op struct {
	Proc    int    `json:"proc"`
	G       int    `json:"g"`
	Kind    Kind   `json:"kind"`
	Key     string `json:"key,omitempty"`
	Start   int64  `json:"start"`
	End     int64  `json:"end"`
	Version int64  `json:"version,omitempty"`
	// Via names the API called, e.g. "call", "get-or-create", "func.set".
	Via string `json:"via,omitempty"`
	// Outcome is how a read was answered (region.Outcome: hit, stale,
	// created, shared), when known.
	Outcome string `json:"outcome,omitempty"`
	// Err is the operation's error; a failed operation is not checked
	// against and not judged.
	Err string `json:"err,omitempty"`
}

// Failed reports whether the operation returned an error.
func (op *Op) Failed() bool { return op.Err != "" }

// who names the goroutine, e.g. "p1/g3".
func (op *Op) who() string { return fmt.Sprintf("p%d/g%d", op.Proc, op.G) }

// Log collects the operations of one process. It is safe for concurrent use.
type Log struct {
	mu  sync.Mutex // protects ops
	ops []Op
}

// Add appends op.
func (l *Log) Add(op Op) {
	l.mu.Lock()
	l.ops = append(l.ops, op)
	l.mu.Unlock()
}

// Ops returns a copy of the operations added so far, in order of addition.
func (l *Log) Ops() []Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

// Encode writes ops to w as JSON lines, one operation per line.
func Encode(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Decode reads the JSON lines Encode wrote.
func Decode(r io.Reader) ([]Op, error) {
	var ops []Op
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	for dec.More() {
		var op Op
		if err := dec.Decode(&op); err != nil {
			return ops, fmt.Errorf("history: operation %d: %w", len(ops)+1, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}
