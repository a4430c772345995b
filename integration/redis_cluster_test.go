package integration_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/integration/internal/servers"
	"github.com/corralcache/corral/region"
)

// TestRedisCluster runs the backend suite and the multi-key calls on a
// three-master Redis Cluster, where a region's keys, its locks and its
// registry sets live on different nodes. The multi-process tests run on a
// Cluster too (see forEachBackend).
func TestRedisCluster(t *testing.T) {
	cl := servers.RedisCluster(t, 3)

	t.Run("BackendConformance", func(t *testing.T) {
		backendtest.RunWith(t, backendtest.RunOptions{TTL: 300 * time.Millisecond}, func(t *testing.T) backend.Backend {
			s, err := redisstore.New(clusterClient(t, cl.Addrs()), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("MultiKeyAcrossNodes", func(t *testing.T) { testClusterMultiKey(t, clusterClient(t, cl.Addrs())) })
	t.Run("Conditional", func(t *testing.T) {
		testRedisConditional(t, func(t *testing.T) redis.UniversalClient { return clusterClient(t, cl.Addrs()) })
	})
}

// testClusterMultiKey checks that multi-key calls span slots of every node,
// in key order, and that a function's keys recorded on the Cluster are all
// found and deleted by InvalidateAll.
func testClusterMultiKey(t *testing.T, c *redis.ClusterClient) {
	ctx := t.Context()
	st := newRedisStack(t, c)
	keys := make([]string, 60)
	items := make([]backend.Item, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprintf("multi:%d", i)
		items[i] = backend.Item{Key: keys[i], Value: []byte(keys[i]), TTL: time.Minute}
	}
	if err := st.store.SetMulti(ctx, items); err != nil {
		t.Fatal(err)
	}
	rev := slices.Clone(keys)
	slices.Reverse(rev)
	got, err := st.store.GetMulti(ctx, append(rev, "multi:missing"))
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range rev {
		if string(got[i]) != k {
			t.Fatalf("GetMulti value %d = %q, want %q", i, got[i], k)
		}
	}
	if got[len(rev)] != nil {
		t.Fatalf("missing key gave %q", got[len(rev)])
	}
	if err := st.store.DeleteMulti(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, keys...).Result(); err != nil || n != 0 {
		// EXISTS of many keys is cross-slot on a Cluster; count one by one.
		for _, k := range keys {
			if n, err := c.Exists(ctx, k).Result(); err != nil || n != 0 {
				t.Fatalf("EXISTS %s after DeleteMulti = %d, %v", k, n, err)
			}
		}
	}

	// A cached function's values and its registry set live on different
	// nodes; SetMultiGrouped writes both in one pipelined round trip.
	r := st.region(t, "cmulti", region.Config{Expiration: time.Minute})
	calls := 0
	double, err := region.Cache1(r, func(_ context.Context, n int) (int, error) { calls++; return 2 * n, nil }, region.Named("double"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range 30 {
		if v, err := double.Call(ctx, n); err != nil || v != 2*n {
			t.Fatalf("Call(%d) = %d, %v", n, v, err)
		}
	}
	recorded, err := double.Keys(ctx)
	if err != nil || len(recorded) != 30 {
		t.Fatalf("Keys = %d keys, %v; want 30", len(recorded), err)
	}
	if err := double.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	for n := range 30 {
		if _, found, err := double.Get(ctx, n); err != nil || found {
			t.Fatalf("Get(%d) after InvalidateAll: found %t, %v", n, found, err)
		}
	}
	if calls != 30 {
		t.Fatalf("function ran %d times, want 30", calls)
	}
}
