package region_test

import (
	"context"
	"errors"
	"testing"

	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
)

// TestAddReplace: Add stores only where the key holds no value (nothing,
// or an entry an invalidation retired), Replace only where it holds one; on
// a store that keeps values and on one that keeps bytes.
func TestAddReplace(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		t.Run(map[bool]string{false: "values", true: "bytes"}[serialize], func(t *testing.T) {
			r := newRegion(t, region.Config{Backend: newMemory(t, serialize), Locker: lock.NewLocal()})
			ctx := t.Context()
			users := region.NewTyped[string](r)
			expect := func(what string, got bool, err error, want bool) {
				t.Helper()
				if err != nil || got != want {
					t.Fatalf("%s = %t, %v; want %t", what, got, err, want)
				}
			}
			value := func(want string) {
				t.Helper()
				v, found, err := users.Get(ctx, "k")
				if err != nil || found != (want != "") || v != want {
					t.Fatalf("Get = %q, %t, %v; want %q", v, found, err, want)
				}
			}
			ok, err := users.Replace(ctx, "k", "r1")
			expect("Replace of a missing key", ok, err, false)
			value("")
			ok, err = users.Add(ctx, "k", "a1")
			expect("Add of a missing key", ok, err, true)
			value("a1")
			ok, err = users.Add(ctx, "k", "a2")
			expect("Add of a present key", ok, err, false)
			value("a1")
			ok, err = users.Replace(ctx, "k", "r2")
			expect("Replace of a present key", ok, err, true)
			value("r2")
			if err := r.Invalidate(ctx, region.Hard); err != nil {
				t.Fatal(err)
			}
			ok, err = r.Replace(ctx, "k", "r3")
			expect("Replace of a retired key", ok, err, false)
			ok, err = r.Add(ctx, "k", "a3")
			expect("Add of a retired key", ok, err, true)
			value("a3")
			if err := r.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			ok, err = r.Add(ctx, "k", "a4")
			expect("Add after Delete", ok, err, true)
			value("a4")
		})
	}
}

// TestAddReplaceRacingCreation: a creation holds the key's lease; Add waits
// for it and finds its value (not added), Replace waits and replaces it;
// the creation's caller gets what it created.
func TestAddReplaceRacingCreation(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		for _, replace := range []bool{false, true} {
			name := map[bool]string{false: "values", true: "bytes"}[serialize] + map[bool]string{false: "/add", true: "/replace"}[replace]
			t.Run(name, func(t *testing.T) {
				r := newRegion(t, region.Config{Backend: newMemory(t, serialize), Locker: lock.NewLocal()})
				ctx := t.Context()
				inCreator, release := make(chan struct{}), make(chan struct{})
				created := make(chan string, 1)
				go func() {
					v, err := region.GetOrCreate(ctx, r, "k", func(context.Context) (string, error) {
						close(inCreator)
						<-release
						return "created", nil
					})
					if err != nil {
						t.Error(err)
					}
					created <- v
				}()
				<-inCreator
				type result struct {
					ok  bool
					err error
				}
				put := make(chan result, 1)
				go func() {
					var res result
					if replace {
						res.ok, res.err = r.Replace(ctx, "k", "put")
					} else {
						res.ok, res.err = r.Add(ctx, "k", "put")
					}
					put <- res
				}()
				waitFor(t, "the write to wait for the creation's lease", func() bool { return r.Stats().LockWaits > 0 })
				close(release)
				if v := <-created; v != "created" {
					t.Fatalf("the creation's caller got %q", v)
				}
				res := <-put
				if res.err != nil || res.ok != replace {
					t.Fatalf("write = %t, %v; want %t", res.ok, res.err, replace)
				}
				want := map[bool]string{false: "created", true: "put"}[replace]
				if v, found, err := region.Get[string](ctx, r, "k"); err != nil || !found || v != want {
					t.Fatalf("Get = %q, %t, %v; want %q", v, found, err, want)
				}
			})
		}
	}
}

// TestAddOvertaken: Add reads the key missing under its lease, then, before
// it stores, another process's Set of the key completes. Add must not
// store over it: its store is refused, it judges again, finds the value,
// and reports not added.
func TestAddOvertaken(t *testing.T) {
	ctx := t.Context()
	gb := &leaseGate{Backend: newMemory(t, true), entered: make(chan struct{}, 1), reached: make(chan struct{}, 1),
		read: make(chan struct{}), answer: make(chan struct{})}
	cfg := region.Config{Backend: gb, Locker: lock.NewLocal()}
	a, b := newRegion(t, cfg), newRegion(t, cfg)
	gb.key = a.BackendKey("k")
	added := make(chan error, 1)
	go func() {
		ok, err := a.Add(ctx, "k", "added")
		if err == nil && ok {
			err = errors.New("Add stored over a Set that completed before its store")
		}
		added <- err
	}()
	<-gb.entered
	close(gb.read)
	<-gb.reached // Add read "missing" under its lease
	if err := b.Set(ctx, "k", "set"); err != nil {
		t.Fatal(err)
	}
	close(gb.answer)
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	if v, found, err := region.Get[string](ctx, a, "k"); err != nil || !found || v != "set" {
		t.Fatalf("Get = %q, %t, %v; want the Set's value", v, found, err)
	}
}
