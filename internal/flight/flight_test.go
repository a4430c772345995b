package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWaitByPhase: what a caller that joined a creation in each phase is
// answered, for each way the creation can end.
func TestWaitByPhase(t *testing.T) {
	type end struct {
		name                       string
		created, stored, overtaken bool
		faulted, stale             bool
		err                        error
	}
	ends := []end{
		{name: "created and stored", created: true, stored: true},
		{name: "created, not to be cached", created: true},
		{name: "created, overtaken", created: true, overtaken: true},
		{name: "created, backend failed", created: true, faulted: true},
		{name: "read under the lease"},
		{name: "stale served", stale: true},
		{name: "creator failed", err: errors.New("db down")},
	}
	// want[end][phase]: "shared", "again" (OvertakenError), "stale"
	// (ErrStale) or "err".
	want := map[string][3]string{
		"created and stored":        {"shared", "shared", "again"},
		"created, not to be cached": {"shared", "again", "again"},
		"created, overtaken":        {"again", "again", "again"},
		"created, backend failed":   {"shared", "again", "again"},
		"read under the lease":      {"shared", "again", "again"},
		"stale served":              {"stale", "stale", "stale"},
		"creator failed":            {"err", "err", "err"},
	}
	for _, e := range ends {
		for _, phase := range []Phase{Early, Late, Settled} {
			t.Run(fmt.Sprintf("%s/%d", e.name, phase), func(t *testing.T) {
				var c Creations
				f, leader := c.Join("k", 0)
				if !leader {
					t.Fatal("first Join is not the leader")
				}
				if phase >= Late {
					f.Begin()
				}
				if phase == Settled {
					f.Settle()
				}
				g, leader := c.Join("k", 0)
				if leader || g != f {
					t.Fatal("second Join did not join the creation in flight")
				}
				if got := g.Phase(); got != phase {
					t.Fatalf("Phase = %d, want %d", got, phase)
				}
				if e.stored {
					f.Stored()
				}
				if e.overtaken {
					f.Overtaken()
				}
				if e.faulted {
					f.Faulted()
				}
				c.Land("k", f, "v", e.created, e.stale, e.err)
				v, res, err := Wait(context.Background(), g, false, phase)
				var got string
				var ov *OvertakenError
				switch {
				case errors.Is(err, ErrStale):
					got = "stale"
				case errors.As(err, &ov):
					got = "again"
				case err != nil:
					got = "err"
				case res == Shared && v == "v":
					got = "shared"
				default:
					t.Fatalf("Wait = %v, %v, %v", v, res, err)
				}
				if w := want[e.name][phase]; got != w {
					t.Errorf("joined %d, ended %q: %s, want %s", phase, e.name, got, w)
				}
				// The leader is answered with its own result.
				if _, res, err := Wait(context.Background(), f, true, Early); !errors.Is(err, e.err) || (e.created && res != Created) {
					t.Errorf("leader: %v, %v", res, err)
				}
			})
		}
	}
}

// TestJoinNewerEpoch: a creation that began before a write of its key
// completed is not joined; its replacement is, and landing the old one
// does not forget the new one.
func TestJoinNewerEpoch(t *testing.T) {
	var c Creations
	var ep Epochs
	old, _ := c.Join("k", ep.Of("k"))
	ep.Wrote("k")
	f, leader := c.Join("k", ep.Of("k"))
	if !leader || f == old {
		t.Fatal("joined a creation older than a completed write")
	}
	if g, leader := c.Join("k", ep.Of("k")); leader || g != f {
		t.Fatal("did not join the newer creation")
	}
	c.Land("k", old, "old", true, false, nil)
	if !c.Running("k") {
		t.Fatal("landing the old creation forgot the new one")
	}
	ep.WroteAll()
	if _, leader := c.Join("k", ep.Of("k")); !leader {
		t.Fatal("joined a creation older than a region-wide invalidation")
	}
}

// recorder is a send that blocks until released, recording the batches.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	sent    chan []string // each batch as it is sent
	release chan error    // the answer of each batch, in turn
}

func newRecorder() *recorder {
	return &recorder{sent: make(chan []string, 16), release: make(chan error)}
}

func (r *recorder) send(ctx context.Context, keys []string) ([]string, error) {
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(keys))
	r.mu.Unlock()
	r.sent <- slices.Clone(keys)
	select {
	case err := <-r.release:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = "v:" + k
	}
	return out, nil
}

type answer struct {
	v   string
	err error
}

