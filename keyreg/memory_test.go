package keyreg_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/keyreg"
)

func newMemory(t *testing.T, o keyreg.MemoryOptions) *keyreg.Memory {
	t.Helper()
	m, err := keyreg.NewMemory(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sortedKeys(t *testing.T, m *keyreg.Memory, fn string) []string {
	t.Helper()
	keys, err := m.Keys(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func TestNewMemoryOptions(t *testing.T) {
	if _, err := keyreg.NewMemory(keyreg.MemoryOptions{MaxKeys: -1}); !errors.Is(err, keyreg.ErrInvalidOptions) {
		t.Errorf("MaxKeys -1: %v, want ErrInvalidOptions", err)
	}
	if _, err := keyreg.NewMemory(keyreg.MemoryOptions{}); err != nil {
		t.Errorf("zero options: %v", err)
	}
}

func TestMemoryRecordForget(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, keyreg.MemoryOptions{})
	ns, err := m.Namespace(ctx, "pkg.F")
	if err != nil || ns != "pkg.F" {
		t.Errorf("Namespace = %q, %v; want pkg.F", ns, err)
	}
	for _, k := range []string{"pkg.F:i1", "pkg.F:i2", "pkg.F:i3"} {
		if err := m.Record(ctx, "pkg.F", k, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Record(ctx, "pkg.G", "pkg.G:i1", 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(ctx, "pkg.F", "pkg.F:i1", 0); err != nil { // again: no duplicate
		t.Fatal(err)
	}
	if got, want := sortedKeys(t, m, "pkg.F"), []string{"pkg.F:i1", "pkg.F:i2", "pkg.F:i3"}; !slices.Equal(got, want) {
		t.Errorf("Keys = %v, want %v", got, want)
	}
	tests := []struct {
		fn, key string
		want    bool
	}{
		{"pkg.F", "pkg.F:i2", true},
		{"pkg.F", "pkg.F:i9", false},
		{"pkg.G", "pkg.F:i2", false},
		{"pkg.H", "pkg.H:i1", false},
	}
	for _, tt := range tests {
		if got, err := m.Recorded(ctx, tt.fn, tt.key); err != nil || got != tt.want {
			t.Errorf("Recorded(%q, %q) = %v, %v; want %v", tt.fn, tt.key, got, err, tt.want)
		}
	}
	if err := m.Forget(ctx, "pkg.F", "pkg.F:i2", "pkg.F:never"); err != nil {
		t.Fatal(err)
	}
	if got, want := sortedKeys(t, m, "pkg.F"), []string{"pkg.F:i1", "pkg.F:i3"}; !slices.Equal(got, want) {
		t.Errorf("Keys after Forget = %v, want %v", got, want)
	}
	all, err := m.ForgetAll(ctx, "pkg.F")
	slices.Sort(all)
	if want := []string{"pkg.F:i1", "pkg.F:i3"}; err != nil || !slices.Equal(all, want) {
		t.Errorf("ForgetAll = %v, %v; want %v", all, err, want)
	}
	if got := sortedKeys(t, m, "pkg.F"); len(got) != 0 {
		t.Errorf("Keys after ForgetAll = %v, want none", got)
	}
	if got := sortedKeys(t, m, "pkg.G"); !slices.Equal(got, []string{"pkg.G:i1"}) {
		t.Errorf("ForgetAll(pkg.F) touched pkg.G: %v", got)
	}
}

func TestMemoryBound(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, keyreg.MemoryOptions{MaxKeys: 3})
	record := func(fn, key string) {
		t.Helper()
		if err := m.Record(ctx, fn, key, 0); err != nil {
			t.Fatal(err)
		}
	}
	record("f", "f1")
	record("g", "g1")
	record("f", "f2")
	record("f", "f1") // renewed: g1 is now the least recently recorded
	record("h", "h1") // evicts g1
	if got := sortedKeys(t, m, "g"); len(got) != 0 {
		t.Errorf("g keys = %v, want g1 evicted", got)
	}
	record("h", "h2") // evicts f2
	if got, want := sortedKeys(t, m, "f"), []string{"f1"}; !slices.Equal(got, want) {
		t.Errorf("f keys = %v, want %v", got, want)
	}
	if got, want := sortedKeys(t, m, "h"), []string{"h1", "h2"}; !slices.Equal(got, want) {
		t.Errorf("h keys = %v, want %v", got, want)
	}
	// Many more records never exceed the bound.
	for i := range 1000 {
		record(fmt.Sprint("fn", i%7), fmt.Sprint("k", i))
	}
	total := 0
	for i := range 7 {
		total += len(sortedKeys(t, m, fmt.Sprint("fn", i)))
	}
	if total != 3 {
		t.Errorf("%d keys recorded after 1000 records, want the bound 3", total)
	}
}

func TestMemoryTTL(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(time.Unix(1000, 0))
	m := newMemory(t, keyreg.MemoryOptions{Clock: clock})
	mustRecord := func(key string, ttl time.Duration) {
		t.Helper()
		if err := m.Record(ctx, "f", key, ttl); err != nil {
			t.Fatal(err)
		}
	}
	mustRecord("short", time.Second)
	mustRecord("long", time.Minute)
	mustRecord("forever", 0)
	mustRecord("renewed", time.Second)

	clock.Advance(999 * time.Millisecond)
	mustRecord("renewed", time.Second)
	if got := sortedKeys(t, m, "f"); len(got) != 4 {
		t.Errorf("before expiry: %v, want 4 keys", got)
	}
	clock.Advance(time.Millisecond)
	if ok, _ := m.Recorded(ctx, "f", "short"); ok {
		t.Error("short is still recorded at its ttl")
	}
	if got, want := sortedKeys(t, m, "f"), []string{"forever", "long", "renewed"}; !slices.Equal(got, want) {
		t.Errorf("after 1s: %v, want %v", got, want)
	}
	clock.Advance(time.Hour)
	all, err := m.ForgetAll(ctx, "f")
	if err != nil || !slices.Equal(all, []string{"forever"}) {
		t.Errorf("ForgetAll after an hour = %v, %v; want [forever]", all, err)
	}
}

// TestMemoryConcurrent is meant for -race: many goroutines record, list and
// forget at once, and the bound holds throughout.
func TestMemoryConcurrent(t *testing.T) {
	ctx := context.Background()
	const bound = 50
	m := newMemory(t, keyreg.MemoryOptions{MaxKeys: bound})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			fn := fmt.Sprint("fn", g%3)
			for i := range 500 {
				key := fmt.Sprint(fn, ":", i%40)
				var err error
				switch i % 5 {
				case 0, 1, 2:
					err = m.Record(ctx, fn, key, time.Duration(i%2)*time.Minute)
				case 3:
					_, err = m.Recorded(ctx, fn, key)
				case 4:
					if i%50 == 4 {
						_, err = m.ForgetAll(ctx, fn)
					} else {
						err = m.Forget(ctx, fn, key)
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for i := range 3 {
		keys := sortedKeys(t, m, fmt.Sprint("fn", i))
		if len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Errorf("duplicate keys: %v", keys)
		}
		total += len(keys)
	}
	if total > bound {
		t.Errorf("%d keys recorded, want at most %d", total, bound)
	}
}

func ExampleMemory() {
	ctx := context.Background()
	reg, err := keyreg.NewMemory(keyreg.MemoryOptions{MaxKeys: 1000})
	if err != nil {
		panic(err)
	}
	fn := "github.com/x/y.GetUser"
	for _, id := range []int{1, 2} {
		key, _ := keyreg.Key(fn, id)
		_ = reg.Record(ctx, fn, key, time.Hour)
	}
	k1, _ := keyreg.Key(fn, 1)
	ok, _ := reg.Recorded(ctx, fn, k1)
	fmt.Println("GetUser(1) cached:", ok)

	keys, _ := reg.ForgetAll(ctx, fn)
	slices.Sort(keys)
	fmt.Println("delete from the backend:", keys)
	// Output:
	// GetUser(1) cached: true
	// delete from the backend: [github.com/x/y.GetUser:i1 github.com/x/y.GetUser:i2]
}
