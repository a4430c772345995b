package region_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// users is a slow store the tests cache; it counts calls per id.
type users struct {
	mu    sync.Mutex
	calls map[int]int
	email map[int]string
}

func newUsers() *users {
	return &users{calls: map[int]int{}, email: map[int]string{42: "a@x", 43: "b@x"}}
}

func (u *users) GetEmail(_ context.Context, id int) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls[id]++
	return u.email[id], nil
}

func (u *users) Calls(id int) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[id]
}

func TestCachedFunction(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize)})
			u := newUsers()
			email, err := region.Cache1(r, u.GetEmail, region.Named("users.email"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			call := func(id int, want string) {
				t.Helper()
				if got, err := email.Call(ctx, id); err != nil || got != want {
					t.Fatalf("Call(%d) = %q, %v; want %q", id, got, err, want)
				}
			}
			call(42, "a@x")
			call(42, "a@x")
			call(43, "b@x")
			if u.Calls(42) != 1 || u.Calls(43) != 1 {
				t.Fatalf("calls %v, want one per id", u.calls)
			}

			key, recorded, err := email.Key(ctx, 42)
			if err != nil || !recorded || key != "users.email:i42" {
				t.Fatalf("Key(42) = %q, %v, %v", key, recorded, err)
			}
			if _, recorded, _ := email.Key(ctx, 44); recorded {
				t.Fatal("Key(44) is recorded but was never cached")
			}

			// invalidate one entry: only 42 is recomputed
			if err := email.Invalidate(ctx, 42); err != nil {
				t.Fatal(err)
			}
			if _, recorded, _ := email.Key(ctx, 42); recorded {
				t.Fatal("an invalidated key is still recorded")
			}
			call(42, "a@x")
			call(43, "b@x")
			if u.Calls(42) != 2 || u.Calls(43) != 1 {
				t.Fatalf("after Invalidate(42): calls %v, want 42 twice and 43 once", u.calls)
			}

			// invalidate all: both are recomputed
			if err := email.InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, _ := email.Keys(ctx); len(keys) != 0 {
				t.Fatalf("keys after InvalidateAll: %q", keys)
			}
			call(42, "a@x")
			call(43, "b@x")
			if u.Calls(42) != 3 || u.Calls(43) != 2 {
				t.Fatalf("after InvalidateAll: calls %v", u.calls)
			}

			// write-through
			if err := email.Set(ctx, 42, "new@x"); err != nil {
				t.Fatal(err)
			}
			call(42, "new@x")
			if v, found, err := email.Get(ctx, 42); err != nil || !found || v != "new@x" {
				t.Fatalf("Get(42) = %q, %v, %v", v, found, err)
			}
			if u.Calls(42) != 3 {
				t.Fatalf("Set must not call the function: %d calls", u.Calls(42))
			}

			// refresh calls the function and stores its result
			u.mu.Lock()
			u.email[42] = "fresh@x"
			u.mu.Unlock()
			if v, err := email.Refresh(ctx, 42); err != nil || v != "fresh@x" {
				t.Fatalf("Refresh(42) = %q, %v", v, err)
			}
			call(42, "fresh@x")
			if u.Calls(42) != 4 {
				t.Fatalf("calls of 42 = %d, want 4", u.Calls(42))
			}
			keys, _ := email.Keys(ctx)
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"users.email:i42", "users.email:i43"}) {
				t.Fatalf("keys %q", keys)
			}
		})
	}
}

