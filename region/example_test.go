package region_test

import (
	"context"
	"fmt"
	"time"

	"github.com/corralcache/corral/region"
)

func ExampleGetOrCreate() {
	ctx := context.Background()
	r, err := region.New("pages", region.Config{Expiration: time.Minute})
	if err != nil {
		panic(err)
	}
	defer r.Close()

	render := func(context.Context) (string, error) {
		fmt.Println("rendering")
		return "<h1>home</h1>", nil
	}
	for range 3 {
		page, err := region.GetOrCreate(ctx, r, "home", render)
		if err != nil {
			panic(err)
		}
		fmt.Println(page)
	}
	// Output:
	// rendering
	// <h1>home</h1>
	// <h1>home</h1>
	// <h1>home</h1>
}

func ExampleCache1() {
	ctx := context.Background()
	r, err := region.New("users", region.Config{Expiration: time.Hour})
	if err != nil {
		panic(err)
	}
	defer r.Close()

	emails := map[int]string{42: "ada@example.com"}
	lookup := func(_ context.Context, id int) (string, error) {
		fmt.Println("database lookup", id)
		return emails[id], nil
	}
	getEmail, err := region.Cache1(r, lookup, region.Named("GetEmail"))
	if err != nil {
		panic(err)
	}

	e, _ := getEmail.Call(ctx, 42)
	fmt.Println(e)
	e, _ = getEmail.Call(ctx, 42) // cached
	fmt.Println(e)

	// After a write, invalidate the cached result by the function's arguments.
	emails[42] = "countess@example.com"
	_ = getEmail.Invalidate(ctx, 42)
	e, _ = getEmail.Call(ctx, 42)
	fmt.Println(e)
	// Output:
	// database lookup 42
	// ada@example.com
	// ada@example.com
	// database lookup 42
	// countess@example.com
}

func ExampleRegion_Invalidate() {
	ctx := context.Background()
	r, _ := region.New("config", region.Config{})
	defer r.Close()

	_ = r.Set(ctx, "flags", "v1")
	_ = r.Invalidate(ctx, region.Hard)
	_, found, _ := region.Get[string](ctx, r, "flags")
	fmt.Println("found after hard invalidation:", found)
	// Output:
	// found after hard invalidation: false
}
