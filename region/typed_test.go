package region_test

import (
	"context"
	"errors"
	"testing"

	"github.com/corralcache/corral/region"
)

type user struct {
	ID   int
	Name string
}

func TestTypedTypeMismatch(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize)})
			ctx := context.Background()
			users := region.NewTyped[user](r)
			if err := r.Set(ctx, "k", "a string"); err != nil {
				t.Fatal(err)
			}
			calls := 0
			createUser := func(context.Context) (user, error) { calls++; return user{ID: 1}, nil }

			if _, found, err := users.Get(ctx, "k"); found || !errors.Is(err, region.ErrTypeMismatch) {
				t.Errorf("Get = %v, %v; want ErrTypeMismatch", found, err)
			}
			if _, err := users.GetMulti(ctx, []string{"other", "k"}); !errors.Is(err, region.ErrTypeMismatch) {
				t.Errorf("GetMulti: %v; want ErrTypeMismatch", err)
			}
			if _, err := users.GetOrCreate(ctx, "k", createUser); !errors.Is(err, region.ErrTypeMismatch) {
				t.Errorf("GetOrCreate: %v; want ErrTypeMismatch", err)
			}
			if _, err := users.GetOrCreateMulti(ctx, []string{"k", "other"}, func(_ context.Context, keys []string) ([]user, error) {
				calls++
				return make([]user, len(keys)), nil
			}); !errors.Is(err, region.ErrTypeMismatch) {
				t.Errorf("GetOrCreateMulti: %v; want ErrTypeMismatch", err)
			}
			if calls != 0 {
				t.Errorf("a creator ran %d times on a key of another type", calls)
			}
			if v, found, err := region.Get[string](ctx, r, "k"); v != "a string" || !found || err != nil {
				t.Errorf("the other type's value: %q, %v, %v; want it untouched", v, found, err)
			}
			if d := r.Stats().DecodeErrors; d != 0 {
				t.Errorf("DecodeErrors = %d; a mismatch returned to the caller is not a decode error", d)
			}

			// The package-level functions keep treating it as a counted miss.
			if v, err := region.GetOrCreate(ctx, r, "k", createUser); err != nil || v.ID != 1 || calls != 1 {
				t.Errorf("GetOrCreate[user]: %v, %v after %d calls; want the creator's value", v, err, calls)
			}
			if d := r.Stats().DecodeErrors; d != 1 {
				t.Errorf("DecodeErrors = %d, want 1", d)
			}

			// Same type: a plain handle.
			if err := users.Set(ctx, "u", user{ID: 2, Name: "Ada"}); err != nil {
				t.Fatal(err)
			}
			if v, found, err := users.Get(ctx, "u"); !found || err != nil || v.Name != "Ada" {
				t.Errorf("Get(u) = %+v, %v, %v", v, found, err)
			}
			if got, err := users.GetMulti(ctx, []string{"u", "none"}); err != nil || len(got) != 1 || got["u"].ID != 2 {
				t.Errorf("GetMulti = %v, %v", got, err)
			}
			if err := users.Delete(ctx, "u"); err != nil {
				t.Fatal(err)
			}
			if _, found, err := users.Get(ctx, "u"); found || err != nil {
				t.Errorf("after Delete: %v, %v", found, err)
			}
		})
	}
}

func TestTypedNotFoundFitsEveryType(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, m.serialize), NegativeExpiration: 1 << 40})
			ctx := context.Background()
			if _, err := region.NewTyped[string](r).GetOrCreate(ctx, "k", func(context.Context) (string, error) {
				return "", region.ErrNotFound
			}); !errors.Is(err, region.ErrNotFound) {
				t.Fatal(err)
			}
			if _, err := region.NewTyped[user](r).GetOrCreate(ctx, "k", func(context.Context) (user, error) {
				return user{}, nil
			}); !errors.Is(err, region.ErrNotFound) || errors.Is(err, region.ErrTypeMismatch) {
				t.Fatalf("got %v, want the cached ErrNotFound", err)
			}
		})
	}
}

func TestTypedWithoutRegion(t *testing.T) {
	var users region.Typed[user]
	if _, _, err := users.Get(context.Background(), "k"); !errors.Is(err, region.ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
}
