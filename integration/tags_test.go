package integration_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/internal/keyspace"
	"github.com/corralcache/corral/keyreg/memcachereg"
	"github.com/corralcache/corral/region"
)

// sharedBackends runs test once per kind of server (Redis, a Cluster,
// memcached), with two processes' worth of clients on one backend: procA
// and procB make regions on clients of their own, as two processes would;
// del deletes a key on the server.
func sharedBackends(t *testing.T, test func(t *testing.T, procA, procB func(name string, cfg region.Config) *region.Region, del func(key string))) {
	ctx := context.Background()
	type maker = func(name string, cfg region.Config) *region.Region
	t.Run("redis", func(t *testing.T) {
		addr := servers.Redis(t).Addr
		proc := func() maker {
			st := newRedisStack(t, redisClient(t, addr))
			return func(name string, cfg region.Config) *region.Region { return st.region(t, name, cfg) }
		}
		raw := redisClient(t, addr)
		test(t, proc(), proc(), func(key string) { raw.Del(ctx, key) })
	})
	t.Run("cluster", func(t *testing.T) {
		addrs := servers.RedisCluster(t, 3).Addrs()
		proc := func() maker {
			st := newRedisStack(t, clusterClient(t, addrs))
			return func(name string, cfg region.Config) *region.Region { return st.region(t, name, cfg) }
		}
		raw := clusterClient(t, addrs)
		test(t, proc(), proc(), func(key string) { raw.Del(ctx, key) })
	})
	t.Run("memcached", func(t *testing.T) {
		addr := mcServer(t).Addr
		proc := func() maker {
			st := newMCStack(t, memcachereg.Options{}, addr)
			return func(name string, cfg region.Config) *region.Region { return st.region(t, name, cfg) }
		}
		raw := mcClient(t, addr)
		test(t, proc(), proc(), func(key string) { _ = raw.Delete(key) })
	})
}

// tagStacks gives test, on each kind of server, two regions of their own
// clients on one backend — "profile" in process A, "feed" in process B —
// A's with a clock of the test's, and a way to delete a key on the server.
func tagStacks(t *testing.T, test func(t *testing.T, a, b *region.Region, clockA *fakeclock.Clock, del func(key string))) {
	sharedBackends(t, func(t *testing.T, procA, procB func(string, region.Config) *region.Region, del func(string)) {
		clockA := fakeclock.New(time.Now())
		a := procA("profile", region.Config{Clock: clockA, InvalidationRefresh: time.Second, Expiration: time.Hour})
		b := procB("feed", region.Config{InvalidationRefresh: time.Second, Expiration: time.Hour})
		test(t, a, b, clockA, del)
	})
}

// TestTagsAcrossProcesses: process B invalidates a tag while process A's
// creation of a value carrying it is in flight (its creator has read the
// database): A's caller gets the value, but no read that begins in A once
// A's view is refreshed — nor any read in B — is served it; values with
// other tags stay; a tag counter lost on the server retires what carries
// it until a creation makes it again.
func TestTagsAcrossProcesses(t *testing.T) {
	tagStacks(t, func(t *testing.T, a, b *region.Region, clockA *fakeclock.Clock, del func(string)) {
		ctx := t.Context()
		read, resume := make(chan struct{}), make(chan struct{})
		var runs atomic.Int32
		create := func(context.Context) (string, error) {
			n := runs.Add(1)
			if n == 1 {
				close(read)
				<-resume
			}
			return "v" + strconv.Itoa(int(n)), nil
		}
		tag := region.WithTags("user:42")
		got := make(chan string, 1)
		go func() {
			v, err := region.GetOrCreate(ctx, a, "k", create, tag)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		<-read
		if err := b.InvalidateTags(ctx, "user:42"); err != nil {
			t.Fatal(err)
		}
		close(resume)
		if v := <-got; v != "v1" {
			t.Fatalf("A's paused creation answered %q, want v1", v)
		}
		clockA.Advance(2 * time.Second) // A's view of the tag is due
		if v, err := region.GetOrCreate(ctx, a, "k", create, tag); err != nil || v != "v2" {
			t.Fatalf("A after B's InvalidateTags: %q, %v; want v2 (v1's creation began before it)", v, err)
		}
		if v, err := region.GetOrCreate(ctx, a, "k", create, tag); err != nil || v != "v2" {
			t.Fatalf("A again: %q, %v; want the hit v2", v, err)
		}

		// Another tag is untouched; B's own value under the tag goes at once.
		var other atomic.Int32
		otherCreate := func(context.Context) (string, error) { return "o" + strconv.Itoa(int(other.Add(1))), nil }
		if v, _ := region.GetOrCreate(ctx, b, "feed", otherCreate, region.WithTags("user:7")); v != "o1" {
			t.Fatalf("B: %q, want o1", v)
		}
		if v, _ := region.GetOrCreate(ctx, b, "mine", create, tag); v != "v3" {
			t.Fatalf("B: %q, want v3", v)
		}
		if err := b.InvalidateTags(ctx, "user:42"); err != nil {
			t.Fatal(err)
		}
		if v, _ := region.GetOrCreate(ctx, b, "mine", create, tag); v != "v4" {
			t.Fatalf("B after its own InvalidateTags: %q, want v4", v)
		}
		if v, _ := region.GetOrCreate(ctx, b, "feed", otherCreate, region.WithTags("user:7")); v != "o1" {
			t.Fatalf("B, another tag: %q, want the hit o1", v)
		}

		// The counter lost: what carries the tag is retired, then made anew.
		del(keyspace.Tag("user:42"))
		clockA.Advance(2 * time.Second)
		if v, _ := region.GetOrCreate(ctx, a, "k", create, tag); v != "v5" {
			t.Fatalf("A after the counter was lost: %q, want v5", v)
		}
		if v, _ := region.GetOrCreate(ctx, a, "k", create, tag); v != "v5" {
			t.Fatalf("A once made again: %q, want the hit v5", v)
		}
	})
}

// TestAddReplaceAcrossProcesses: Add and Replace on real servers, from two
// clients of one region (as two processes have): what one stores the
// other's conditional write sees at once.
func TestAddReplaceAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	sharedBackends(t, func(t *testing.T, procA, procB func(string, region.Config) *region.Region, _ func(string)) {
		a, b := region.NewTyped[string](procA("put", region.Config{})), region.NewTyped[string](procB("put", region.Config{}))
		step := func(what string, ok bool, err error, want bool) {
			t.Helper()
			if err != nil || ok != want {
				t.Fatalf("%s = %t, %v; want %t", what, ok, err, want)
			}
		}
		ok, err := a.Add(ctx, "k", "from A")
		step("A: Add", ok, err, true)
		ok, err = b.Add(ctx, "k", "from B")
		step("B: Add of what A added", ok, err, false)
		ok, err = b.Replace(ctx, "k", "replaced by B")
		step("B: Replace", ok, err, true)
		if v, found, err := a.Get(ctx, "k"); err != nil || !found || v != "replaced by B" {
			t.Fatalf("A: Get = %q, %t, %v; want B's value", v, found, err)
		}
		if err := a.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		ok, err = b.Replace(ctx, "k", "again")
		step("B: Replace after A's Delete", ok, err, false)
		ok, err = b.Add(ctx, "k", "added by B")
		step("B: Add after A's Delete", ok, err, true)
	})
}
