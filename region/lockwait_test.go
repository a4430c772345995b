package region_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/region"
)

// A caller of the same process that waits for another caller's creation is
// bounded by LockWait, as a caller of another process is (it used to wait
// for the whole creation, however long).
func TestLockWaitBoundsSameProcessWaiters(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkGoroutines(t)
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), LockWait: 20 * time.Millisecond})
			ctx := context.Background()
			g := newGate()
			var once sync.Once
			openGate := func() { once.Do(func() { close(g.open) }) }
			t.Cleanup(openGate) // before the region closes, should the test fail
			leader := make(chan error, 1)
			go func() {
				_, err := region.GetOrCreate(ctx, r, "k", create(g, 1))
				leader <- err
			}()
			<-g.entered // the leader's creator runs, and stays until the gate opens

			var err error
			within(t, 5*time.Second, "a same-process waiter", func() {
				_, err = region.GetOrCreate(ctx, r, "k", create(g, 2))
			})
			if !errors.Is(err, region.ErrLockTimeout) {
				t.Fatalf("waiter got %v, want ErrLockTimeout", err)
			}
			if s := r.Stats(); s.LockWaitTimeouts != 1 {
				t.Fatalf("LockWaitTimeouts = %d, want 1", s.LockWaitTimeouts)
			}
			openGate()
			if err := <-leader; err != nil {
				t.Fatalf("the creator's own caller is not bounded by LockWait: %v", err)
			}
			if g.Calls() != 1 {
				t.Fatalf("a timed-out wait must not create: creator ran %d times", g.Calls())
			}
			if v, err := region.GetOrCreate(ctx, r, "k", create(g, 3)); err != nil || v != 1 {
				t.Fatalf("after the creation: %v, %v; want 1", v, err)
			}
		})
	}
}

// PanicError's message is one line; the stack stays on the value.
func TestPanicErrorIsOneLine(t *testing.T) {
	r := newRegion(t, region.Config{})
	_, err := region.GetOrCreate(context.Background(), r, "k", func(context.Context) (int, error) {
		panic("boom\nsecond line")
	})
	var pe *region.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *PanicError", err)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, "boom") {
		t.Fatalf("Error() = %q, want one line naming the panic", msg)
	}
	if !strings.Contains(string(pe.Stack), "goroutine") {
		t.Fatalf("Stack = %q, want the creator's stack", pe.Stack)
	}
}
