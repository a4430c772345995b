package region_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// A region that encrypts its values and hides its key names. The keys come
// from the application's secret store; here they are fixed bytes.
func ExampleHashKeys() {
	ctx := context.Background()
	keys, err := serializer.NewKeyring(1, map[uint32][]byte{1: bytes.Repeat([]byte{0x42}, serializer.KeySize)})
	if err != nil {
		panic(err) // never run without the keyring you asked for
	}
	hide, err := region.HashKeys(bytes.Repeat([]byte{0x17}, region.MinHashKeysSecret))
	if err != nil {
		panic(err)
	}
	store, err := memory.New(memory.Options{Serialize: true}) // keeps bytes, as Redis would
	if err != nil {
		panic(err)
	}
	defer store.Close()
	r, err := region.New("users", region.Config{Backend: store, Keyring: keys, KeyMangler: hide})
	if err != nil {
		panic(err)
	}
	defer r.Close()

	if err := r.Set(ctx, "user:42", "ada@example.com"); err != nil {
		panic(err)
	}
	raw, _ := store.Get(ctx, r.BackendKey("user:42"))
	email, _, _ := region.Get[string](ctx, r, "user:42")
	fmt.Println(email)
	fmt.Println(strings.HasPrefix(r.BackendKey("user:42"), "c1:{h:"), bytes.Contains(raw, []byte("ada")))
	fmt.Println(keys)
	// Output:
	// ada@example.com
	// true false
	// serializer.Keyring{current: 1, ids: [1]}
}
