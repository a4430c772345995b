package null_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/null"
)

func TestBackendStoresNothing(t *testing.T) {
	tests := []struct {
		name string
		b    *null.Backend
	}{
		{"New", null.New()},
		{"ZeroValue", &null.Backend{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			b := tc.b
			if err := b.Set(ctx, "k", []byte("v"), 0); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if err := b.SetMulti(ctx, []backend.Item{{Key: "a", Value: []byte("A")}}); err != nil {
				t.Fatalf("SetMulti: %v", err)
			}
			for _, k := range []string{"k", "a", "never-set"} {
				v, err := b.Get(ctx, k)
				if !errors.Is(err, backend.ErrNotFound) || v != nil {
					t.Errorf("Get(%q) = %q, %v; want nil, backend.ErrNotFound", k, v, err)
				}
			}
			vs, err := b.GetMulti(ctx, []string{"k", "a", "k"})
			if err != nil {
				t.Fatalf("GetMulti: %v", err)
			}
			if len(vs) != 3 {
				t.Fatalf("GetMulti returned %d values, want 3", len(vs))
			}
			for i, v := range vs {
				if v != nil {
					t.Errorf("GetMulti value %d = %q, want nil", i, v)
				}
			}
			if err := b.Delete(ctx, "k"); err != nil {
				t.Errorf("Delete: %v", err)
			}
			if err := b.DeleteMulti(ctx, []string{"k", "a"}); err != nil {
				t.Errorf("DeleteMulti: %v", err)
			}
		})
	}
}

func TestConditionalStoresNothing(t *testing.T) {
	ctx := t.Context()
	b := &null.Backend{}
	values, versions, err := b.GetForUpdate(ctx, []string{"k", "a"}, time.Minute)
	if err != nil || len(values) != 2 || len(versions) != 2 {
		t.Fatalf("GetForUpdate = %q, %v, %v; want two values and versions", values, versions, err)
	}
	for i := range values {
		if values[i] != nil || versions[i] == 0 {
			t.Errorf("GetForUpdate key %d = %q, version %d; want nil and a version that is not zero", i, values[i], versions[i])
		}
	}
	stored, err := b.SetIf(ctx, []backend.Item{{Key: "k", Value: []byte("v")}, {Key: "a"}}, versions)
	if err != nil || len(stored) != 2 || stored[0] || stored[1] {
		t.Fatalf("SetIf = %v, %v; want nothing stored, no error", stored, err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get after SetIf = %v, want backend.ErrNotFound", err)
	}
	if _, _, err := b.GetForUpdate(ctx, []string{"k"}, 0); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Errorf("GetForUpdate with a zero placeholder TTL = %v, want backend.ErrInvalidArgument", err)
	}
	if _, err := b.SetIf(ctx, []backend.Item{{Key: "k"}}, nil); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Errorf("SetIf without versions = %v, want backend.ErrInvalidArgument", err)
	}
}

func TestGetMultiEmpty(t *testing.T) {
	vs, err := null.New().GetMulti(t.Context(), nil)
	if err != nil || len(vs) != 0 {
		t.Fatalf("GetMulti(nil) = %q, %v; want no values, no error", vs, err)
	}
}

func Example() {
	ctx := context.Background()
	var b backend.Backend = null.New()
	_ = b.Set(ctx, "greeting", []byte("hello"), 0)
	_, err := b.Get(ctx, "greeting")
	fmt.Println(errors.Is(err, backend.ErrNotFound))
	// Output: true
}
