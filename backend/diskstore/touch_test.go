package diskstore_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/internal/fakeclock"
)

// TestHitDoesNotWaitForWriter: while another process holds the file's write
// lock, a hit whose access time is due to be refreshed returns at once (it
// skips the refresh) instead of waiting for the lock, and a write waits for
// the lock and then succeeds.
func TestHitDoesNotWaitForWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	s := openAt(t, path, diskstore.Options{Now: clock.Now})
	if err := s.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour) // k's access time is due

	// Another process: a plain SQLite connection holding the write lock.
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE meta SET n = n WHERE name = 'count'`); err != nil { // takes the write lock
		t.Fatal(err)
	}

	got := make(chan error, 1)
	go func() {
		_, err := s.Get(t.Context(), "k")
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Get = %v", err)
		}
	case <-time.After(5 * time.Second): // below the 10s busy timeout
		t.Fatal("a hit waited for another process's write lock")
	}

	set := make(chan error, 1)
	go func() { set <- s.Set(t.Context(), "k2", []byte("v"), 0) }()
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-set:
		if err != nil {
			t.Fatalf("Set after the lock was freed = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Set still waiting after the lock was freed")
	}
}
