package null

import (
	"context"
	"fmt"
	"time"

	"github.com/corralcache/corral/backend"
)

// Backend is a [backend.Backend] that stores nothing. Its zero value is ready
// to use, and it is safe for concurrent use.
type Backend struct{}

var (
	_ backend.Backend     = (*Backend)(nil)
	_ backend.Conditional = (*Backend)(nil)
)

// New returns a Backend.
func New() *Backend { return &Backend{} }

// Get always returns [backend.ErrNotFound].
func (*Backend) Get(context.Context, string) ([]byte, error) {
	return nil, backend.ErrNotFound
}

// GetMulti returns one nil value per key: every key is missing. It never
// returns an error.
func (*Backend) GetMulti(_ context.Context, keys []string) ([][]byte, error) {
	return make([][]byte, len(keys)), nil
}

// Set drops the value. It never returns an error.
func (*Backend) Set(context.Context, string, []byte, time.Duration) error { return nil }

// SetMulti drops every item. It never returns an error.
func (*Backend) SetMulti(context.Context, []backend.Item) error { return nil }

// Delete does nothing. It never returns an error.
func (*Backend) Delete(context.Context, string) error { return nil }

// DeleteMulti does nothing. It never returns an error.
func (*Backend) DeleteMulti(context.Context, []string) error { return nil }

// GetForUpdate returns one nil value per key, each with Version 1: every key
// is missing, and the placeholder it would get is dropped like every write.
// Every lease is thus void as soon as it is taken — Version 1 never matches,
// since SetIf never stores — so handing it out again to every caller keeps
// the lease contract of [backend.Conditional].
// It returns an error wrapping [backend.ErrInvalidArgument] when
// placeholderTTL is not positive, and no other error.
func (*Backend) GetForUpdate(_ context.Context, keys []string, placeholderTTL time.Duration) ([][]byte, []backend.Version, error) {
	if placeholderTTL <= 0 {
		return nil, nil, fmt.Errorf("null: placeholder TTL %v is not positive: %w", placeholderTTL, backend.ErrInvalidArgument)
	}
	versions := make([]backend.Version, len(keys))
	for i := range versions {
		versions[i] = 1
	}
	return make([][]byte, len(keys)), versions, nil
}

// SetIf stores nothing and reports false for every item. Unlike Set, which
// drops a value without an error, SetIf tells the truth about what the
// backend holds afterwards: not the caller's value. It returns an error
// wrapping [backend.ErrInvalidArgument] when versions and items differ in
// length, and no other error.
func (*Backend) SetIf(_ context.Context, items []backend.Item, versions []backend.Version) ([]bool, error) {
	if len(items) != len(versions) {
		return nil, fmt.Errorf("null: %d items with %d versions: %w", len(items), len(versions), backend.ErrInvalidArgument)
	}
	return make([]bool, len(items)), nil
}
