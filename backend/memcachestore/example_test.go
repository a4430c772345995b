package memcachestore_test

import (
	"fmt"
	"strings"

	"github.com/corralcache/corral/backend/memcachestore"
)

func ExampleMangleKey() {
	fmt.Println(memcachestore.MangleKey("users:42"))
	long := memcachestore.MangleKey("search:" + strings.Repeat("x", 300))
	fmt.Println(len(long), long[:12], long[185:186])
	fmt.Println(memcachestore.MangleKey("a key"))
	// Output:
	// users:42
	// 250 search:xxxxx ~
	// a_key~8fa3aab2faa9b79e0a0398da5b5abd0780142442a5be80b9a64608d718cb1fcd
}