func do(r *Reads[string], ctx context.Context, key string, rec *recorder) chan answer {
	ch := make(chan answer, 1)
	go func() {
		v, err := r.Do(ctx, key, rec.send)
		ch <- answer{v, err}
	}()
	return ch
}

// TestReadsNeverJoinTheReadInFlight: callers arriving while a read is in
// flight are answered by the next batch, sent once it returns, which reads
// each key once.
func TestReadsNeverJoinTheReadInFlight(t *testing.T) {
	r := Reads[string]{queueWait: time.Hour}
	rec := newRecorder()
	ctx := context.Background()
	first := do(&r, ctx, "a", rec)
	if got := <-rec.sent; !slices.Equal(got, []string{"a"}) {
		t.Fatalf("first batch %q, want [a]: a lone caller sends at once", got)
	}
	// Callers arrive while it is in flight: the first of them leads the
	// next batch, the others join it.
	a := do(&r, ctx, "a", rec)
	waitKeys(t, &r, 1)
	b := do(&r, ctx, "b", rec)
	waitKeys(t, &r, 2)
	select {
	case got := <-rec.sent:
		t.Fatalf("batch %q sent while the first is in flight", got)
	case <-time.After(10 * time.Millisecond):
	}
	rec.release <- nil
	if got := <-first; got.v != "v:a" || got.err != nil {
		t.Fatalf("first caller: %+v", got)
	}
	if got := <-rec.sent; !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("second batch %q, want [a b]", got)
	}
	rec.release <- nil
	for key, ch := range map[string]chan answer{"a": a, "b": b} {
		if got := <-ch; got.v != "v:"+key || got.err != nil {
			t.Errorf("caller of %s: %+v", key, got)
		}
	}
}

// TestReadsQueueWait: a batch waits for a slow read in flight at most
// QueueWait.
func TestReadsQueueWait(t *testing.T) {
	var r Reads[string]
	rec := newRecorder()
	ctx := context.Background()
	first := do(&r, ctx, "a", rec)
	<-rec.sent
	second := do(&r, ctx, "b", rec)
	if got := <-rec.sent; !slices.Equal(got, []string{"b"}) {
		t.Fatalf("second batch %q, want [b]", got)
	}
	rec.release <- nil
	rec.release <- nil
	for key, ch := range map[string]chan answer{"a": first, "b": second} {
		if got := <-ch; got.v != "v:"+key || got.err != nil {
			t.Errorf("caller of %s: %+v", key, got)
		}
	}
}

// TestReadsErrors: a backend error answers every caller of the batch; a
// leader that gives up does not answer the others with its ctx's error:
// they read again.
func TestReadsErrors(t *testing.T) {
	r := Reads[string]{queueWait: time.Hour}
	rec := newRecorder()
	ctx := context.Background()
	first := do(&r, ctx, "x", rec)
	<-rec.sent

	// A batch led by a caller whose ctx ends while it is out.
	lctx, cancel := context.WithCancel(ctx)
	leader := do(&r, lctx, "a", rec)
	waitKeys(t, &r, 1)
	other := do(&r, ctx, "b", rec)
	waitKeys(t, &r, 2)
	rec.release <- nil // first returns; the pending batch is sent
	<-first
	<-rec.sent
	cancel()
	if got := <-leader; !errors.Is(got.err, context.Canceled) {
		t.Fatalf("leader: %+v, want its ctx's error", got)
	}
	// The other reads again, in a batch of its own.
	if got := <-rec.sent; !slices.Equal(got, []string{"b"}) {
		t.Fatalf("read again %q, want [b]", got)
	}
	rec.release <- nil
	if got := <-other; got.v != "v:b" || got.err != nil {
		t.Fatalf("other caller: %+v", got)
	}

	// A backend error is the answer of every caller of the batch.
	boom := errors.New("backend down")
	one := do(&r, ctx, "p", rec)
	<-rec.sent
	two := do(&r, ctx, "q", rec)
	waitKeys(t, &r, 1)
	three := do(&r, ctx, "r", rec)
	waitKeys(t, &r, 2)
	rec.release <- nil
	<-one
	<-rec.sent
	rec.release <- boom
	for _, ch := range []chan answer{two, three} {
		if got := <-ch; !errors.Is(got.err, boom) {
			t.Errorf("caller: %+v, want the backend's error", got)
		}
	}
}

// waitKeys waits until the pending batch holds n keys.
func waitKeys(t *testing.T, r *Reads[string], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := 0
		if r.pending != nil {
			got = len(r.pending.keys)
		}
		r.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending batch holds %d keys, want %d", got, n)
		}
		runtime.Gosched()
	}
}
