package diskstore_test

import (
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/locktest"
)

var inserts = flag.Int("diskstore.inserts", 0, "inserts of TestSizeBound; 0: 200,000, or 20,000 under the race detector (-short: at most 100,000); 1,000,000 takes about a minute")

// TestSizeBound inserts 200,000 distinct keys (20,000 under the race
// detector; -diskstore.inserts=1000000 for a million; at most 100,000 with
// -short) into
// a store bounded by entries and bytes, in transactions of 1,000: after
// every transaction both bounds hold, the counters match the entries, the
// newest keys are there and the oldest gone, and the file stays within a
// few times the bound.
func TestSizeBound(t *testing.T) {
	n := *inserts
	switch {
	case n <= 0 && raceEnabled:
		n = 20_000
	case n <= 0:
		n = 200_000
	}
	if testing.Short() {
		n = min(n, 100_000)
	}
	const (
		maxEntries = 5_000
		maxBytes   = 1 << 20
		batch      = 1_000
	)
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	s := open(t, diskstore.Options{MaxEntries: maxEntries, MaxBytes: maxBytes, Now: clock.Now})
	ctx := t.Context()
	items := make([]backend.Item, batch)
	val := make([]byte, 100)
	for done := 0; done < n; done += batch {
		for i := range items {
			items[i] = backend.Item{Key: fmt.Sprintf("key-%08d", done+i), Value: val}
		}
		if done%(50*batch) == 0 {
			// Some entries expire, so that eviction takes expired ones first.
			items[0].TTL = time.Millisecond
		}
		if err := s.SetMulti(ctx, items); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
		u, err := s.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if u.Entries > maxEntries || u.Bytes > maxBytes {
			t.Fatalf("after %d inserts: %+v, over the bounds (%d entries, %d bytes)", done+batch, u, maxEntries, maxBytes)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, fmt.Sprintf("key-%08d", n-1)); err != nil {
		t.Errorf("newest key: %v", err)
	}
	if _, err := s.Get(ctx, fmt.Sprintf("key-%08d", 0)); err == nil {
		t.Error("oldest key survived")
	}
	u, _ := s.Usage(ctx)
	t.Logf("%d inserts: %d entries, %d bytes held", n, u.Entries, u.Bytes)
	if fi, err := os.Stat(s.Path()); err == nil {
		t.Logf("file: %d bytes", fi.Size())
		if fi.Size() > 8*maxBytes {
			t.Errorf("file grew to %d bytes, over 8× the %d byte bound", fi.Size(), maxBytes)
		}
	}
}

// TestLRU: a read keeps a key from eviction while keys written after it go.
func TestLRU(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	s := open(t, diskstore.Options{MaxEntries: 3, AccessResolution: time.Second, Now: clock.Now})
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		if err := s.Set(ctx, k, []byte(k), 0); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Second)
	}
	if _, err := s.Get(ctx, "a"); err != nil { // a is now the most recent
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if err := s.Set(ctx, "d", []byte("d"), 0); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		_, err := s.Get(ctx, k)
		if got := err == nil; got != want {
			t.Errorf("%s present = %t, want %t (%v)", k, got, want, err)
		}
	}
}

// TestTooLarge: a value over MaxBytes is refused with an error wrapping
// backend.ErrTooLarge, and nothing of its call is stored.
func TestTooLarge(t *testing.T) {
	s := open(t, diskstore.Options{MaxBytes: 1000})
	err := s.SetMulti(t.Context(), []backend.Item{{Key: "small", Value: []byte("x")}, {Key: "big", Value: make([]byte, 1000)}})
	if !errors.Is(err, backend.ErrTooLarge) {
		t.Fatalf("SetMulti = %v, want backend.ErrTooLarge", err)
	}
	if _, err := s.Get(t.Context(), "small"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get(small) = %v, want not found", err)
	}
}

// TestLocker runs the locker conformance suite on the store's Locker.
func TestLocker(t *testing.T) {
	s := open(t, diskstore.Options{})
	locktest.Run(t, func(*testing.T) lock.Locker { return s.Locker() })
}

