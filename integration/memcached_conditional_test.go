package integration_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memcachestore"
)

// TestMemcachedConditional checks the memcached store's conditional writes
// on a real server; the backend suite checks the contract itself.
func TestMemcachedConditional(t *testing.T) {
	srv := mcServer(t)
	newStore := func(t *testing.T, c *memcache.Client) *memcachestore.Store {
		t.Helper()
		s, err := memcachestore.New(c, memcachestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// The interleaving the contract exists for, with the reader and the
	// writer in two processes: the reader's late SetIf fails and the
	// writer's value, or its delete, stands.
	t.Run("StaleSetRejected", func(t *testing.T) {
		ctx := mcCtx(t, 10*time.Second)
		reader, writer := newStore(t, mcClient(t, srv.Addr)), newStore(t, mcClient(t, srv.Addr))
		for _, tc := range []struct {
			name  string
			write func(k string) error
			want  string // "": missing
		}{
			{"Set", func(k string) error { return writer.Set(ctx, k, []byte("writer"), time.Minute) }, "writer"},
			{"Delete", func(k string) error { return writer.Delete(ctx, k) }, ""},
		} {
			for _, held := range []string{"placeholder", "value"} {
				k := "stale " + tc.name + " " + held // mangled: it holds spaces
				if held == "value" {
					if err := writer.Set(ctx, k, []byte("old"), time.Minute); err != nil {
						t.Fatal(err)
					}
				}
				_, versions, err := reader.GetForUpdate(ctx, []string{k}, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if err := tc.write(k); err != nil {
					t.Fatal(err)
				}
				stored, err := reader.SetIf(ctx, []backend.Item{{Key: k, Value: []byte("reader")}}, versions)
				if err != nil || stored[0] {
					t.Fatalf("%s over a %s: reader's SetIf = %v, %v; want not stored", tc.name, held, stored, err)
				}
				got, err := reader.Get(ctx, k)
				if tc.want == "" && !errors.Is(err, backend.ErrNotFound) || tc.want != "" && string(got) != tc.want {
					t.Fatalf("%s over a %s: Get = %q, %v; want %q", tc.name, held, got, err, tc.want)
				}
			}
		}
	})

	// A placeholder is an empty item with PlaceholderFlags under the
	// mangled key, and its version is the item's CAS value.
	t.Run("Placeholder", func(t *testing.T) {
		ctx := mcCtx(t, 10*time.Second)
		c := mcClient(t, srv.Addr)
		s := newStore(t, c)
		k := "placeholder\tkey"
		_, versions, err := s.GetForUpdate(ctx, []string{k}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		it, err := c.Get(memcachestore.MangleKey(k))
		if err != nil || it.Flags != memcachestore.PlaceholderFlags || len(it.Value) != 0 || backend.Version(it.CasID) != versions[0] {
			t.Fatalf("raw placeholder = %+v, %v; want an empty item with PlaceholderFlags and CAS %d", it, err, versions[0])
		}
		stored, err := s.SetIf(ctx, []backend.Item{{Key: k, Value: []byte("v")}}, versions)
		if err != nil || !stored[0] {
			t.Fatalf("SetIf = %v, %v", stored, err)
		}
		if it, err := c.Get(memcachestore.MangleKey(k)); err != nil || it.Flags != 0 || string(it.Value) != "v" {
			t.Fatalf("raw value = %+v, %v; want v with flags 0", it, err)
		}
	})

	// A server that keeps no CAS values cannot take conditional writes.
	t.Run("NoCAS", func(t *testing.T) {
		noCAS := mcServer(t, "-C")
		s := newStore(t, mcClient(t, noCAS.Addr))
		ctx := mcCtx(t, 10*time.Second)
		if _, _, err := s.GetForUpdate(ctx, []string{"k"}, time.Minute); !errors.Is(err, memcachestore.ErrNoCAS) {
			t.Fatalf("GetForUpdate on memcached -C = %v, want ErrNoCAS", err)
		}
		if err := s.Set(ctx, "k", []byte("v"), 0); err != nil {
			t.Fatalf("Set on memcached -C: %v", err)
		}
		if _, _, err := s.GetForUpdate(ctx, []string{"k"}, time.Minute); !errors.Is(err, memcachestore.ErrNoCAS) {
			t.Fatalf("GetForUpdate of a value on memcached -C = %v, want ErrNoCAS", err)
		}
	})
}
