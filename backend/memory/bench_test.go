package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
)

// The LoadEntry benchmarks run beside bare otter caches holding the same
// entries, so that `go test -bench 'LoadEntry|Otter'` shows the cost the
// Backend adds to otter's GetIfPresent:
//
//   - BenchmarkOtterGetIfPresent: a plain otter cache, string keys, bounded
//     by size, no expiry: the floor.
//   - BenchmarkOtterGetIfPresentPairKey: the same with the Backend's
//     (namespace, key) pair as the key: what hashing two strings costs.
//   - BenchmarkOtterGetIfPresentExpiry: configured as the Backend is by
//     default: pair keys, expiry on write, a coarse clock of
//     DefaultClockResolution.
//
// BenchmarkLoadEntry uses the default coarse clock and
// BenchmarkLoadEntryPreciseClock reads the precise time on every get.

const benchKeys = 1 << 10

func benchKeyNames() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	return keys
}

// runGets runs get once per iteration, on one goroutine and in parallel.
func runGets(b *testing.B, get func(i int) bool) {
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if !get(i & (benchKeys - 1)) {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if !get(i & (benchKeys - 1)) {
					b.Error("miss")
					return
				}
				i++
			}
		})
	})
}

func BenchmarkLoadEntry(b *testing.B) {
	benchmarkLoadEntry(b, memory.Options{MaxEntries: 10 * benchKeys})
}

func BenchmarkLoadEntryPreciseClock(b *testing.B) {
	benchmarkLoadEntry(b, memory.Options{MaxEntries: 10 * benchKeys, ClockResolution: -1})
}

func benchmarkLoadEntry(b *testing.B, o memory.Options) {
	m, err := memory.New(o)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	keys := benchKeyNames()
	for _, k := range keys {
		m.StoreEntry("region:", k, &backend.Entry{Value: k}, time.Hour)
	}
	runGets(b, func(i int) bool {
		_, ok := m.LoadEntry("region:", keys[i])
		return ok
	})
}

func BenchmarkOtterGetIfPresent(b *testing.B) {
	c := otter.Must(&otter.Options[string, *backend.Entry]{MaximumSize: 10 * benchKeys})
	defer c.StopAllGoroutines()
	keys := benchKeyNames()
	for _, k := range keys {
		c.Set(k, &backend.Entry{Value: k})
	}
	runGets(b, func(i int) bool {
		_, ok := c.GetIfPresent(keys[i])
		return ok
	})
}

func BenchmarkOtterGetIfPresentPairKey(b *testing.B) {
	type pair struct{ ns, key string }
	c := otter.Must(&otter.Options[pair, *backend.Entry]{MaximumSize: 10 * benchKeys})
	defer c.StopAllGoroutines()
	keys := benchKeyNames()
	for _, k := range keys {
		c.Set(pair{"region:", k}, &backend.Entry{Value: k})
	}
	runGets(b, func(i int) bool {
		_, ok := c.GetIfPresent(pair{"region:", keys[i]})
		return ok
	})
}

func BenchmarkOtterGetIfPresentExpiry(b *testing.B) {
	type pair struct{ ns, key string }
	clk := otter.NewCoarseClock(memory.DefaultClockResolution)
	defer clk.Stop()
	c := otter.Must(&otter.Options[pair, *backend.Entry]{
		MaximumSize:      10 * benchKeys,
		Clock:            clk,
		ExpiryCalculator: otter.ExpiryWriting[pair, *backend.Entry](time.Hour),
	})
	defer c.StopAllGoroutines()
	keys := benchKeyNames()
	for _, k := range keys {
		c.Set(pair{"region:", k}, &backend.Entry{Value: k})
	}
	runGets(b, func(i int) bool {
		_, ok := c.GetIfPresent(pair{"region:", keys[i]})
		return ok
	})
}

func BenchmarkGet(b *testing.B) {
	m, err := memory.New(memory.Options{MaxEntries: 10 * benchKeys})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	keys := benchKeyNames()
	value := make([]byte, 128)
	for _, k := range keys {
		if err := m.Set(b.Context(), k, value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	runGets(b, func(i int) bool {
		_, err := m.Get(b.Context(), keys[i])
		return err == nil
	})
}

// BenchmarkLoadEntryForUpdate takes a lease on a present entry: what a
// creator pays to read a key before it recomputes it.
func BenchmarkLoadEntryForUpdate(b *testing.B) {
	m, err := memory.New(memory.Options{MaxEntries: 10 * benchKeys})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	keys := benchKeyNames()
	for _, k := range keys {
		m.StoreEntry("region:", k, &backend.Entry{Value: k}, time.Hour)
	}
	runGets(b, func(i int) bool {
		e, _ := m.LoadEntryForUpdate("region:", keys[i], time.Minute)
		return e != nil
	})
}