// TestLockerAcrossStores: a lock taken through one open of a file excludes
// another open of it (as another process would have), and is free again
// once released.
func TestLockerAcrossStores(t *testing.T) {
	path := t.TempDir() + "/cache.db"
	a, b := openAt(t, path, diskstore.Options{}).Locker(), openAt(t, path, diskstore.Options{}).Locker()
	lk, err := a.TryObtain(t.Context(), "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryObtain(t.Context(), "k", time.Minute); !errors.Is(err, lock.ErrNotObtained) {
		t.Fatalf("second open's TryObtain = %v, want lock.ErrNotObtained", err)
	}
	if err := lk.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	lk2, err := b.TryObtain(t.Context(), "k", time.Minute)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if err := lk.Release(t.Context()); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("stale Release = %v, want lock.ErrNotHeld (it must not free the new holder's lock)", err)
	}
	_ = lk2.Release(t.Context())
}

// TestRegistry: records are shared by two opens of one file, expire, and
// leave with Forget and ForgetAll.
func TestRegistry(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	path := t.TempDir() + "/cache.db"
	a := openAt(t, path, diskstore.Options{Now: clock.Now}).Registry()
	b := openAt(t, path, diskstore.Options{Now: clock.Now}).Registry()
	ctx := t.Context()
	for _, k := range []string{"k1", "k2", "k3"} {
		if err := a.Record(ctx, "fn", k, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Record(ctx, "fn", "short", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, "other", "k1", 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Recorded(ctx, "fn", "short"); err != nil || !ok {
		t.Fatalf("Recorded(short) = %t, %v; want true", ok, err)
	}
	clock.Advance(2 * time.Second)
	if ok, err := b.Recorded(ctx, "fn", "short"); err != nil || ok {
		t.Fatalf("Recorded(short) after its TTL = %t, %v; want false", ok, err)
	}
	if err := b.Forget(ctx, "fn", "k2"); err != nil {
		t.Fatal(err)
	}
	keys, err := a.ForgetAll(ctx, "fn")
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"k1", "k3"}) {
		t.Fatalf("ForgetAll = %q, %v; want [k1 k3]", keys, err)
	}
	if keys, err := b.Keys(ctx, "fn"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys after ForgetAll = %q, %v; want none", keys, err)
	}
	if keys, err := b.Keys(ctx, "other"); err != nil || !slices.Equal(keys, []string{"k1"}) {
		t.Fatalf("Keys(other) = %q, %v; want [k1]", keys, err)
	}
}

// TestOpenOptions: unusable options are errors, not panics.
func TestOpenOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		o    diskstore.Options
	}{
		{"empty path", "", diskstore.Options{}},
		{"negative BusyTimeout", t.TempDir() + "/x.db", diskstore.Options{BusyTimeout: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := diskstore.Open(tc.path, tc.o); !errors.Is(err, diskstore.ErrInvalidOptions) {
				t.Fatalf("Open = %v, want ErrInvalidOptions", err)
			}
		})
	}
	if _, err := diskstore.Open(t.TempDir(), diskstore.Options{}); err == nil {
		t.Fatal("Open of a directory succeeded")
	}
}

// TestFileFormat: a file of another format is refused with ErrFormat; a
// file of this format opens again, with its entries.
func TestFileFormat(t *testing.T) {
	path := t.TempDir() + "/cache.db"
	s, err := diskstore.Open(path, diskstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = openAt(t, path, diskstore.Options{})
	if v, err := s.Get(t.Context(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get after reopen = %q, %v; want v", v, err)
	}
	_ = s.Close()

	other := t.TempDir() + "/other.db"
	db, err := sql.Open("sqlite", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 7`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := diskstore.Open(other, diskstore.Options{}); !errors.Is(err, diskstore.ErrFormat) {
		t.Fatalf("Open of a format-7 file = %v, want ErrFormat", err)
	}
}