func TestCachedFunctionArities(t *testing.T) {
	r := newRegion(t, region.Config{})
	ctx := context.Background()
	type filter struct {
		Tags  []string
		Limit int
	}
	f2, err := region.Cache2(r, func(_ context.Context, a string, b filter) (string, error) {
		return fmt.Sprint(a, b.Tags, b.Limit), nil
	}, region.Named("f2"))
	if err != nil {
		t.Fatal(err)
	}
	f3, err := region.Cache3(r, func(_ context.Context, a, b, c int) (int, error) { return a + b + c, nil }, region.Named("f3"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f2.Call(ctx, "x", filter{Tags: []string{"a"}, Limit: 2}); err != nil || v != "x[a] 2" {
		t.Fatalf("f2: %q, %v", v, err)
	}
	if v, err := f3.Call(ctx, 1, 2, 3); err != nil || v != 6 {
		t.Fatalf("f3: %d, %v", v, err)
	}
	k1, _, _ := f3.Key(ctx, 1, 2, 3)
	k2, _, _ := f3.Key(ctx, 3, 2, 1)
	if k1 == k2 {
		t.Fatalf("different arguments gave one key %q", k1)
	}
}

func TestCachedFunctionUnencodableArgument(t *testing.T) {
	r := newRegion(t, region.Config{})
	f, err := region.Cache1(r, func(context.Context, chan int) (int, error) { return 1, nil }, region.Named("chan"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Call(context.Background(), make(chan int))
	if !errors.Is(err, keyreg.ErrUnencodable) {
		t.Fatalf("got %v, want ErrUnencodable", err)
	}
}

func TestCacheNilRegion(t *testing.T) {
	if _, err := region.Cache1[int, int](nil, func(context.Context, int) (int, error) { return 0, nil }); !errors.Is(err, region.ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
}

func TestInvalidateFirst(t *testing.T) {
	r := newRegion(t, region.Config{})
	ctx := context.Background()
	calls := map[string]int{}
	page, err := region.Cache2(r, func(_ context.Context, user string, n int) (string, error) {
		calls[fmt.Sprint(user, n)]++
		return fmt.Sprint(user, n), nil
	}, region.Named("page"))
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"ada", "ad"} {
		for n := range 3 {
			_, _ = page.Call(ctx, user, n)
		}
	}
	if err := page.InvalidateFirst(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"ada", "ad"} {
		for n := range 3 {
			_, _ = page.Call(ctx, user, n)
		}
	}
	for n := range 3 {
		if c := calls[fmt.Sprint("ada", n)]; c != 2 {
			t.Errorf("ada page %d computed %d times, want 2 (invalidated)", n, c)
		}
		if c := calls[fmt.Sprint("ad", n)]; c != 1 {
			t.Errorf("ad page %d computed %d times, want 1 (kept)", n, c)
		}
	}
}

// readCounting is a byte backend that counts its reads: Get and GetMulti
// calls, each one round trip on a networked backend.
type readCounting struct {
	backend.Backend
	reads atomic.Int64
}

func (b *readCounting) Get(ctx context.Context, key string) ([]byte, error) {
	b.reads.Add(1)
	return b.Backend.Get(ctx, key)
}

func (b *readCounting) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	b.reads.Add(1)
	return b.Backend.GetMulti(ctx, keys)
}

// TestFunc2GetMulti checks that GetMulti reads a first argument's results
// for several second arguments in one backend read, and sees what Get
// sees: nothing invalidated, nothing absent.
func TestFunc2GetMulti(t *testing.T) {
	b := &readCounting{Backend: newMemory(t, true)}
	reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRegion(t, region.Config{Backend: b, Registry: reg, Locker: lock.NewLocal()})
	ctx := context.Background()
	page, err := region.Cache2(r, func(_ context.Context, user string, n int) (string, error) {
		return fmt.Sprint(user, n), nil
	}, region.Named("page"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range 2 {
		if _, err := page.Call(ctx, "ada", n); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want []string) {
		t.Helper()
		before := b.reads.Load()
		values, found, err := page.GetMulti(ctx, "ada", 0, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n := b.reads.Load() - before; n != 1 {
			t.Errorf("%d backend reads, want 1", n)
		}
		got := make([]string, len(values))
		for i := range values {
			if found[i] {
				got[i] = values[i]
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("GetMulti: %q, want %q", got, want)
		}
	}
	check([]string{"ada0", "ada1", ""})
	if err := page.Invalidate(ctx, "ada", 0); err != nil {
		t.Fatal(err)
	}
	check([]string{"", "ada1", ""})
	if err := page.InvalidateAll(ctx); err != nil {
		t.Fatal(err)
	}
	check([]string{"", "", ""})
}
