package keyreg

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemoryLen checks the bound and that forgetting frees the records and
// the per-function maps.
func TestMemoryLen(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryOptions{MaxKeys: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := m.Record(ctx, fmt.Sprint("fn", i%10), fmt.Sprint("k", i), time.Duration(i%2)*time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := m.len(); n > 100 {
			t.Fatalf("after %d records: %d, want at most 100", i+1, n)
		}
	}
	if n := m.len(); n != 100 {
		t.Errorf("len = %d, want 100", n)
	}
	for i := range 10 {
		if _, err := m.ForgetAll(ctx, fmt.Sprint("fn", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, fns := m.len(), len(m.fns); n != 0 || fns != 0 {
		t.Errorf("after ForgetAll: %d records in %d functions, want none", n, fns)
	}
	if m.head.next != &m.head || m.head.prev != &m.head {
		t.Error("eviction list not empty")
	}
}
