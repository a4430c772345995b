package region_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/region"
)

// groupedCall is one SetMultiGrouped or SetIfGrouped call seen by
// groupedBackend.
type groupedCall struct {
	keys    []string
	group   string
	members []string
	ttl     time.Duration
}

// groupedBackend is a byte backend that stores values and records their keys
// in one call, like redisstore.Store: SetMultiGrouped (and, for creations,
// SetIfGrouped) writes the values to the memory backend and the records to
// reg.
type groupedBackend struct {
	*memory.Backend
	reg  *countingRegistry
	fail error

	mu    sync.Mutex
	calls []groupedCall
}

// note records a grouped call.
func (b *groupedBackend) note(items []backend.Item, group string, members []string, ttl time.Duration) {
	c := groupedCall{group: group, members: members, ttl: ttl}
	for _, it := range items {
		c.keys = append(c.keys, it.Key)
	}
	b.mu.Lock()
	b.calls = append(b.calls, c)
	b.mu.Unlock()
}

func (b *groupedBackend) SetMultiGrouped(ctx context.Context, items []backend.Item, group string, members []string, ttl time.Duration) error {
	b.note(items, group, members, ttl)
	if b.fail != nil {
		return b.fail
	}
	if err := b.SetMulti(ctx, items); err != nil {
		return err
	}
	fn, _ := b.reg.fnOf(group)
	for _, m := range members {
		if err := b.reg.Memory.Record(ctx, fn, m, ttl); err != nil {
			return err
		}
	}
	return nil
}

func (b *groupedBackend) SetIfGrouped(ctx context.Context, items []backend.Item, versions []backend.Version, group string, members []string, ttl time.Duration) ([]bool, error) {
	b.note(items, group, members, ttl)
	if b.fail != nil {
		return make([]bool, len(items)), b.fail
	}
	stored, err := b.SetIf(ctx, items, versions)
	if err != nil {
		return stored, err
	}
	fn, _ := b.reg.fnOf(group)
	for _, m := range members {
		if err := b.reg.Memory.Record(ctx, fn, m, ttl); err != nil {
			return stored, err
		}
	}
	return stored, nil
}

func (b *groupedBackend) Calls() []groupedCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// countingRegistry is an in-process registry that counts Record calls and,
// when grouped, names its groups like redisreg.Registry.
type countingRegistry struct {
	*keyreg.Memory
	mu      sync.Mutex
	records int
}

func (r *countingRegistry) Record(ctx context.Context, fn, key string, ttl time.Duration) error {
	r.mu.Lock()
	r.records++
	r.mu.Unlock()
	return r.Memory.Record(ctx, fn, key, ttl)
}

func (r *countingRegistry) Records() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records
}

func (r *countingRegistry) fnOf(group string) (string, bool) {
	if len(group) < 4 || group[:4] != "grp:" {
		return "", false
	}
	return group[4:], true
}

// groupedRegistry adds the Group method the region looks for.
type groupedRegistry struct{ *countingRegistry }

func (groupedRegistry) Group(fn string) string { return "grp:" + fn }

func newCountingRegistry(t *testing.T) *countingRegistry {
	t.Helper()
	m, err := keyreg.NewMemory(keyreg.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &countingRegistry{Memory: m}
}

func TestStoreRecordsInOneCall(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		grouped     bool // registry has Group
		wantGrouped int  // SetMultiGrouped calls after Call(42), Call(43), Set(44)
		wantRecords int  // Registry.Record calls
	}{
		{"Grouped", true, 3, 0},
		{"RegistryWithoutGroup", false, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creg := newCountingRegistry(t)
			var reg keyreg.Registry = creg
			if tc.grouped {
				reg = groupedRegistry{creg}
			}
			b := &groupedBackend{Backend: newMemory(t, true), reg: creg}
			r := newRegion(t, region.Config{Backend: b, Registry: reg, Expiration: time.Minute, Grace: time.Minute})
			u := newUsers()
			email, err := region.Cache1(r, u.GetEmail, region.Named("users.email"))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []int{42, 43} {
				if _, err := email.Call(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := email.Set(ctx, 44, "c@x"); err != nil {
				t.Fatal(err)
			}
			calls := b.Calls()
			if len(calls) != tc.wantGrouped || creg.Records() != tc.wantRecords {
				t.Fatalf("SetMultiGrouped calls %d, Record calls %d; want %d and %d",
					len(calls), creg.Records(), tc.wantGrouped, tc.wantRecords)
			}
			for _, c := range calls {
				if c.group != "grp:4:test:users.email" || len(c.members) != 1 || len(c.keys) != 1 ||
					c.keys[0] != r.BackendKey(c.members[0]) || c.ttl != 2*time.Minute {
					t.Errorf("SetMultiGrouped call %+v: want group grp:4:test:users.email, one member whose full key is the item, ttl 2m", c)
				}
			}
			keys, err := email.Keys(ctx)
			if err != nil || len(keys) != 3 {
				t.Fatalf("Keys = %q, %v; want 3 keys recorded", keys, err)
			}
			// Invalidation by function finds every key, however recorded.
			if err := email.InvalidateAll(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := email.Call(ctx, 42); err != nil {
				t.Fatal(err)
			}
			if u.Calls(42) != 2 {
				t.Fatalf("GetEmail(42) ran %d times, want 2 (after InvalidateAll)", u.Calls(42))
			}
		})
	}
}

func TestStoreGroupedFailure(t *testing.T) {
	ctx := context.Background()
	creg := newCountingRegistry(t)
	b := &groupedBackend{Backend: newMemory(t, true), reg: creg, fail: errDown}
	r := newRegion(t, region.Config{Backend: b, Registry: groupedRegistry{creg}})
	u := newUsers()
	email, err := region.Cache1(r, u.GetEmail, region.Named("users.email"))
	if err != nil {
		t.Fatal(err)
	}
	// The created value reaches the caller although it could not be stored.
	if got, err := email.Call(ctx, 42); err != nil || got != "a@x" {
		t.Fatalf("Call(42) = %q, %v; want a@x", got, err)
	}
	if st := r.Stats(); st.BackendErrors != 1 {
		t.Fatalf("BackendErrors = %d, want 1", st.BackendErrors)
	}
	if _, found, _ := email.Get(ctx, 42); found {
		t.Fatal("a value whose grouped write failed was found")
	}
	// Set reports the failure to its caller.
	if err := email.Set(ctx, 43, "x"); !errors.Is(err, region.ErrBackend) || !errors.Is(err, errDown) {
		t.Fatalf("Set = %v, want ErrBackend wrapping the backend's error", err)
	}
}
