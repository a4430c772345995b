package null

import (
	"context"
	"time"

	"github.com/corralcache/corral/backend"
)

// Backend is a [backend.Backend] that stores nothing. Its zero value is ready
// to use, and it is safe for concurrent use.
type Backend struct{}

var _ backend.Backend = (*Backend)(nil)

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
