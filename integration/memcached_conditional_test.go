package integration_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
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

	// A placeholder is an item with PlaceholderFlags under the mangled key,
	// holding the Store's 17-byte header alone (kind 0xF6, a deadline, a
	// lease tag), and its version is the item's CAS value. A value has flags
	// 0 and the header (kind 0xF5) before its bytes.
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
		if err != nil || it.Flags != memcachestore.PlaceholderFlags || len(it.Value) != 17 || it.Value[0] != 0xF6 || backend.Version(it.CasID) != versions[0] {
			t.Fatalf("raw placeholder = %+v, %v; want a header alone with PlaceholderFlags and CAS %d", it, err, versions[0])
		}
		stored, err := s.SetIf(ctx, []backend.Item{{Key: k, Value: []byte("v")}}, versions)
		if err != nil || !stored[0] {
			t.Fatalf("SetIf = %v, %v", stored, err)
		}
		if it, err := c.Get(memcachestore.MangleKey(k)); err != nil || it.Flags != 0 || len(it.Value) != 18 || it.Value[0] != 0xF5 || it.Value[17] != 'v' {
			t.Fatalf("raw value = %+v, %v; want a header and v with flags 0", it, err)
		}
		// Items another client wrote are missing to reads, and a lease
		// replaces them by a placeholder.
		if err := c.Set(&memcache.Item{Key: "foreign", Value: []byte("not ours")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "foreign"); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("Get of a foreign item = %v, want backend.ErrNotFound", err)
		}
		values, versions, err := s.GetForUpdate(ctx, []string{"foreign"}, time.Minute)
		if err != nil || values[0] != nil {
			t.Fatalf("GetForUpdate of a foreign item = %q, %v", values, err)
		}
		if stored, err := s.SetIf(ctx, []backend.Item{{Key: "foreign", Value: []byte("v")}}, versions); err != nil || !stored[0] {
			t.Fatalf("SetIf over a foreign item = %v, %v", stored, err)
		}
	})

	// Fencing across processes: A leases, then B; A's SetIf fails though it
	// comes first, and B's stores. The lease re-stored the value with the
	// same bytes and the TTL it had left, which memcached's meta get reports.
	t.Run("Lease", func(t *testing.T) {
		ctx := mcCtx(t, 20*time.Second)
		c := mcClient(t, srv.Addr)
		a, b := newStore(t, mcClient(t, srv.Addr)), newStore(t, mcClient(t, srv.Addr))
		for _, tc := range []struct {
			key string
			ttl time.Duration
		}{{"lease:ttl", 10 * time.Second}, {"lease:forever", 0}} {
			if err := a.Set(ctx, tc.key, []byte("old"), tc.ttl); err != nil {
				t.Fatal(err)
			}
			before, err := c.Get(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond)
			_, va, err := a.GetForUpdate(ctx, []string{tc.key}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			values, vb, err := b.GetForUpdate(ctx, []string{tc.key}, time.Minute)
			if err != nil || string(values[0]) != "old" || va[0] == vb[0] {
				t.Fatalf("%s: second lease = %q, %v (first %v), %v", tc.key, values, vb, va, err)
			}
			after, err := c.Get(tc.key)
			if err != nil || after.Flags != before.Flags || string(after.Value[:9]) != string(before.Value[:9]) ||
				string(after.Value[17:]) != "old" || backend.Version(after.CasID) != vb[0] {
				t.Fatalf("%s: raw item after the leases %+v, before %+v", tc.key, after, before)
			}
			left := mcTTL(t, srv.Addr, tc.key)
			if tc.ttl == 0 && left != -1 || tc.ttl > 0 && (left > 9 || left < 7) {
				t.Fatalf("%s: %ds left after a lease 1.1s into a TTL of %v; want the TTL kept", tc.key, left, tc.ttl)
			}
			if stored, err := a.SetIf(ctx, []backend.Item{{Key: tc.key, Value: []byte("A")}}, va); err != nil || stored[0] {
				t.Fatalf("%s: A's SetIf after B's lease = %v, %v; want not stored", tc.key, stored, err)
			}
			if got, err := a.Get(ctx, tc.key); err != nil || string(got) != "old" {
				t.Fatalf("%s: Get = %q, %v; want old", tc.key, got, err)
			}
			if stored, err := b.SetIf(ctx, []backend.Item{{Key: tc.key, Value: []byte("B")}}, vb); err != nil || !stored[0] {
				t.Fatalf("%s: B's SetIf = %v, %v; want stored", tc.key, stored, err)
			}
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

// mcTTL returns the seconds key has left on the memcached at addr (-1: no
// expiry), from the meta protocol's mg with the t flag: the classic text
// protocol gomemcache speaks does not report it.
func mcTTL(t *testing.T, addr, key string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(conn, "mg %s t\r\n", key); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var left int
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "HD t%d", &left); err != nil {
		t.Fatalf("mg %s t = %q: %v", key, line, err)
	}
	return left
}
