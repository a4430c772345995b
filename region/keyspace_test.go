package region_test

import (
	"context"
	"testing"

	"github.com/corralcache/corral/region"
)

// Region "users" key "v2:1" and region "users:v2" key "1" were one backend
// key under the old "name:" + key layout.
func TestNamespacesDoNotOverlap(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			b := newMemory(t, m.serialize)
			ctx := context.Background()
			users, err := region.New("users", region.Config{Backend: b, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer users.Close()
			usersV2, err := region.New("users:v2", region.Config{Backend: b, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer usersV2.Close()
			if err := users.Set(ctx, "v2:1", "from users"); err != nil {
				t.Fatal(err)
			}
			if err := usersV2.Set(ctx, "1", "from users:v2"); err != nil {
				t.Fatal(err)
			}
			if v, found, _ := region.Get[string](ctx, users, "v2:1"); !found || v != "from users" {
				t.Fatalf("users v2:1 = %q, %v; want its own value", v, found)
			}
			if v, found, _ := region.Get[string](ctx, usersV2, "1"); !found || v != "from users:v2" {
				t.Fatalf("users:v2 1 = %q, %v; want its own value", v, found)
			}
		})
	}
}

// A caller's keys cannot reach the region's invalidation marks: deleting or
// overwriting the keys the marks used to live under (a NUL byte and a name)
// leaves a completed invalidation in force for a process that starts later.
func TestInvalidationMarksOutOfUsersReach(t *testing.T) {
	b := newMemory(t, true)
	ctx := context.Background()
	a := newRegion(t, region.Config{Backend: b})
	if err := a.Set(ctx, "k", "before"); err != nil {
		t.Fatal(err)
	}
	if err := a.Invalidate(ctx, region.Hard); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"\x00invalidated:hard", "\x00invalidated:soft", "}:g:hard", "k}:g:hard"} {
		if err := a.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := a.Set(ctx, key, "junk"); err != nil {
			t.Fatal(err)
		}
	}
	later := newRegion(t, region.Config{Backend: b})
	if v, found, _ := region.Get[string](ctx, later, "k"); found {
		t.Fatalf("a process started after the invalidation reads %q: user keys reached the mark", v)
	}
}

// The layout changed: entries written under the old one are not found, and
// the key is created afresh (a cold cache, not a wrong value).
func TestOlderLayoutIsNotFound(t *testing.T) {
	b := newMemory(t, true)
	ctx := context.Background()
	r := newRegion(t, region.Config{Backend: b})
	if err := r.Set(ctx, "k", "old layout"); err != nil {
		t.Fatal(err)
	}
	envelope, err := b.Get(ctx, r.BackendKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "test:k", envelope, 0); err != nil { // the old layout: name, colon, key
		t.Fatal(err)
	}
	v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) { return "created", nil })
	if err != nil || v != "created" {
		t.Fatalf("got %q, %v; want the creator's value", v, err)
	}
}

func TestBackendAndLockKeys(t *testing.T) {
	r := newRegion(t, region.Config{})
	if got, want := r.BackendKey("door:lock"), "c1:{4:test:door:lock}:v"; got != want {
		t.Errorf("BackendKey = %q, want %q", got, want)
	}
	if got, want := r.LockKey("door"), "c1:{4:test:door}:l"; got != want {
		t.Errorf("LockKey = %q, want %q", got, want)
	}
}

type account struct{ Name string }
type order struct {
	Name  string
	Total int
}

// Two regions with one name on one backend (two processes, say) whose
// callers store different types: a value written as one type is never
// decoded into the other; it is a counted decode error, and a miss.
func TestValueOfAnotherTypeIsNotDecodedIntoThisOne(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			a, b := twoProcesses(t, m.serialize, region.Config{})
			ctx := context.Background()
			if err := a.Set(ctx, "42", account{Name: "alice"}); err != nil {
				t.Fatal(err)
			}
			got, err := region.GetOrCreate(ctx, b, "42", func(context.Context) (order, error) {
				return order{Name: "created", Total: 7}, nil
			})
			if err != nil || got.Name != "created" {
				t.Fatalf("got %+v, %v; want the creator's order, not alice's account decoded as an order", got, err)
			}
			if s := b.Stats(); s.DecodeErrors != 1 {
				t.Fatalf("decode errors = %d, want 1", s.DecodeErrors)
			}
		})
	}
}
