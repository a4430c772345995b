package region_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/region"
)

// loadProfile is a top-level function: its default name is unique.
func loadProfile(_ context.Context, id int) (string, error) {
	return fmt.Sprintf("profile %d", id), nil
}

func TestCachedFunctionDefaultName(t *testing.T) {
	r := newRegion(t, region.Config{})
	f, err := region.Cache1(r, loadProfile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "github.com/corralcache/corral/region_test.loadProfile"; f.Name() != want {
		t.Fatalf("default name %q, want %q", f.Name(), want)
	}
}

// tenantStore is a per-tenant data source: its method values, one per
// tenant, used to share the default name "(*tenantStore).Load-fm".
type tenantStore struct{ tenant string }

func (s *tenantStore) Load(_ context.Context, id int) (string, error) {
	return fmt.Sprintf("%s's record %d", s.tenant, id), nil
}

func genericLoad[T any](context.Context, int) (T, error) {
	var zero T
	return zero, nil
}

func TestCachedFunctionWithoutUniqueDefaultNameIsRefused(t *testing.T) {
	r := newRegion(t, region.Config{})
	acme, globex := &tenantStore{"acme"}, &tenantStore{"globex"}
	secret := "captured"
	for name, cache := range map[string]func() error{
		"method value": func() error { _, err := region.Cache1(r, acme.Load); return err },
		"generic int":  func() error { _, err := region.Cache1(r, genericLoad[int]); return err },
		"closure": func() error {
			_, err := region.Cache1(r, func(context.Context, int) (string, error) { return secret, nil })
			return err
		},
	} {
		err := cache()
		if !errors.Is(err, region.ErrInvalidConfig) || !errors.Is(err, keyreg.ErrNoStableName) {
			t.Errorf("%s: Cache1 error %v, want ErrInvalidConfig and keyreg.ErrNoStableName", name, err)
		}
	}

	// Named, the two tenants' functions are two identities: neither is
	// served the other's results.
	ctx := context.Background()
	fa, err := region.Cache1(r, acme.Load, region.Named("acme.Load"))
	if err != nil {
		t.Fatal(err)
	}
	fg, err := region.Cache1(r, globex.Load, region.Named("globex.Load"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := fa.Call(ctx, 1); err != nil || v != "acme's record 1" {
		t.Fatalf("acme: %q, %v", v, err)
	}
	if v, err := fg.Call(ctx, 1); err != nil || v != "globex's record 1" {
		t.Fatalf("globex was served %q, %v", v, err)
	}
}

func TestCachedFunctionNameInUseIsRefused(t *testing.T) {
	r := newRegion(t, region.Config{})
	count := func(context.Context, int) (int, error) { return 1, nil }
	email := func(context.Context, int) (string, error) { return "a@x", nil }
	if _, err := region.Cache1(r, email, region.Named("load")); err != nil {
		t.Fatal(err)
	}
	_, err := region.Cache1(r, count, region.Named("load"))
	if !errors.Is(err, region.ErrNameInUse) || !errors.Is(err, region.ErrInvalidConfig) {
		t.Fatalf("second cached function named load: %v, want ErrNameInUse", err)
	}
	// Another region may use the name: identities are per region.
	other, err := region.New("other", region.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := region.Cache1(other, count, region.Named("load")); err != nil {
		t.Fatalf("the name in another region: %v", err)
	}
}

// Two regions share one registry and give a cached function the same name:
// each region's InvalidateAll reaches its own values only, and nothing the
// other does takes its records away.
func TestRegionsSharingARegistryKeepTheirRecords(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b := newMemory(t, m.serialize)
			ctx := context.Background()
			var calls [2]int
			var regions [2]*region.Region
			var funcs [2]*region.Func1[int, string]
			for i, name := range []string{"a", "b"} {
				r, err := region.New(name, region.Config{Backend: b, Registry: reg, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = r.Close() })
				regions[i] = r
				funcs[i], err = region.Cache1(r, func(_ context.Context, id int) (string, error) {
					calls[i]++
					return fmt.Sprintf("%s%d/%d", name, id, calls[i]), nil
				}, region.Named("load"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := funcs[i].Call(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
			if err := funcs[0].InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			if _, recorded, _ := funcs[1].Key(ctx, 1); !recorded {
				t.Fatal("a's InvalidateAll dropped b's record")
			}
			if v, _ := funcs[1].Call(ctx, 1); v != "b1/1" {
				t.Fatalf("b after a's InvalidateAll: %q, want its cached b1/1", v)
			}
			if err := funcs[1].InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			if v, _ := funcs[1].Call(ctx, 1); v != "b1/2" {
				t.Fatalf("b after its own InvalidateAll: %q, want a new value b1/2", v)
			}
		})
	}
}
