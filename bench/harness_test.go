package bench

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/bench/internal/fixture"
)

// getFunc reads the User under key through one library, creating it on a
// miss.
type getFunc func(ctx context.Context, key string) (fixture.User, error)

// counter counts creator calls.
type counter struct {
	n atomic.Int64
	// delay is how long a creator call takes.
	delay time.Duration
	// onCall, when set, is told when each call starts and ends.
	onCall func(start, end time.Time)
}

// load is the creator every library is given: it counts the call, takes
// c.delay and builds the key's User.
func (c *counter) load(key string) fixture.User {
	c.n.Add(1)
	start := time.Now()
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	if c.onCall != nil {
		c.onCall(start, time.Now())
	}
	return fixture.NewUser(fixture.IDOf(key))
}

// goroutines is the reader count of the parallel variants.
const goroutines = 64

// runHits measures get over fixture.KeyCount keys it fills first, with one
// goroutine (g1) or 64 (g64). It fails b when a read returned a wrong value,
// or when the creator ran again after the fill (the benchmark would measure
// misses).
func runHits(b *testing.B, parallel bool, c *counter, rt *roundTrips, get getFunc) {
	ctx := context.Background()
	keys := fixture.Keys(fixture.KeyCount)
	fill(b, c, keys, get)
	filled := c.n.Load()
	rt.reset()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		i := 0
		for b.Loop() {
			k := keys[i&(fixture.KeyCount-1)]
			u, err := get(ctx, k)
			if err != nil || u.ID != int64(i&(fixture.KeyCount-1)) {
				b.Fatalf("get %s: %v, id %d", k, err, u.ID)
			}
			i++
		}
	} else {
		var start atomic.Int64
		b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(97))
			for pb.Next() {
				j := i & (fixture.KeyCount - 1)
				u, err := get(ctx, keys[j])
				if err != nil || u.ID != int64(j) {
					b.Errorf("get %s: %v, id %d", keys[j], err, u.ID)
					return
				}
				i++
			}
		})
	}
	b.StopTimer()
	if n := c.n.Load(); n != filled {
		b.Fatalf("the creator ran %d times during the measurement: it measured misses", n-filled)
	}
	rt.report(b)
}

// fill reads every key until a whole pass runs the creator no more: some
// libraries (eko/gocache's loadable cache) store a loaded value
// asynchronously, and a read racing that store loads it again.
func fill(b *testing.B, c *counter, keys []string, get getFunc) {
	ctx := context.Background()
	for pass := 0; ; pass++ {
		before := c.n.Load()
		for _, k := range keys {
			if _, err := get(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
		if pass > 0 && c.n.Load() == before {
			return
		}
		if pass == 10 {
			b.Fatal("the cache does not keep what it loads")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// variants are the reader counts of the hit scenarios.
var variants = []struct {
	name     string
	parallel bool
}{{"g1", false}, {"g64", true}}

// runMulti measures multi over windows of multiKeys of fixture.KeyCount keys
// it fills first with get, with one goroutine or 64. It fails b on a wrong
// value or a creator call after the fill.
func runMulti(b *testing.B, parallel bool, c *counter, rt *roundTrips, get getFunc, multi multiFunc) {
	ctx := context.Background()
	keys := fixture.Keys(fixture.KeyCount)
	fill(b, c, keys, get)
	windows := make([][]string, fixture.KeyCount/multiKeys)
	for w := range windows {
		windows[w] = keys[w*multiKeys : (w+1)*multiKeys]
	}
	check := func(w int, got []fixture.User, err error) bool {
		if err != nil || len(got) != multiKeys {
			b.Errorf("multi-get: %v, %d values", err, len(got))
			return false
		}
		for i, u := range got {
			if u.ID != int64(w*multiKeys+i) {
				b.Errorf("multi-get: value %d has id %d", w*multiKeys+i, u.ID)
				return false
			}
		}
		return true
	}
	filled := c.n.Load()
	rt.reset()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		w := 0
		for b.Loop() {
			got, err := multi(ctx, windows[w])
			if !check(w, got, err) {
				b.FailNow()
			}
			w = (w + 1) % len(windows)
		}
	} else {
		var start atomic.Int64
		b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			w := int(start.Add(1)) % len(windows)
			for pb.Next() {
				got, err := multi(ctx, windows[w])
				if !check(w, got, err) {
					return
				}
				w = (w + 1) % len(windows)
			}
		})
	}
	b.StopTimer()
	if n := c.n.Load(); n != filled {
		b.Fatalf("the creator ran %d times during the measurement: it measured misses", n-filled)
	}
	rt.report(b)
}
