package integration_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/integration/internal/servers"
)

// TestRedisConditional checks the Redis store's conditional writes on the
// wire, on a single node; TestRedisCluster runs the same checks on a
// Cluster. The backend suite checks the contract itself.
func TestRedisConditional(t *testing.T) {
	srv := servers.Redis(t)
	testRedisConditional(t, func(t *testing.T) redis.UniversalClient { return redisClient(t, srv.Addr) })
}

// testRedisConditional runs the conditional checks on clients newClient
// makes, each of which stands for a process of its own.
func testRedisConditional(t *testing.T, newClient func(t *testing.T) redis.UniversalClient) {
	newStore := func(t *testing.T, c redis.UniversalClient) *redisstore.Store {
		t.Helper()
		s, err := redisstore.New(c, redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// items returns one item per key, each valued with its key.
	items := func(keys ...string) []backend.Item {
		out := make([]backend.Item, len(keys))
		for i, k := range keys {
			out[i] = backend.Item{Key: k, Value: []byte(k), TTL: time.Minute}
		}
		return out
	}

	// The interleaving the contract exists for, with the reader and the
	// writer in two processes: the reader's late SetIf fails and the
	// writer's value, or its delete, stands.
	t.Run("StaleSetRejected", func(t *testing.T) {
		ctx := t.Context()
		reader, writer := newStore(t, newClient(t)), newStore(t, newClient(t))
		for _, tc := range []struct {
			name  string
			write func(k string) error
			want  []byte // nil: missing
		}{
			{"Set", func(k string) error { return writer.Set(ctx, k, []byte("writer"), time.Minute) }, []byte("writer")},
			{"Delete", func(k string) error { return writer.Delete(ctx, k) }, nil},
		} {
			for _, held := range []string{"placeholder", "value"} {
				k := fmt.Sprintf("stale:%s:%s", tc.name, held)
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
				if tc.want == nil && !errors.Is(err, backend.ErrNotFound) || tc.want != nil && string(got) != string(tc.want) {
					t.Fatalf("%s over a %s: Get = %q, %v; want %q", tc.name, held, got, err, tc.want)
				}
			}
		}
	})

	// Fencing across processes: creator A leases a key, then creator B; A's
	// SetIf fails though it comes first. B's lease rewrote the version bytes
	// of the value in place: the value and its TTL are as they were (no TTL
	// stays no TTL), and a placeholder is replaced by one of the new TTL.
	t.Run("Lease", func(t *testing.T) {
		ctx := t.Context()
		c := newClient(t)
		a, b := newStore(t, newClient(t)), newStore(t, newClient(t))
		for _, tc := range []struct {
			name string
			ttl  time.Duration // of the value; 0: none; -1: a placeholder
		}{{"value", time.Minute}, {"forever", 0}, {"placeholder", -1}} {
			k := "lease:" + tc.name
			if tc.ttl >= 0 {
				if err := a.Set(ctx, k, []byte("old"), tc.ttl); err != nil {
					t.Fatal(err)
				}
			} else if _, _, err := a.GetForUpdate(ctx, []string{k}, 3*time.Second); err != nil {
				t.Fatal(err)
			}
			before := c.Get(ctx, k).Val()
			pttl := c.PTTL(ctx, k).Val()
			_, va, err := a.GetForUpdate(ctx, []string{k}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			values, vb, err := b.GetForUpdate(ctx, []string{k}, time.Minute)
			if err != nil || va[0] == vb[0] {
				t.Fatalf("%s: leases gave versions %v and %v, %v", tc.name, va, vb, err)
			}
			after := c.Get(ctx, k).Val()
			newTTL := c.PTTL(ctx, k).Val()
			switch {
			case tc.ttl < 0:
				if values[0] != nil || len(after) != 9 || after[0] != 0xF6 || newTTL <= 50*time.Second {
					t.Fatalf("placeholder after a lease = %q, TTL %v; want a new placeholder of a minute", after, newTTL)
				}
			default:
				if string(values[0]) != "old" || after[0] != before[0] || after[9:] != before[9:] || after[1:9] == before[1:9] {
					t.Fatalf("%s after a lease = %q (was %q), read %q; want the same value under a new version", tc.name, after, before, values[0])
				}
				if tc.ttl == 0 && newTTL != -1 || tc.ttl > 0 && (newTTL > pttl || newTTL < pttl-time.Second) {
					t.Fatalf("%s: TTL %v before the lease, %v after; want it kept", tc.name, pttl, newTTL)
				}
				if v, err := a.Get(ctx, k); err != nil || string(v) != "old" {
					t.Fatalf("%s: Get after the lease = %q, %v", tc.name, v, err)
				}
			}
			if stored, err := a.SetIf(ctx, items(k), va); err != nil || stored[0] {
				t.Fatalf("%s: A's SetIf after B's lease = %v, %v; want not stored", tc.name, stored, err)
			}
			if stored, err := b.SetIf(ctx, items(k), vb); err != nil || !stored[0] {
				t.Fatalf("%s: B's SetIf = %v, %v; want stored", tc.name, stored, err)
			}
		}
	})

	// Every string the store writes carries a 9-byte header: kind 0xF5 and
	// a version before a value, 0xF6 and a version alone for a placeholder.
	t.Run("WireFormat", func(t *testing.T) {
		ctx := t.Context()
		c := newClient(t)
		s := newStore(t, c)
		if err := s.Set(ctx, "wire:v", []byte("value"), time.Minute); err != nil {
			t.Fatal(err)
		}
		raw, err := c.Get(ctx, "wire:v").Result()
		if err != nil || len(raw) != 9+len("value") || raw[0] != 0xF5 || raw[9:] != "value" {
			t.Fatalf("raw value = %q, %v; want 0xF5, a version and the value", raw, err)
		}
		if _, _, err := s.GetForUpdate(ctx, []string{"wire:p"}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		raw, err = c.Get(ctx, "wire:p").Result()
		if err != nil || len(raw) != 9 || raw[0] != 0xF6 {
			t.Fatalf("raw placeholder = %q, %v; want 0xF6 and a version", raw, err)
		}
		if ttl := c.PTTL(ctx, "wire:p").Val(); ttl <= 4*time.Second || ttl > 5*time.Second {
			t.Fatalf("placeholder TTL %v, want 5s", ttl)
		}
		// Strings another client wrote are missing to every read, and a
		// GetForUpdate takes their place with a placeholder.
		for _, foreign := range []string{"", "foreign", "\xf5short", "\xf7not ours but long enough"} {
			if err := c.Set(ctx, "wire:foreign", foreign, 0).Err(); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Get(ctx, "wire:foreign"); !errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("Get of foreign %q = %q, %v; want backend.ErrNotFound", foreign, v, err)
			}
			if vs, err := s.GetMulti(ctx, []string{"wire:foreign", "wire:v"}); err != nil || vs[0] != nil || string(vs[1]) != "value" {
				t.Fatalf("GetMulti with foreign %q = %q, %v", foreign, vs, err)
			}
			values, versions, err := s.GetForUpdate(ctx, []string{"wire:foreign"}, time.Minute)
			if err != nil || values[0] != nil {
				t.Fatalf("GetForUpdate of foreign %q = %q, %v", foreign, values, err)
			}
			if stored, err := s.SetIf(ctx, items("wire:foreign"), versions); err != nil || !stored[0] {
				t.Fatalf("SetIf over foreign %q = %v, %v", foreign, stored, err)
			}
		}
		// A SetIf writes the item's TTL.
		if ttl := c.PTTL(ctx, "wire:foreign").Val(); ttl <= 50*time.Second || ttl > time.Minute {
			t.Fatalf("TTL after SetIf %v, want a minute", ttl)
		}
	})

	// A plain hit is one GET; the conditional calls take one round trip
	// for any number of keys.
	t.Run("RoundTrips", func(t *testing.T) {
		ctx := t.Context()
		c := newClient(t)
		s := newStore(t, c)
		st := newRedisStack(t, c)
		keys := make([]string, 30)
		for i := range keys {
			keys[i] = fmt.Sprintf("trips:%d", i)
		}
		// Warm up: the scripts are loaded, the Cluster's slots known, and
		// the pool holds the connections a pipeline takes (two keys: a
		// pipeline; one key is sent alone).
		if _, _, err := s.GetForUpdate(ctx, []string{"trips:warm", "trips:warm2"}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetIf(ctx, items("trips:warm", "trips:warm2"), []backend.Version{1, 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "trips:hit", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		hook := &cmdCounter{match: func(args []any) bool { return true }}
		c.AddHook(hook)
		count := func(name string, want int64, fn func() error) {
			t.Helper()
			t0, m0 := hook.trips.Load(), hook.matched.Load()
			if err := fn(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if trips := hook.trips.Load() - t0; trips != 1 {
				t.Errorf("%s took %d round trips, want 1", name, trips)
			}
			if cmds := hook.matched.Load() - m0; want > 0 && cmds != want {
				t.Errorf("%s sent %d commands, want %d", name, cmds, want)
			}
		}
		count("Get", 1, func() error { _, err := s.Get(ctx, "trips:hit"); return err })
		var versions []backend.Version
		count("GetForUpdate", int64(len(keys)), func() (err error) {
			_, versions, err = s.GetForUpdate(ctx, keys, time.Minute)
			return err
		})
		count("SetIf", int64(len(keys)), func() error {
			stored, err := s.SetIf(ctx, items(keys...), versions)
			if err == nil && slices.Contains(stored, false) {
				err = fmt.Errorf("stored %v", stored)
			}
			return err
		})
		_, versions, err := s.GetForUpdate(ctx, keys, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// The scripts and the record; on a single node in MULTI … EXEC.
		want := int64(len(keys)) + 1
		if _, single := c.(*redis.Client); single {
			want += 2
		}
		count("SetIfGrouped", want, func() error {
			stored, err := s.SetIfGrouped(ctx, items(keys...), versions, st.reg.Group("trips"), keys, time.Minute)
			if err == nil && slices.Contains(stored, false) {
				err = fmt.Errorf("stored %v", stored)
			}
			return err
		})
	})

	// After the server lost its scripts, the calls load them again.
	t.Run("ScriptFlush", func(t *testing.T) {
		ctx := t.Context()
		c := newClient(t)
		s := newStore(t, c)
		st := newRedisStack(t, c)
		flush := func() {
			t.Helper()
			var err error
			if cc, ok := c.(*redis.ClusterClient); ok {
				err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return n.ScriptFlush(ctx).Err() })
			} else {
				err = c.ScriptFlush(ctx).Err()
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		keys := []string{"flush:a", "flush:b", "flush:c", "flush:d"}
		flush()
		values, versions, err := s.GetForUpdate(ctx, keys, time.Minute)
		if err != nil || slices.ContainsFunc(values, func(v []byte) bool { return v != nil }) {
			t.Fatalf("GetForUpdate after SCRIPT FLUSH = %q, %v", values, err)
		}
		flush()
		stored, err := s.SetIf(ctx, items(keys[:2]...), versions[:2])
		if err != nil || !stored[0] || !stored[1] {
			t.Fatalf("SetIf after SCRIPT FLUSH = %v, %v", stored, err)
		}
		flush()
		group := st.reg.Group("flush")
		stored, err = s.SetIfGrouped(ctx, items(keys[2:]...), versions[2:], group, keys[2:], time.Minute)
		if err != nil || !stored[0] || !stored[1] {
			t.Fatalf("SetIfGrouped after SCRIPT FLUSH = %v, %v", stored, err)
		}
		got, err := s.GetMulti(ctx, keys)
		for i, k := range keys {
			if err != nil || string(got[i]) != k {
				t.Fatalf("GetMulti = %q, %v", got, err)
			}
		}
		recorded, err := st.reg.Keys(ctx, "flush")
		slices.Sort(recorded)
		if err != nil || !slices.Equal(recorded, keys[2:]) {
			t.Fatalf("recorded %q, %v; want %q", recorded, err, keys[2:])
		}
	})

	// SetIfGrouped records every member, stored or not; when the record
	// fails it deletes what it stored, and only that.
	t.Run("Grouped", func(t *testing.T) {
		ctx := t.Context()
		c := newClient(t)
		s := newStore(t, c)
		st := newRedisStack(t, c)
		for _, broken := range []bool{false, true} {
			name := fmt.Sprintf("grouped%t", broken)
			group := st.reg.Group(name)
			if broken {
				// ZADD into the set fails with WRONGTYPE.
				if err := c.Set(ctx, group, "not a set", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			fresh, stale, zero := name+":fresh", name+":stale", name+":zero"
			keys := []string{fresh, stale, zero}
			_, versions, err := s.GetForUpdate(ctx, keys, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Set(ctx, stale, []byte("writer"), time.Minute); err != nil {
				t.Fatal(err)
			}
			versions[2] = 0
			stored, err := s.SetIfGrouped(ctx, items(keys...), versions, group, keys, time.Minute)
			got, gerr := s.GetMulti(ctx, keys)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if string(got[1]) != "writer" || got[2] != nil {
				t.Fatalf("broken %t: values %q, want the writer's for %s and none for %s", broken, got, stale, zero)
			}
			if broken {
				if err == nil || stored[0] || stored[1] || stored[2] || got[0] != nil {
					t.Fatalf("SetIfGrouped into a broken set = %v, %v, values %q; want an error and nothing stored", stored, err, got)
				}
				continue
			}
			if err != nil || !stored[0] || stored[1] || stored[2] || string(got[0]) != fresh {
				t.Fatalf("SetIfGrouped = %v, %v, values %q; want only %s stored", stored, err, got, fresh)
			}
			recorded, err := st.reg.Keys(ctx, name)
			slices.Sort(recorded)
			want := slices.Sorted(slices.Values(keys))
			if err != nil || !slices.Equal(recorded, want) {
				t.Fatalf("recorded %q, %v; want every member %q", recorded, err, want)
			}
		}
		// Invalid arguments do not reach the server.
		if _, err := s.SetIfGrouped(ctx, items("x"), []backend.Version{1}, st.reg.Group("g"), nil, 0); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Fatalf("SetIfGrouped without members = %v, want backend.ErrInvalidArgument", err)
		}
		if n := c.Exists(ctx, "x").Val(); n != 0 {
			t.Fatal("SetIfGrouped with invalid arguments stored a value")
		}
	})

	// A value far larger than the header: SetIf compares the header alone.
	t.Run("LargeValue", func(t *testing.T) {
		ctx := t.Context()
		s := newStore(t, newClient(t))
		big := []byte(strings.Repeat("0123456789abcdef", 1<<16)) // 1 MiB
		_, versions, err := s.GetForUpdate(ctx, []string{"large"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if stored, err := s.SetIf(ctx, []backend.Item{{Key: "large", Value: big}}, versions); err != nil || !stored[0] {
			t.Fatalf("SetIf = %v, %v", stored, err)
		}
		values, versions, err := s.GetForUpdate(ctx, []string{"large"}, time.Minute)
		if err != nil || string(values[0]) != string(big) {
			t.Fatalf("GetForUpdate = %d bytes, %v", len(values[0]), err)
		}
		if stored, err := s.SetIf(ctx, items("large"), versions); err != nil || !stored[0] {
			t.Fatalf("SetIf over the large value = %v, %v", stored, err)
		}
	})
}
