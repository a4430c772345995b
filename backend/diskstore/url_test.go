package diskstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/region"
)

// TestOpenURL checks the URLs OpenURL takes, and that it refuses bad ones
// with ErrInvalidOptions before touching the disk.
func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{
		"disk://" + filepath.Join(dir, "a.db"),
		"disk://" + filepath.Join(dir, "b.db") + "?max_bytes=1048576&max_entries=100&access_resolution=100ms&busy_timeout=2s&durable=true",
		"disk://" + filepath.Join(dir, "c%3Fd.db") + "?max_bytes=-1",
	} {
		b, l, r, err := diskstore.OpenURL(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		s := b.(*diskstore.Store)
		if _, ok := l.(*diskstore.Locker); !ok {
			t.Fatalf("%s: locker %T", u, l)
		}
		if _, ok := r.(*diskstore.Registry); !ok {
			t.Fatalf("%s: registry %T", u, r)
		}
		if _, err := os.Stat(s.Path()); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "c?d.db")); err != nil {
		t.Fatalf("an escaped '?' in the path: %v", err)
	}
	for _, bad := range []string{
		"disk://", "disk:///", "file:///tmp/x.db", "disk:///tmp/x.db?size=1", "disk:///tmp/x.db?max_bytes=lots",
		"disk:///tmp/x.db?busy_timeout=soon", "disk:///tmp/x.db?durable=maybe", "disk:///tmp/x.db?max_entries=1&max_entries=2",
		"disk:///tmp/x.db?busy_timeout=-1s", "disk:///tmp/x%zz.db",
	} {
		if b, _, _, err := diskstore.OpenURL(bad); err == nil {
			_ = b.(*diskstore.Store).Close()
			t.Errorf("%s: no error", bad)
		} else if !errors.Is(err, diskstore.ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", bad, err)
		}
	}
}

// TestConfigScheme loads one configuration file twice — two processes'
// worth of regions — with disk:// given to config.Options.Schemes, and
// checks that both share the file's values and cached functions' records,
// and that Close closes the file once.
func TestConfigScheme(t *testing.T) {
	dir := t.TempDir()
	file := "defaults:\n  url: disk://" + filepath.Join(dir, "cache.db") + "?max_bytes=16777216\n  expiration: 1m\nregions:\n  users: {}\n  orders: {}\n"
	opts := config.Options{Environ: []string{}, Schemes: map[string]config.Opener{diskstore.URLScheme: diskstore.OpenURL}}
	a, err := config.Parse("corral.yaml", []byte(file), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := config.Parse("corral.yaml", []byte(file), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ca, _ := a.Connection("users")
	co, _ := a.Connection("orders")
	if ca != co {
		t.Fatal("two regions on one disk:// URL: want one Connection")
	}
	if _, ok := ca.Backend.(*diskstore.Store); !ok {
		t.Fatalf("backend %T", ca.Backend)
	}
	ua, _ := a.Region("users")
	ub, _ := b.Region("users")
	fa, err := region.Cache1(ua, func(_ context.Context, id int) (string, error) { return "from a", nil }, region.Named("users.load"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := region.Cache1(ub, func(_ context.Context, id int) (string, error) { return "from b", nil }, region.Named("users.load"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := fa.Call(ctx, 7); err != nil || v != "from a" {
		t.Fatalf("a: %q, %v", v, err)
	}
	if v, err := fb.Call(ctx, 7); err != nil || v != "from a" {
		t.Fatalf("b: %q, %v; want a's value from the shared file", v, err)
	}
	if keys, err := fb.Keys(ctx); err != nil || len(keys) != 1 {
		t.Fatalf("b's Keys = %v, %v; want a's record", keys, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Backend.Get(ctx, "k"); err == nil {
		t.Fatal("the store answers after Close")
	}
}
