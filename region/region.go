package region

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/internal/engine"
	"github.com/corralcache/corral/serializer"
)

// Region is a named cache region. It is safe for concurrent use; create it
// once with New at application setup and share it.
//
// A Region is a thin face over the engine (internal/engine), which holds
// every mechanism of the consistency table (see the package
// documentation): the methods here check their arguments, convert types
// and options, and hand the engine entries and bytes.
type Region struct {
	name string
	cfg  Config
	e    *engine.Engine
	// values and ns are set when the backend keeps decoded values and a
	// lookup needs no key building: a first read looks there directly.
	values backend.ValueStore
	ns     string

	fmu   sync.Mutex          // protects funcs
	funcs map[string]struct{} // names of the region's cached functions
}

// New returns the region called name, configured by c. Zero fields of c take
// their documented defaults. An unusable configuration gives an error
// wrapping ErrInvalidConfig.
func New(name string, c Config) (*Region, error) {
	defaultBackend := c.Backend == nil
	c, err := c.withDefaults(name)
	if err != nil {
		return nil, err
	}
	codec, err := serializer.NewCodec(c.Serializer, serializer.CodecOptions{CompressAbove: c.CompressAbove, Keyring: c.Keyring})
	if err != nil {
		return nil, fmt.Errorf("%w: region %q: %w", ErrInvalidConfig, name, err)
	}
	var owned io.Closer
	if defaultBackend {
		owned, _ = c.Backend.(io.Closer)
	}
	e, err := engine.New(c.engineConfig(name, codec, owned))
	if err != nil {
		return nil, err
	}
	r := &Region{name: name, cfg: c, e: e}
	r.values, r.ns = e.Values()
	return r, nil
}

// Name returns the region's name.
func (r *Region) Name() string { return r.name }

// Stats returns the region's counters.
func (r *Region) Stats() Stats { return statsOf(r.e.Stats()) }

// Close stops the region's background regenerations and its clock, and waits
// for them to end. Later calls return ErrClosed. Close does not close a
// backend or locker passed in Config, which the caller owns; it closes the
// default in-memory backend.
func (r *Region) Close() error { return r.e.Close() }

// BackendKey returns the key under which key's value is stored in the
// region's backend: the key layout of the package documentation, with
// Config.KeyMangler applied. It is for operations and debugging (reading an
// entry with the backend's own tools), not for reading or writing values.
func (r *Region) BackendKey(key string) string { return r.e.BackendKey(key) }

// LockKey returns the key of key's dogpile lock, as BackendKey does for its
// value.
func (r *Region) LockKey(key string) string { return r.e.LockKey(key) }

// usable returns ErrClosed after Close, ErrNilContext for a nil ctx.
func (r *Region) usable(ctx context.Context) error { return r.e.Usable(ctx) }
