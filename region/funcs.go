package region

import "context"

// Func1 is a cached function of 1 argument, made by Cache1.
type Func1[A, V any] struct {
	cachedFunc[V]
	fn func(context.Context, A) (V, error)
}

// Cache1 wraps fn into a cached function whose results are stored in r
// under keys derived from its name (see Named) and its arguments. Options are
// Named and any CallOption, applied to every call. As with GetOrCreate, a
// backend that keeps values hands every caller the stored result itself:
// do not modify it. Errors wrap ErrInvalidConfig.
func Cache1[A, V any](r *Region, fn func(context.Context, A) (V, error), opts ...FuncOption) (*Func1[A, V], error) {
	core, err := newCachedFunc[V](r, fn, opts, 1)
	if err != nil {
		return nil, err
	}
	return &Func1[A, V]{cachedFunc: core, fn: fn}, nil
}

// Call returns the cached result of the function for these arguments, calling it under the dogpile lock on a miss (see GetOrCreate); opts adjust this call (e.g. ReportOutcome). An argument that cannot be encoded into a key gives an error wrapping keyreg.ErrUnencodable.
func (f *Func1[A, V]) Call(ctx context.Context, a A, opts ...CallOption) (V, error) {
	return f.call(ctx, func(ctx context.Context) (V, error) { return f.fn(ctx, a) }, opts, a)
}

// Get returns the cached result for these arguments without calling the function; found is false when there is no fresh one.
func (f *Func1[A, V]) Get(ctx context.Context, a A) (v V, found bool, err error) {
	return f.get(ctx, a)
}

// Set stores v as the result for these arguments (write-through after a write) and records its key.
func (f *Func1[A, V]) Set(ctx context.Context, a A, v V) error {
	return f.set(ctx, v, a)
}

// Refresh calls the function now, stores its result for these arguments and returns it.
func (f *Func1[A, V]) Refresh(ctx context.Context, a A) (V, error) {
	return f.refresh(ctx, func(ctx context.Context) (V, error) { return f.fn(ctx, a) }, a)
}

// Invalidate removes the cached result for these arguments and forgets its key.
func (f *Func1[A, V]) Invalidate(ctx context.Context, a A) error {
	return f.invalidate(ctx, a)
}

// Key returns the key of these arguments and whether the registry has it recorded (a value was stored under it).
func (f *Func1[A, V]) Key(ctx context.Context, a A) (key string, recorded bool, err error) {
	return f.lookup(ctx, a)
}

// Func2 is a cached function of 2 arguments, made by Cache2.
type Func2[A, B, V any] struct {
	cachedFunc[V]
	fn func(context.Context, A, B) (V, error)
}

// Cache2 wraps fn into a cached function whose results are stored in r
// under keys derived from its name (see Named) and its arguments. Options are
// Named and any CallOption, applied to every call. As with GetOrCreate, a
// backend that keeps values hands every caller the stored result itself:
// do not modify it. Errors wrap ErrInvalidConfig.
func Cache2[A, B, V any](r *Region, fn func(context.Context, A, B) (V, error), opts ...FuncOption) (*Func2[A, B, V], error) {
	core, err := newCachedFunc[V](r, fn, opts, 2)
	if err != nil {
		return nil, err
	}
	return &Func2[A, B, V]{cachedFunc: core, fn: fn}, nil
}

// Call returns the cached result of the function for these arguments, calling it under the dogpile lock on a miss (see GetOrCreate); opts adjust this call (e.g. ReportOutcome). An argument that cannot be encoded into a key gives an error wrapping keyreg.ErrUnencodable.
func (f *Func2[A, B, V]) Call(ctx context.Context, a A, b B, opts ...CallOption) (V, error) {
	return f.call(ctx, func(ctx context.Context) (V, error) { return f.fn(ctx, a, b) }, opts, a, b)
}

// Get returns the cached result for these arguments without calling the function; found is false when there is no fresh one.
func (f *Func2[A, B, V]) Get(ctx context.Context, a A, b B) (v V, found bool, err error) {
	return f.get(ctx, a, b)
}

// GetMulti returns the cached results for a with each of bs, without
// calling the function, read from the backend in one multi-get (one round
// trip where the backend has one): found[i] is false when a, bs[i] has no
// fresh result. Freshness and errors are as for Get.
func (f *Func2[A, B, V]) GetMulti(ctx context.Context, a A, bs ...B) (values []V, found []bool, err error) {
	args := make([][]any, len(bs))
	for i, b := range bs {
		args[i] = []any{a, b}
	}
	return f.getMulti(ctx, args)
}

