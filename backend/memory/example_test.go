package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
)

func Example() {
	b, err := memory.New(memory.Options{MaxEntries: 10_000})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx := context.Background()

	// The byte methods: what every backend offers.
	_ = b.Set(ctx, "greeting", []byte("hello"), time.Hour)
	v, _ := b.Get(ctx, "greeting")
	fmt.Printf("%s\n", v)

	// The ValueStore methods: decoded entries, no serializer on the hit path.
	e := &backend.Entry{Value: []string{"ada", "grace"}, Expiration: time.Minute}
	b.StoreEntry("users:", "admins", e, time.Hour)
	got, ok := b.LoadEntry("users:", "admins")
	fmt.Println(got.Value, ok, got == e, b.KeepsValues())
	// Output:
	// hello
	// [ada grace] true true true
}

func ExampleOptions_serialize() {
	b, err := memory.New(memory.Options{Serialize: true})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	// Regions encode values for this Backend: callers never share them.
	fmt.Println(b.KeepsValues())
	// Output: false
}

// A creator reads a key for update, computes its value, and stores it only
// if the key is unchanged: here a writer's Set in between wins.
func ExampleBackend_SetIf() {
	b, err := memory.New(memory.Options{})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx := context.Background()

	// The key holds nothing: GetForUpdate leaves a placeholder and returns
	// its version.
	values, versions, _ := b.GetForUpdate(ctx, []string{"report"}, time.Minute)
	fmt.Println(values[0] == nil)

	// Meanwhile a writer stores a newer report.
	_ = b.Set(ctx, "report", []byte("fresh"), time.Hour)

	// The creator's value, computed from an older read, is not stored.
	stored, _ := b.SetIf(ctx, []backend.Item{{Key: "report", Value: []byte("stale"), TTL: time.Hour}}, versions)
	v, _ := b.Get(ctx, "report")
	fmt.Println(stored[0], string(v))
	// Output:
	// true
	// false fresh
}
