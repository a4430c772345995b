package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/backend/backendtest"
	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/proxy"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/lock/locktest"
	"github.com/corralcache/corral/region"
)

func newMemory(t *testing.T, o memory.Options) *memory.Backend {
	t.Helper()
	b, err := memory.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// recorder is a Middleware that records the operations it runs.
type recorder struct {
	mu  sync.Mutex
	ops []string // "op key,key"
	n   atomic.Int64
}

func (r *recorder) middleware(ctx context.Context, c proxy.Call, next func(context.Context) error) error {
	r.n.Add(1)
	r.mu.Lock()
	r.ops = append(r.ops, string(c.Op)+" "+strings.Join(c.Keys, ","))
	r.mu.Unlock()
	return next(ctx)
}

func (r *recorder) saw(op proxy.Op) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.ops, func(s string) bool { return strings.HasPrefix(s, string(op)+" ") })
}

func wrap(t *testing.T, inner backend.Backend, mw proxy.Middleware) *proxy.Backend {
	t.Helper()
	p, err := proxy.New(inner, mw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConformance runs the backend suite on proxied memory backends, in
// both of their modes: the proxy forwards every interface the suite tests
// (the fenced value store, Conditional on serialized copies) unchanged.
func TestConformance(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		t.Run(fmt.Sprintf("Serialize=%t", serialize), func(t *testing.T) {
			rec := &recorder{}
			clk := fakeclock.New(time.Unix(1_700_000_000, 0))
			backendtest.RunWith(t, backendtest.RunOptions{Sleep: clk.Advance}, func(t *testing.T) backend.Backend {
				return wrap(t, newMemory(t, memory.Options{Clock: clk, Serialize: serialize}), rec.middleware)
			})
			if rec.n.Load() == 0 {
				t.Fatal("the suite ran no operation through the middleware")
			}
			if want := proxy.OpGetForUpdate; serialize && !rec.saw(want) {
				t.Errorf("no %s went through the middleware", want)
			}
			if want := proxy.OpLoadEntryForUpdate; !serialize && !rec.saw(want) {
				t.Errorf("no %s went through the middleware", want)
			}
		})
	}
}

func TestLockerConformance(t *testing.T) {
	var n atomic.Int64
	t.Cleanup(func() { // after the suite's parallel subtests
		if n.Load() == 0 {
			t.Error("the suite ran no operation through the middleware")
		}
	})
	locktest.Run(t, func(t *testing.T) lock.Locker {
		l, err := proxy.NewLocker(lock.NewLocal(), func(ctx context.Context, c proxy.Call, next func(context.Context) error) error {
			n.Add(1)
			return next(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// probes tell, by backend.As, which optional interfaces a backend has.
var probes = map[string]func(backend.Backend) bool{
	"ValueStore":            func(b backend.Backend) bool { _, ok := backend.As[backend.ValueStore](b); return ok },
	"ConditionalValueStore": func(b backend.Backend) bool { _, ok := backend.As[backend.ConditionalValueStore](b); return ok },
	"Conditional":           func(b backend.Backend) bool { _, ok := backend.As[backend.Conditional](b); return ok },
	"Grouper":               func(b backend.Backend) bool { _, ok := backend.As[backend.Grouper](b); return ok },
	"ConditionalGrouper":    func(b backend.Backend) bool { _, ok := backend.As[backend.ConditionalGrouper](b); return ok },
	"Leaser":                func(b backend.Backend) bool { _, ok := backend.As[backend.Leaser](b); return ok },
	"Invalidator":           func(b backend.Backend) bool { _, ok := backend.As[backend.Invalidator](b); return ok },
	"Shared":                func(b backend.Backend) bool { _, ok := backend.As[backend.Shared](b); return ok },
}

// TestAs checks that a proxy has exactly the optional interfaces of the
// backend it wraps, as backend.As reports them.
func TestAs(t *testing.T) {
	pass := func(ctx context.Context, _ proxy.Call, next func(context.Context) error) error { return next(ctx) }
	values := wrap(t, newMemory(t, memory.Options{}), pass)
	bytes := wrap(t, newMemory(t, memory.Options{Serialize: true}), pass)
	twice := wrap(t, values, pass)
	for _, tc := range []struct {
		name string
		b    backend.Backend
		want map[string]bool
	}{
		{"values", values, map[string]bool{"ValueStore": true, "ConditionalValueStore": true, "Conditional": true}},
		{"bytes", bytes, map[string]bool{"ValueStore": true, "ConditionalValueStore": true, "Conditional": true}},
		{"proxy of a proxy", twice, map[string]bool{"ValueStore": true, "ConditionalValueStore": true, "Conditional": true}},
	} {
		got := map[string]bool{}
		for name, has := range probes {
			if has(tc.b) {
				got[name] = true
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: As finds %v, want %v", tc.name, got, tc.want)
		}
		if err := backend.CheckWrapped(tc.b); err != nil {
			t.Errorf("%s: CheckWrapped: %v", tc.name, err)
		}
	}
	if bytes.KeepsValues() || !values.KeepsValues() {
		t.Errorf("KeepsValues: bytes %t, values %t; want the wrapped backends' false, true", bytes.KeepsValues(), values.KeepsValues())
	}
	// A method of an interface the wrapped backend lacks says so.
	if _, _, err := values.Lease(t.Context(), []backend.LeaseKey{{Key: "k"}}, backend.LeaseOptions{}); !errors.Is(err, proxy.ErrUnsupported) {
		t.Errorf("Lease on a proxied memory backend: %v, want ErrUnsupported", err)
	}
}

func TestNewInvalid(t *testing.T) {
	pass := func(ctx context.Context, _ proxy.Call, next func(context.Context) error) error { return next(ctx) }
	var nilStore *memory.Backend
	for name, call := range map[string]func() error{
		"nil backend":        func() error { _, err := proxy.New(nil, pass); return err },
		"typed nil backend":  func() error { _, err := proxy.New(nilStore, pass); return err },
		"nil middleware":     func() error { _, err := proxy.New(newMemory(t, memory.Options{}), nil); return err },
		"nil locker":         func() error { _, err := proxy.NewLocker(nil, pass); return err },
		"nil locker middle.": func() error { _, err := proxy.NewLocker(lock.NewLocal(), nil); return err },
	} {
		if err := call(); !errors.Is(err, proxy.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}

// TestMiddlewareMistakes checks that a middleware that skips the operation
// without an error, or panics, fails the operation instead of inventing a
// result or crashing the caller.
func TestMiddlewareMistakes(t *testing.T) {
	ctx := t.Context()
	inner := newMemory(t, memory.Options{Serialize: true})
	if err := inner.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	skip := wrap(t, inner, func(context.Context, proxy.Call, func(context.Context) error) error { return nil })
	if v, err := skip.Get(ctx, "k"); !errors.Is(err, proxy.ErrNotRun) {
		t.Errorf("Get under a middleware that skips: %q, %v; want ErrNotRun", v, err)
	}
	panics := wrap(t, inner, func(context.Context, proxy.Call, func(context.Context) error) error { panic("boom") })
	if _, err := panics.Get(ctx, "k"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Get under a middleware that panics: %v; want an error naming the panic", err)
	}
	if _, ok := panics.LoadEntry("ns", "k"); ok {
		t.Error("LoadEntry under a middleware that panics found an entry")
	}
}

// TestMiddlewareSeesOperations checks the Call of each byte operation.
func TestMiddlewareSeesOperations(t *testing.T) {
	ctx := t.Context()
	rec := &recorder{}
	p := wrap(t, newMemory(t, memory.Options{Serialize: true}), rec.middleware)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.Set(ctx, "a", []byte("1"), 0))
	must(p.SetMulti(ctx, []backend.Item{{Key: "b", Value: []byte("2")}, {Key: "c", Value: []byte("3")}}))
	if v, err := p.Get(ctx, "a"); err != nil || string(v) != "1" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if vs, err := p.GetMulti(ctx, []string{"b", "c"}); err != nil || len(vs) != 2 || string(vs[1]) != "3" {
		t.Fatalf("GetMulti = %q, %v", vs, err)
	}
	_, vers, err := p.GetForUpdate(ctx, []string{"a"}, time.Second)
	must(err)
	stored, err := p.SetIf(ctx, []backend.Item{{Key: "a", Value: []byte("4")}}, vers)
	must(err)
	if !stored[0] {
		t.Fatal("SetIf did not store under its own lease")
	}
	must(p.Delete(ctx, "a"))
	must(p.DeleteMulti(ctx, []string{"b", "c"}))
	want := []string{"set a", "set_multi b,c", "get a", "get_multi b,c", "get_for_update a", "set_if a", "delete a", "delete_multi b,c"}
	if !slices.Equal(rec.ops, want) {
		t.Errorf("the middleware saw\n%q\nwant\n%q", rec.ops, want)
	}
}

// TestRegionThroughProxy runs a region on proxied memory backends: on the
// one that keeps values it still takes leases on the fenced value store
// (the interface survives the proxy); on both, a fault the middleware
// injects into reads falls through to the creator, and a write and a
// delete stand.
func TestRegionThroughProxy(t *testing.T) {
	for _, serialize := range []bool{false, true} {
		t.Run(fmt.Sprintf("Serialize=%t", serialize), func(t *testing.T) {
			ctx := t.Context()
			rec := &recorder{}
			var failReads atomic.Bool
			mw := func(ctx context.Context, c proxy.Call, next func(context.Context) error) error {
				if failReads.Load() && (c.Op == proxy.OpGet || c.Op == proxy.OpGetMulti || c.Op == proxy.OpLoadEntry) {
					return errors.New("injected fault")
				}
				return rec.middleware(ctx, c, next)
			}
			p := wrap(t, newMemory(t, memory.Options{Serialize: serialize}), mw)
			r, err := region.New("proxied", region.Config{Backend: p, Expiration: time.Minute, BreakerThreshold: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			calls := 0
			create := func(context.Context) (string, error) { calls++; return fmt.Sprint("v", calls), nil }
			get := func() string {
				t.Helper()
				v, err := region.GetOrCreate(ctx, r, "k", create)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			if v := get(); v != "v1" {
				t.Fatalf("first GetOrCreate = %q", v)
			}
			leaseOp := proxy.OpGetForUpdate
			if !serialize {
				leaseOp = proxy.OpLoadEntryForUpdate
			}
			if !rec.saw(leaseOp) {
				t.Errorf("the creation took no lease through the proxy (%s); saw %q", leaseOp, rec.ops)
			}
			if v := get(); v != "v1" {
				t.Fatalf("second GetOrCreate = %q, want the cached v1", v)
			}
			failReads.Store(true)
			if v := get(); v == "" {
				t.Fatal("GetOrCreate under failing reads returned nothing")
			}
			failReads.Store(false)
			if err := r.Set(ctx, "k", "written"); err != nil {
				t.Fatal(err)
			}
			if v := get(); v != "written" {
				t.Fatalf("GetOrCreate after Set = %q, want written", v)
			}
			if err := r.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if v := get(); v == "written" {
				t.Fatal("GetOrCreate after Delete returned the deleted value")
			}
		})
	}
}

// hiding wraps a backend by embedding it as a backend.Backend: it has the
// byte methods only, and hides every optional interface of the wrapped one.
type hiding struct {
	backend.Backend
}

func (h hiding) Unwrap() backend.Backend { return h.Backend }

// TestRegionRefusesHidingWrapper checks that New refuses a wrapper that
// hides an interface of the backend it wraps, naming it, instead of running
// without it.
func TestRegionRefusesHidingWrapper(t *testing.T) {
	_, err := region.New("hidden", region.Config{Backend: hiding{newMemory(t, memory.Options{})}})
	if !errors.Is(err, region.ErrInvalidConfig) || !errors.Is(err, backend.ErrHiddenInterface) {
		t.Fatalf("New on a hiding wrapper: %v; want ErrInvalidConfig and ErrHiddenInterface", err)
	}
	if !strings.Contains(err.Error(), "backend.ValueStore") {
		t.Errorf("the error does not name the hidden interface: %v", err)
	}
	// The same wrapper around a proxy hides it as well.
	pass := func(ctx context.Context, _ proxy.Call, next func(context.Context) error) error { return next(ctx) }
	if err := backend.CheckWrapped(hiding{wrap(t, newMemory(t, memory.Options{}), pass)}); !errors.Is(err, backend.ErrHiddenInterface) {
		t.Errorf("CheckWrapped(hiding{proxy}) = %v, want ErrHiddenInterface", err)
	}
	if err := backend.CheckWrapped(hiding{nil}); !errors.Is(err, backend.ErrHiddenInterface) {
		t.Errorf("CheckWrapped of a wrapper of nil = %v, want ErrHiddenInterface", err)
	}
}

// TestLockerProxyKeepsLocal checks that a proxied in-process lock is still
// known for one.
func TestLockerProxyKeepsLocal(t *testing.T) {
	local := lock.NewLocal()
	pass := func(ctx context.Context, _ proxy.Call, next func(context.Context) error) error { return next(ctx) }
	l, err := proxy.NewLocker(local, pass)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := lock.LocalOf(l); !ok || got != local {
		t.Fatalf("LocalOf(proxy of a Local) = %p, %t; want %p, true", got, ok, local)
	}
	if _, ok := lock.LocalOf(struct{ lock.Locker }{local}); ok {
		t.Fatal("LocalOf found a Local in a wrapper that does not unwrap")
	}
	// A middleware that fails an obtained lock gives it back.
	failing, err := proxy.NewLocker(local, func(ctx context.Context, c proxy.Call, next func(context.Context) error) error {
		if err := next(ctx); err != nil {
			return err
		}
		return errors.New("refused after the fact")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failing.TryObtain(t.Context(), "k", time.Minute); err == nil {
		t.Fatal("TryObtain under a failing middleware succeeded")
	}
	lk, err := local.TryObtain(t.Context(), "k", time.Minute)
	if err != nil {
		t.Fatalf("the lock the middleware refused is still held: %v", err)
	}
	_ = lk.Release(t.Context())
}