// Set stores v as the result for these arguments (write-through after a write) and records its key.
func (f *Func2[A, B, V]) Set(ctx context.Context, a A, b B, v V) error {
	return f.set(ctx, v, a, b)
}

// Refresh calls the function now, stores its result for these arguments and returns it.
func (f *Func2[A, B, V]) Refresh(ctx context.Context, a A, b B) (V, error) {
	return f.refresh(ctx, func(ctx context.Context) (V, error) { return f.fn(ctx, a, b) }, a, b)
}

// Invalidate removes the cached result for these arguments and forgets its key.
func (f *Func2[A, B, V]) Invalidate(ctx context.Context, a A, b B) error {
	return f.invalidate(ctx, a, b)
}

// InvalidateFirst removes every cached result whose first argument is a,
// whatever the other arguments, and forgets their keys. It lists the
// function's keys, so it needs a registry that can (an error wrapping
// keyreg.ErrNotListable otherwise).
func (f *Func2[A, B, V]) InvalidateFirst(ctx context.Context, a A) error {
	return f.invalidateFirst(ctx, a)
}

// Key returns the key of these arguments and whether the registry has it recorded (a value was stored under it).
func (f *Func2[A, B, V]) Key(ctx context.Context, a A, b B) (key string, recorded bool, err error) {
	return f.lookup(ctx, a, b)
}

// Func3 is a cached function of 3 arguments, made by Cache3.
type Func3[A, B, C, V any] struct {
	cachedFunc[V]
	fn func(context.Context, A, B, C) (V, error)
}

// Cache3 wraps fn into a cached function whose results are stored in r
// under keys derived from its name (see Named) and its arguments. Options are
// Named and any CallOption, applied to every call. As with GetOrCreate, a
// backend that keeps values hands every caller the stored result itself:
// do not modify it. Errors wrap ErrInvalidConfig.
func Cache3[A, B, C, V any](r *Region, fn func(context.Context, A, B, C) (V, error), opts ...FuncOption) (*Func3[A, B, C, V], error) {
	core, err := newCachedFunc[V](r, fn, opts, 3)
	if err != nil {
		return nil, err
	}
	return &Func3[A, B, C, V]{cachedFunc: core, fn: fn}, nil
}

// Call returns the cached result of the function for these arguments, calling it under the dogpile lock on a miss (see GetOrCreate); opts adjust this call (e.g. ReportOutcome). An argument that cannot be encoded into a key gives an error wrapping keyreg.ErrUnencodable.
func (f *Func3[A, B, C, V]) Call(ctx context.Context, a A, b B, c C, opts ...CallOption) (V, error) {
	return f.call(ctx, func(ctx context.Context) (V, error) { return f.fn(ctx, a, b, c) }, opts, a, b, c)
}

// Get returns the cached result for these arguments without calling the function; found is false when there is no fresh one.
func (f *Func3[A, B, C, V]) Get(ctx context.Context, a A, b B, c C) (v V, found bool, err error) {
	return f.get(ctx, a, b, c)
}

// Set stores v as the result for these arguments (write-through after a write) and records its key.
func (f *Func3[A, B, C, V]) Set(ctx context.Context, a A, b B, c C, v V) error {
	return f.set(ctx, v, a, b, c)
}

// Refresh calls the function now, stores its result for these arguments and returns it.
func (f *Func3[A, B, C, V]) Refresh(ctx context.Context, a A, b B, c C) (V, error) {
	return f.refresh(ctx, func(ctx context.Context) (V, error) { return f.fn(ctx, a, b, c) }, a, b, c)
}

// Invalidate removes the cached result for these arguments and forgets its key.
func (f *Func3[A, B, C, V]) Invalidate(ctx context.Context, a A, b B, c C) error {
	return f.invalidate(ctx, a, b, c)
}

// InvalidateFirst removes every cached result whose first argument is a,
// whatever the other arguments, and forgets their keys. It lists the
// function's keys, so it needs a registry that can (an error wrapping
// keyreg.ErrNotListable otherwise).
func (f *Func3[A, B, C, V]) InvalidateFirst(ctx context.Context, a A) error {
	return f.invalidateFirst(ctx, a)
}

// Key returns the key of these arguments and whether the registry has it recorded (a value was stored under it).
func (f *Func3[A, B, C, V]) Key(ctx context.Context, a A, b B, c C) (key string, recorded bool, err error) {
	return f.lookup(ctx, a, b, c)
}
