package region_test

import (
	"context"
	"errors"
	"github.com/corralcache/corral/backend"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/internal/fakeclock"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

func TestConfigRefusedBeforeFirstUse(t *testing.T) {
	// The README's pattern, with the constructor's error ignored.
	store, _ := redisstore.New(nil, redisstore.Options{})
	for _, tt := range []struct {
		name string
		cfg  region.Config
		want string
	}{
		{"LockTTL of a nanosecond", region.Config{LockTTL: time.Nanosecond}, "LockTTL"},
		{"LockWait of a nanosecond", region.Config{LockWait: time.Nanosecond}, "LockWait"},
		{"nil *redisstore.Store", region.Config{Backend: store}, "Backend"},
		{"nil *memory.Backend", region.Config{Backend: (*memory.Backend)(nil)}, "Backend"},
		{"nil *lock.Local", region.Config{Locker: (*lock.Local)(nil)}, "Locker"},
		{"nil *keyreg.Memory", region.Config{Registry: (*keyreg.Memory)(nil)}, "Registry"},
		{"nil *serializer.MsgPack", region.Config{Serializer: (*serializer.MsgPack)(nil)}, "Serializer"},
		{"nil *fakeclock.Clock", region.Config{Clock: (*fakeclock.Clock)(nil)}, "Clock"},
		{"Logger without handler", region.Config{Logger: &slog.Logger{}}, "Logger"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := region.New("r", tt.cfg)
			if err == nil {
				r.Close()
				t.Fatal("New accepted the configuration")
			}
			if !errors.Is(err, region.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want ErrInvalidConfig naming %s", err, tt.want)
			}
		})
	}
	// The smallest durations allowed work.
	r := newRegion(t, region.Config{LockTTL: region.MinLockTTL, LockWait: region.MinLockWait})
	if v, err := region.GetOrCreate(context.Background(), r, "k", func(context.Context) (int, error) { return 1, nil }); err != nil || v != 1 {
		t.Fatalf("GetOrCreate with the minimum durations: %v, %v", v, err)
	}
}

func TestNilContextIsAnError(t *testing.T) {
	r := newRegion(t, region.Config{})
	f, err := region.Cache1(r, loadProfile)
	if err != nil {
		t.Fatal(err)
	}
	var nilCtx context.Context
	create := func(context.Context) (int, error) { return 1, nil }
	for name, call := range map[string]func() error{
		"Get":              func() error { _, _, err := region.Get[int](nilCtx, r, "k"); return err },
		"GetMulti":         func() error { _, err := region.GetMulti[int](nilCtx, r, []string{"k"}); return err },
		"GetOrCreate":      func() error { _, err := region.GetOrCreate(nilCtx, r, "k", create); return err },
		"GetOrCreateMulti": func() error { _, err := region.GetOrCreateMulti[int](nilCtx, r, []string{"k"}, nil); return err },
		"Set":              func() error { return r.Set(nilCtx, "k", 1) },
		"SetMulti":         func() error { return r.SetMulti(nilCtx, map[string]any{"k": 1}) },
		"Delete":           func() error { return r.Delete(nilCtx, "k") },
		"Invalidate":       func() error { return r.Invalidate(nilCtx, region.Hard) },
		"Func1.Call":       func() error { _, err := f.Call(nilCtx, 1); return err },
		"Func1.Get":        func() error { _, _, err := f.Get(nilCtx, 1); return err },
		"Func1.Set":        func() error { return f.Set(nilCtx, 1, "v") },
		"Func1.Refresh":    func() error { _, err := f.Refresh(nilCtx, 1); return err },
		"Func1.Invalidate": func() error { return f.Invalidate(nilCtx, 1) },
		"Func1.Key":        func() error { _, _, err := f.Key(nilCtx, 1); return err },
		"InvalidateAll":    func() error { return f.InvalidateAll(nilCtx) },
		"Keys":             func() error { _, err := f.Keys(nilCtx); return err },
	} {
		if err := call(); !errors.Is(err, region.ErrNilContext) {
			t.Errorf("%s(nil ctx) = %v, want ErrNilContext", name, err)
		}
	}
}

// panickySerializer panics while encoding.
type panickySerializer struct{ serializer.Serializer }

func (panickySerializer) Marshal(any) ([]byte, error) { panic("marshal exploded") }

// panickyHandler is a slog handler that panics on every record.
type panickyHandler struct{ slog.Handler }

