package region_test

import (
	"context"
	"fmt"
	"time"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/region"
)

// Inspect tells what the backend holds under a key without decoding it:
// what the corral command's inspect prints.
func ExampleRegion_Inspect() {
	store, _ := memory.New(memory.Options{Serialize: true}) // bytes, as on Redis or memcached
	defer store.Close()
	r, _ := region.New("users", region.Config{Backend: store, Expiration: time.Minute})
	defer r.Close()
	ctx := context.Background()
	_ = r.Set(ctx, "user:42", "Ada")
	info, _ := r.Inspect(ctx, "user:42")
	fmt.Println(info.Present, info.State, info.Expiration, info.Serializer, info.Compressed)
	_ = r.Invalidate(ctx, region.Soft)
	info, _ = r.Inspect(ctx, "user:42")
	fmt.Println(info.State)
	// Output:
	// true fresh 1m0s msgpack false
	// stale
}
