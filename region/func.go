package region

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corralcache/corral/internal/engine"
	"github.com/corralcache/corral/internal/gens"
	"github.com/corralcache/corral/internal/keyspace"
	"github.com/corralcache/corral/keyreg"
)

// FuncOption configures a cached function: Named, and any CallOption, which
// then applies to every call of the function (WithExpiration,
// WithNegativeExpiration, WithShouldCache, WithExpirationFunc,
// IgnoreExpiration); options given to one call come after them and win.
// ReportOutcome is for one call only: Cache1 and its kin refuse it.
type FuncOption interface {
	applyFunc(*funcConfig)
}

// funcOption is a FuncOption that is not a CallOption.
type funcOption func(*funcConfig)

func (o funcOption) applyFunc(c *funcConfig) { o(c) }

// applyFunc makes every CallOption a FuncOption: the default of each call.
func (o CallOption) applyFunc(c *funcConfig) {
	switch o.kind {
	case 0:
	case optReportOutcome, optRecordFor:
		c.err = fmt.Errorf("ReportOutcome is an option of one call, not of a cached function")
	default:
		c.calls = append(c.calls, o)
	}
}

type funcConfig struct {
	name  string
	calls []CallOption // options of every call
	err   error        // an option that does not apply to a function
	// tagsOf returns the tags of a call's arguments (TagsBy1 and kin),
	// for a function of tagsArity arguments.
	tagsOf    func(args []any) ([]string, error)
	tagsArity int
	// keyTags tags each result of a batch function by its key (TagsByKey).
	keyTags func(key any) ([]string, error)
}

// Named sets the identity of a cached function: the name its keys are
// derived from and that the key registry files them under, within its
// region. Processes that share a cache must use the same name; within a
// region each name belongs to one cached function. The default is the
// function's fully qualified name (see keyreg.FuncName), which changes when
// the function is renamed or moved. Method values, closures and generic
// functions have no unique default name: Cache1, Cache2 and Cache3 refuse
// them unless they are Named.
func Named(name string) FuncOption {
	return funcOption(func(c *funcConfig) { c.name = name })
}

// Expires sets the soft expiration of a cached function's values, in place
// of Config.Expiration.
//
// Deprecated: use WithExpiration, which cached functions take too (one name
// for one idea). Expires(d) is WithExpiration(d).
func Expires(d time.Duration) FuncOption {
	return WithExpiration(d)
}

// cachedFunc is the untyped-argument core shared by Func1, Func2 and Func3.
type cachedFunc[V any] struct {
	r    *Region
	name string
	// scope is the function's identity in the registry: its name within
	// its region's namespace, so regions sharing a registry keep apart.
	scope string
	// gen counts the function's InvalidateAll calls, shared through a byte
	// backend: a result created under an older generation is retired.
	gen  *gens.Func
	opts []CallOption // recordFor(scope, gen), and the expiration when set
	// tagsOf tags the results of a call by its arguments; nil: untagged.
	tagsOf func(args []any) ([]string, error)
	// keyTags tags a batch function's results by their keys.
	keyTags func(key any) ([]string, error)
}

// newCachedFunc is the core of a cached function of arity arguments (0: a
// batch function).
func newCachedFunc[V any](r *Region, fn any, opts []FuncOption, arity int) (cachedFunc[V], error) {
	var c funcConfig
	for _, o := range opts {
		if o != nil {
			o.applyFunc(&c)
		}
	}
	if r == nil {
		return cachedFunc[V]{}, fmt.Errorf("%w: cached function on a nil region", ErrInvalidConfig)
	}
	switch {
	case c.tagsOf != nil && arity == 0:
		c.err = fmt.Errorf("TagsBy%d given to a batch function: use TagsByKey", c.tagsArity)
	case c.tagsOf != nil && c.tagsArity != arity:
		c.err = fmt.Errorf("a tag function of %d arguments given to a function of %d", c.tagsArity, arity)
	case c.keyTags != nil && arity != 0:
		c.err = fmt.Errorf("TagsByKey given to a function of %d arguments: use TagsBy%d", arity, arity)
	}
	if c.err != nil {
		return cachedFunc[V]{}, fmt.Errorf("%w: region %q: %w", ErrInvalidConfig, r.name, c.err)
	}
	if c.name == "" {
		name, err := keyreg.FuncName(fn)
		if err != nil {
			return cachedFunc[V]{}, fmt.Errorf("%w: region %q: %w", ErrInvalidConfig, r.name, err)
		}
		c.name = name
	}
	if err := r.claimName(c.name); err != nil {
		return cachedFunc[V]{}, err
	}
	scope := keyspace.RegistryScope(r.cfg.Namespace, c.name)
	gen := r.e.Func(c.name)
	f := cachedFunc[V]{r: r, name: c.name, scope: scope, gen: gen, opts: append([]CallOption{recordFor(scope, gen)}, c.calls...), tagsOf: c.tagsOf, keyTags: c.keyTags}
	return f, nil
}

