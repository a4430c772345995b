package integration_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/keyreg/redisreg"
	"github.com/corralcache/corral/region"
)

func TestRedisRegistry(t *testing.T) {
	srv := servers.Redis(t)
	c := redisClient(t, srv.Addr)
	reg := newRedisStack(t, c).reg
	ctx := t.Context()
	set := reg.Group("f")
	if set != redisreg.DefaultPrefix+"f" {
		t.Fatalf("Group(f) = %q", set)
	}
	if ns, err := reg.Namespace(ctx, "f"); err != nil || ns != "f" {
		t.Fatalf("Namespace = %q, %v; want f", ns, err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := reg.Record(ctx, "f", k, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Record(ctx, "g", "other", 0); err != nil {
		t.Fatal(err)
	}
	keys, err := reg.Keys(ctx, "f")
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"a", "b", "c"}) {
		t.Fatalf("Keys = %q, %v", keys, err)
	}
	if ok, err := reg.Recorded(ctx, "f", "b"); err != nil || !ok {
		t.Fatalf("Recorded(b) = %t, %v", ok, err)
	}
	if ok, err := reg.Recorded(ctx, "f", "zzz"); err != nil || ok {
		t.Fatalf("Recorded(zzz) = %t, %v", ok, err)
	}
	// The set expires with its longest record: an hour plus the skew.
	if ttl := c.PTTL(ctx, set).Val(); ttl < time.Hour || ttl > time.Hour+redisreg.ClockSkew {
		t.Fatalf("set TTL %v, want about an hour", ttl)
	}
	// A record without expiry makes the set persistent.
	if ttl := c.PTTL(ctx, reg.Group("g")).Val(); ttl != -1 {
		t.Fatalf("set of g has TTL %v, want none", ttl)
	}
	if err := reg.Forget(ctx, "f", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := reg.Recorded(ctx, "f", "b"); ok {
		t.Fatal("b still recorded after Forget")
	}
	all, err := reg.ForgetAll(ctx, "f")
	slices.Sort(all)
	if err != nil || !slices.Equal(all, []string{"a", "c"}) {
		t.Fatalf("ForgetAll = %q, %v; want a c", all, err)
	}
	if n := c.Exists(ctx, set).Val(); n != 0 {
		t.Fatal("set still exists after ForgetAll")
	}
	if keys, err := reg.Keys(ctx, "g"); err != nil || !slices.Equal(keys, []string{"other"}) {
		t.Fatalf("Keys(g) = %q, %v: ForgetAll(f) touched g", keys, err)
	}
}

// TestRedisRegistryBound checks that expired records leave: each record
// trims the members whose value expired (plus the skew), and the set expires
// with its last member.
func TestRedisRegistryBound(t *testing.T) {
	srv := servers.Redis(t)
	c := redisClient(t, srv.Addr)
	reg := newRedisStack(t, c).reg
	ctx := t.Context()
	// Records that expired long ago, written as the script would have.
	past := float64(time.Now().Add(-time.Hour).UnixMilli())
	for _, k := range []string{"old1", "old2"} {
		c.ZAdd(ctx, reg.Group("f"), redisZ(past, k))
	}
	if err := reg.Record(ctx, "f", "new", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	members := c.ZRange(ctx, reg.Group("f"), 0, -1).Val()
	if !slices.Equal(members, []string{"new"}) {
		t.Fatalf("members %q, want only the live record", members)
	}
	if ttl := c.PTTL(ctx, reg.Group("f")).Val(); ttl <= 0 || ttl > 50*time.Millisecond+redisreg.ClockSkew {
		t.Fatalf("set TTL %v, want its last member's expiry", ttl)
	}
}

// TestRedisRecordFailureDropsValue: when the key cannot be recorded with its
// value, the value is not left in Redis unrecorded (it would escape
// invalidation by function); the caller still gets it.
func TestRedisRecordFailureDropsValue(t *testing.T) {
	srv := servers.Redis(t)
	c := redisClient(t, srv.Addr)
	st := newRedisStack(t, c)
	r := st.region(t, "rf", region.Config{})
	ctx := t.Context()
	// The function's set key holds a string: ZADD fails with WRONGTYPE. The
	// region files f's records under its namespace (2:rf:f).
	group := st.reg.Group("2:rf:f")
	if err := c.Set(ctx, group, "not a set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f, err := region.Cache1(r, func(_ context.Context, n int) (int, error) { return n + 1, nil }, region.Named("f"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Call(ctx, 1); err != nil || v != 2 {
		t.Fatalf("Call = %d, %v; want 2", v, err)
	}
	if st := r.Stats(); st.BackendErrors != 1 {
		t.Fatalf("BackendErrors = %d, want 1", st.BackendErrors)
	}
	key, _, _ := f.Key(ctx, 1) // the registry lookup fails on the broken set; the key does not
	if key == "" {
		t.Fatal("no key for 1")
	}
	if n := c.Exists(ctx, r.BackendKey(key)).Val(); n != 0 {
		t.Fatal("value left in Redis without its record")
	}
	// Direct use: the error comes back.
	err = st.store.SetMultiGrouped(ctx, []backend.Item{{Key: "x", Value: []byte("v")}}, group, []string{"x"}, time.Minute)
	if err == nil {
		t.Fatal("SetMultiGrouped into a set key of the wrong type succeeded")
	}
	if n := c.Exists(ctx, "x").Val(); n != 0 {
		t.Fatal("SetMultiGrouped left its value after failing")
	}
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }
