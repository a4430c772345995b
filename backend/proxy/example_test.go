package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/corralcache/corral/backend/memory"
	"github.com/corralcache/corral/backend/proxy"
	"github.com/corralcache/corral/region"
)

// A logging proxy: every operation the region sends its backend, with its
// keys, outcome and duration, as a debug line of a slog.Logger.
func ExampleNew() {
	// The example's handler drops the time and the duration, so that the
	// output is the same on every run.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "took" {
				return slog.Attr{}
			}
			return a
		},
	}))
	logging := func(ctx context.Context, c proxy.Call, next func(context.Context) error) error {
		start := time.Now()
		err := next(ctx)
		logger.DebugContext(ctx, "backend", "op", c.Op, "keys", strings.Join(c.Keys, ","),
			"took", time.Since(start), "err", err)
		return err
	}

	store, err := memory.New(memory.Options{Serialize: true}) // a byte store, like Redis
	if err != nil {
		panic(err)
	}
	logged, err := proxy.New(store, logging)
	if err != nil {
		panic(err)
	}
	users, err := region.New("users", region.Config{Backend: logged, Expiration: time.Hour})
	if err != nil {
		panic(err)
	}
	defer users.Close()

	// The region reads its invalidation generations at New, then misses,
	// reads them again with the lease, and stores under it.
	ctx := context.Background()
	name, err := region.GetOrCreate(ctx, users, "42", func(context.Context) (string, error) { return "Ada", nil })
	fmt.Println(name, err)
	// Output:
	// level=DEBUG msg=backend op=get_multi keys=c1:{5:users}:g:hard,c1:{5:users}:g:soft err=<nil>
	// level=DEBUG msg=backend op=get keys=c1:{5:users:42}:v err="backend: not found"
	// level=DEBUG msg=backend op=get_multi keys=c1:{5:users}:g:hard,c1:{5:users}:g:soft err=<nil>
	// level=DEBUG msg=backend op=get_for_update keys=c1:{5:users:42}:v err=<nil>
	// level=DEBUG msg=backend op=set_if keys=c1:{5:users:42}:v err=<nil>
	// Ada <nil>
}

// A fault-injecting proxy: reads fail while the test says so, and the
// region falls through to the creator.
func ExampleNew_faults() {
	var down bool
	faults := func(ctx context.Context, c proxy.Call, next func(context.Context) error) error {
		if down && (c.Op == proxy.OpGet || c.Op == proxy.OpGetMulti) {
			return errors.New("injected: connection refused")
		}
		return next(ctx)
	}
	store, err := memory.New(memory.Options{Serialize: true})
	if err != nil {
		panic(err)
	}
	faulty, err := proxy.New(store, faults)
	if err != nil {
		panic(err)
	}
	r, err := region.New("faulty", region.Config{
		Backend: faulty, Expiration: time.Hour,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer r.Close()

	ctx := context.Background()
	calls := 0
	load := func(context.Context) (int, error) { calls++; return 7, nil }
	v, _ := region.GetOrCreate(ctx, r, "k", load)
	down = true
	w, err := region.GetOrCreate(ctx, r, "k", load)
	fmt.Println(v, w, err, "creator calls:", calls)
	// Output:
	// 7 7 <nil> creator calls: 2
}