// claimName reserves name for one cached function of the region, or
// returns an error wrapping ErrInvalidConfig and ErrNameInUse.
func (r *Region) claimName(name string) error {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	if _, taken := r.funcs[name]; taken {
		return fmt.Errorf("%w: region %q: %w: %q (give each cached function its own region.Named)", ErrInvalidConfig, r.name, ErrNameInUse, name)
	}
	if r.funcs == nil {
		r.funcs = make(map[string]struct{})
	}
	r.funcs[name] = struct{}{}
	return nil
}

// key derives the key of one call from the function's name and the
// arguments; the region's namespace is in the key layout already. It does
// not depend on the registry: a generation-based registry (memcachereg)
// offers namespaces that change with InvalidateAll, but two processes
// whose views of it disagree for a moment would derive two keys for one
// call — a write or Invalidate of one process would miss the other's
// entry. The function's generation, stamped on every result, retires them
// after InvalidateAll instead.
func (f *cachedFunc[V]) key(ctx context.Context, args ...any) (string, error) {
	if err := f.r.usable(ctx); err != nil {
		return "", err
	}
	return keyreg.Key(f.name, args...)
}

// call returns the cached result of invoke for args, creating it on a miss.
func (f *cachedFunc[V]) call(ctx context.Context, invoke func(context.Context) (V, error), opts []CallOption, args ...any) (V, error) {
	key, err := f.key(ctx, args...)
	if err != nil {
		var zero V
		return zero, err
	}
	opts, err = f.callOpts(opts, args)
	if err != nil {
		var zero V
		return zero, err
	}
	return GetOrCreate(ctx, f.r, key, invoke, opts...)
}

// callOpts are the options of a call with args: the function's, then its
// tags for args, then opts.
func (f *cachedFunc[V]) callOpts(opts []CallOption, args []any) ([]CallOption, error) {
	if f.tagsOf == nil && f.keyTags == nil && len(opts) == 0 {
		return f.opts, nil
	}
	out := slices.Clip(f.opts)
	var tags []string
	var err error
	switch {
	case f.tagsOf != nil:
		tags, err = f.tagsOf(args)
	case f.keyTags != nil && len(args) == 1: // a batch function's one key
		tags, err = f.keyTags(args[0])
	}
	if err != nil {
		return nil, err
	}
	if len(tags) > 0 {
		out = append(out, WithTags(tags...))
	}
	return append(out, opts...), nil
}

func (f *cachedFunc[V]) get(ctx context.Context, args ...any) (V, bool, error) {
	key, err := f.key(ctx, args...)
	if err != nil {
		var zero V
		return zero, false, err
	}
	return Get[V](ctx, f.r, key, f.opts...)
}

// getMulti returns the fresh results for several argument lists, read in
// one multi-get: found[i] tells whether args[i] has one.
func (f *cachedFunc[V]) getMulti(ctx context.Context, args [][]any) (values []V, found []bool, err error) {
	keys := make([]string, len(args))
	for i, a := range args {
		if keys[i], err = f.key(ctx, a...); err != nil {
			return nil, nil, err
		}
	}
	got, err := GetMulti[V](ctx, f.r, keys, f.opts...)
	if err != nil {
		return nil, nil, err
	}
	values, found = make([]V, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		values[i], found[i] = got[k]
	}
	return values, found, nil
}

func (f *cachedFunc[V]) set(ctx context.Context, v V, args ...any) error {
	key, err := f.key(ctx, args...)
	if err != nil {
		return err
	}
	opts, err := f.callOpts(nil, args)
	if err != nil {
		return err
	}
	return f.r.Set(ctx, key, v, opts...)
}