func (panickyHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (panickyHandler) Handle(context.Context, slog.Record) error { panic("logger exploded") }

// panickyLocker panics when asked for a lock.
type panickyLocker struct{ lock.Locker }

func (panickyLocker) TryObtain(context.Context, string, time.Duration) (lock.Lock, error) {
	panic("locker exploded")
}

// A panic in code the region calls from its own goroutines — ShouldCache,
// the serializer, the logger, the locker — must reach the callers as a value
// or an error, never end the process, and must leave no flight or lock
// behind: the next call works.
func TestPanicsInRegionGoroutinesAreRecovered(t *testing.T) {
	ctx := context.Background()
	var created atomic.Int32
	create := func(context.Context) (string, error) { created.Add(1); return "v", nil }
	t.Run("ShouldCache", func(t *testing.T) {
		r := newRegion(t, region.Config{ShouldCache: func(string, any) bool { panic("should cache exploded") }})
		for i := range 2 {
			if v, err := region.GetOrCreate(ctx, r, "k", create); err != nil || v != "v" {
				t.Fatalf("call %d: %q, %v; want the value, unstored", i, v, err)
			}
		}
		if _, found, _ := region.Get[string](ctx, r, "k"); found {
			t.Fatal("a value ShouldCache panicked on was stored")
		}
	})
	t.Run("serializer", func(t *testing.T) {
		r := newRegion(t, region.Config{Backend: newMemory(t, true), Serializer: panickySerializer{serializer.NewMsgPack()}})
		for i := range 2 {
			if v, err := region.GetOrCreate(ctx, r, "k", create); err != nil || v != "v" {
				t.Fatalf("call %d: %q, %v; want the value, unstored", i, v, err)
			}
		}
		if err := r.Set(ctx, "k", "v"); err == nil || !strings.Contains(err.Error(), "marshal exploded") {
			t.Fatalf("Set with a panicking serializer: %v, want an error", err)
		}
	})
	t.Run("logger", func(t *testing.T) {
		r := newRegion(t, region.Config{Locker: failingLocker{}, Logger: slog.New(panickyHandler{})})
		// The locker fails, which the region logs; it goes on without it.
		if v, err := region.GetOrCreate(ctx, r, "k", create); err != nil || v != "v" {
			t.Fatalf("%q, %v; want the value", v, err)
		}
	})
	t.Run("locker", func(t *testing.T) {
		r := newRegion(t, region.Config{Locker: panickyLocker{lock.NewLocal()}})
		for i := range 2 {
			_, err := region.GetOrCreate(ctx, r, "k", create)
			var pe *region.PanicError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), "locker exploded") {
				t.Fatalf("call %d: %v, want a *PanicError", i, err)
			}
		}
	})
}

// A backend several processes share gets no in-process lock or registry by
// default: the region asks for shared ones, or in-process ones on purpose.
func TestSharedBackendNeedsSharedLockAndRegistry(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	store, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := keyreg.NewMemory(keyreg.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A shared backend that cannot lease (diskstore's, a custom one) needs
	// a Locker; one that leases (redisstore) does not: its lease is the
	// lock.
	unleased := sharedBackend{Backend: store}
	for _, tt := range []struct {
		name string
		cfg  region.Config
		want string
	}{
		{"no locker", region.Config{Backend: unleased, Registry: reg}, "Locker"},
		{"no registry", region.Config{Backend: store, Locker: lock.NewLocal()}, "Registry"},
		{"no registry, leased", region.Config{Backend: store}, "Registry"},
	} {
		if r, err := region.New("shared", tt.cfg); !errors.Is(err, region.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			if r != nil {
				r.Close()
			}
			t.Errorf("%s: %v, want ErrInvalidConfig naming %s", tt.name, err, tt.want)
		}
	}
	r, err := region.New("shared", region.Config{Backend: store, Locker: lock.NewLocal(), Registry: reg})
	if err != nil {
		t.Fatalf("in-process lock and registry chosen on purpose: %v", err)
	}
	r.Close()
	r, err = region.New("shared", region.Config{Backend: store, Registry: reg})
	if err != nil {
		t.Fatalf("a backend that leases, with no Locker: %v", err)
	}
	r.Close()
}

// sharedBackend is a backend shared between processes that cannot lease.
type sharedBackend struct{ backend.Backend }

func (sharedBackend) SharedBetweenProcesses() bool { return true }
