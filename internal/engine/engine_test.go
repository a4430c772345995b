package engine

import (
	"context"
	"testing"
	"time"
)

type ctxKey struct{}

// TestDetach: a creation's context keeps the caller's values, outlives the
// caller's cancellation, and ends (with what derives from it) when the
// engine closes.
func TestDetach(t *testing.T) {
	base, closeEngine := context.WithCancel(context.Background())
	e := &Engine{base: base}
	caller, cancelCaller := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	d := e.detach(caller)
	child, cancelChild := context.WithTimeout(d, time.Hour)
	defer cancelChild()
	if got := d.Value(ctxKey{}); got != "v" {
		t.Fatalf("Value = %v, want the caller's", got)
	}
	cancelCaller()
	select {
	case <-d.Done():
		t.Fatal("done when the caller's context was cancelled")
	case <-child.Done():
		t.Fatal("a derived context was cancelled with the caller's")
	default:
	}
	if _, ok := d.Deadline(); ok {
		t.Fatal("a deadline")
	}
	closeEngine()
	<-d.Done()
	<-child.Done()
	if d.Err() != context.Canceled || child.Err() != context.Canceled {
		t.Fatalf("errors %v, %v after Close; want context.Canceled", d.Err(), child.Err())
	}
}
