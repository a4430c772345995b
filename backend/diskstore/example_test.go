package diskstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/corralcache/corral/backend/diskstore"
	"github.com/corralcache/corral/region"
)

// A region on a disk store, with the store's own locker and registry so
// that every process opening the file shares the dogpile lock and the
// records of cached functions.
func Example() {
	dir, err := os.MkdirTemp("", "corral-disk")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s, err := diskstore.Open(filepath.Join(dir, "cache.db"), diskstore.Options{MaxBytes: 64 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	r, err := region.New("users", region.Config{
		Backend: s, Locker: s.Locker(), Registry: s.Registry(), Expiration: time.Hour,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	ctx := context.Background()
	for range 2 {
		name, err := region.GetOrCreate(ctx, r, "user:42", func(context.Context) (string, error) {
			fmt.Println("loading user 42")
			return "Ada", nil
		})
		fmt.Println(name, err)
	}
	// Output:
	// loading user 42
	// Ada <nil>
	// Ada <nil>
}
