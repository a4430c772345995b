package diskstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/diskstore"
)

// BenchmarkStore measures the store's own hit, miss and set, one goroutine,
// 1 KiB values over 1,024 keys.
func BenchmarkStore(b *testing.B) {
	s := open(b, diskstore.Options{})
	ctx := b.Context()
	val := make([]byte, 1024)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
		if err := s.Set(ctx, keys[i], val, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("hit", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, "absent"); !errors.Is(err, backend.ErrNotFound) {
				b.Fatal(err)
			}
		}
	})
	b.Run("set", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := s.Set(ctx, keys[i%len(keys)], val, 0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