func (f *cachedFunc[V]) refresh(ctx context.Context, invoke func(context.Context) (V, error), args ...any) (V, error) {
	var zero V
	key, err := f.key(ctx, args...)
	if err != nil {
		return zero, err
	}
	opts, err := f.callOpts(nil, args)
	if err != nil {
		return zero, err
	}
	c := makeCall(opts)
	v, err := f.r.e.Refresh(ctx, key, typeOf[V]{}, func(ctx context.Context) (any, error) { return invoke(ctx) }, &c)
	if err != nil {
		return zero, err
	}
	if engine.IsNegative(v) {
		return zero, f.r.e.NotFoundError(key, v)
	}
	return typed[V](v, nil)
}

func (f *cachedFunc[V]) invalidate(ctx context.Context, args ...any) error {
	key, err := f.key(ctx, args...)
	if err != nil {
		return err
	}
	if err := f.r.Delete(ctx, key); err != nil {
		return err
	}
	return f.r.e.GuardRegistry(ctx, "forget key", key, func(ctx context.Context) error {
		return f.r.cfg.Registry.Forget(ctx, f.scope, key)
	})
}

// invalidateFirst removes every recorded result whose first argument is
// first, whatever the others, and forgets their keys. It needs a registry
// that can list keys (keyreg.ErrNotListable otherwise).
func (f *cachedFunc[V]) invalidateFirst(ctx context.Context, first any) error {
	prefix, err := f.key(ctx, first)
	if err != nil {
		return err
	}
	keys, err := f.Keys(ctx)
	if err != nil {
		return err
	}
	var match []string
	for _, k := range keys {
		if keyreg.Extends(k, prefix) {
			match = append(match, k)
		}
	}
	if len(match) == 0 {
		return nil
	}
	if err := f.r.DeleteMulti(ctx, match); err != nil {
		return err
	}
	return f.r.e.GuardRegistry(ctx, "forget keys", match[0], func(ctx context.Context) error {
		return f.r.cfg.Registry.Forget(ctx, f.scope, match...)
	})
}

func (f *cachedFunc[V]) lookup(ctx context.Context, args ...any) (string, bool, error) {
	key, err := f.key(ctx, args...)
	if err != nil {
		return "", false, err
	}
	var ok bool
	err = f.r.e.GuardRegistry(ctx, "registry lookup", key, func(ctx context.Context) (err error) {
		ok, err = f.r.cfg.Registry.Recorded(ctx, f.scope, key)
		return err
	})
	if err != nil {
		return key, false, err
	}
	return key, ok, nil
}

// InvalidateAll retires every cached result of the function: it raises the
// function's generation, so every result whose creation began before — stored,
// being created, or no longer listed by a registry that evicted its record —
// is a miss. Reads that begin after it returns see it at once in this
// process, and in other processes sharing the region's backend within
// Config.InvalidationRefresh. It then deletes the results the registry lists,
// to free their memory. Errors wrap ErrBackend, or are ErrClosed or
// ErrNilContext.
func (f *cachedFunc[V]) InvalidateAll(ctx context.Context) error {
	if err := f.r.usable(ctx); err != nil {
		return err
	}
	if err := f.r.e.InvalidateFunc(ctx, f.gen); err != nil {
		return err
	}
	var keys []string
	err := f.r.e.GuardRegistry(ctx, "registry forget all", f.name, func(ctx context.Context) (err error) {
		keys, err = f.r.cfg.Registry.ForgetAll(ctx, f.scope)
		return err
	})
	if err != nil {
		return err
	}
	return f.r.DeleteMulti(ctx, keys)
}

// Keys lists the keys recorded for the function. A registry that cannot list
// them returns an error wrapping keyreg.ErrNotListable; other errors wrap
// ErrBackend.
func (f *cachedFunc[V]) Keys(ctx context.Context) ([]string, error) {
	if err := f.r.usable(ctx); err != nil {
		return nil, err
	}
	var keys []string
	var notListable error
	err := f.r.e.GuardRegistry(ctx, "registry keys", f.name, func(ctx context.Context) (err error) {
		keys, err = f.r.cfg.Registry.Keys(ctx, f.scope)
		if errors.Is(err, keyreg.ErrNotListable) {
			notListable, err = err, nil
		}
		return err
	})
	if notListable != nil {
		return nil, notListable
	}
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// Name returns the function's name: its identity in keys and, within its
// region's namespace, in the registry.
func (f *cachedFunc[V]) Name() string { return f.name }
