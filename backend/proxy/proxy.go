package proxy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/lock"
)

var (
	// ErrNotRun is returned by an operation whose Middleware returned nil
	// without calling next: the operation did not run, and has no result
	// to report.
	ErrNotRun = errors.New("proxy: the middleware did not run the operation")
	// ErrUnsupported is returned by a method of an optional interface the
	// wrapped backend does not implement. A region never calls one: it asks
	// backend.As, which looks through the proxy.
	ErrUnsupported = errors.New("proxy: the wrapped backend does not implement this interface")
	// ErrInvalidArgument is returned by New and NewLocker for a nil backend,
	// locker or middleware.
	ErrInvalidArgument = errors.New("proxy: invalid argument")
)

// Op names an operation of a backend or a locker, as a [Middleware] sees it.
type Op string

// The operations of a backend, by the method that runs them.
const (
	OpGet                Op = "get"                   // Backend.Get
	OpGetMulti           Op = "get_multi"             // Backend.GetMulti
	OpSet                Op = "set"                   // Backend.Set
	OpSetMulti           Op = "set_multi"             // Backend.SetMulti
	OpDelete             Op = "delete"                // Backend.Delete
	OpDeleteMulti        Op = "delete_multi"          // Backend.DeleteMulti
	OpGetForUpdate       Op = "get_for_update"        // Conditional.GetForUpdate
	OpSetIf              Op = "set_if"                // Conditional.SetIf
	OpSetMultiGrouped    Op = "set_multi_grouped"     // Grouper.SetMultiGrouped
	OpSetIfGrouped       Op = "set_if_grouped"        // ConditionalGrouper.SetIfGrouped
	OpLease              Op = "lease"                 // Leaser.Lease
	OpStoreLeased        Op = "store_leased"          // Leaser.StoreLeased
	OpExtendLeases       Op = "extend_leases"         // Leaser.ExtendLeases
	OpReleaseLeases      Op = "release_leases"        // Leaser.ReleaseLeases
	OpWatchInvalidations Op = "watch_invalidations"   // Invalidator.WatchInvalidations
	OpLoadEntry          Op = "load_entry"            // ValueStore.LoadEntry
	OpStoreEntry         Op = "store_entry"           // ValueStore.StoreEntry
	OpDeleteEntry        Op = "delete_entry"          // ValueStore.DeleteEntry
	OpLoadEntryForUpdate Op = "load_entry_for_update" // ConditionalValueStore.LoadEntryForUpdate
	OpStoreEntryIf       Op = "store_entry_if"        // ConditionalValueStore.StoreEntryIf
	OpPing               Op = "ping"                  // Ping, of a backend that has one
)

// The operations of a locker and its locks.
const (
	OpTryObtain Op = "try_obtain" // lock.Locker.TryObtain
	OpObtain    Op = "obtain"     // lock.Locker.Obtain
	OpExtend    Op = "extend"     // lock.Lock.Extend
	OpRelease   Op = "release"    // lock.Lock.Release
)

// Call describes one operation to a [Middleware].
type Call struct {
	Op Op
	// Namespace is the namespace of a ValueStore operation's key (see
	// backend.ValueStore); empty for the others.
	Namespace string
	// Keys are the keys the operation names, in order: a write's items'
	// keys; a lease's keys, then the keys of LeaseOptions.Also it reads
	// too; the held keys of StoreLeased; the lock's key of a locker call;
	// the prefix of a watch. The slice belongs to the operation: a
	// Middleware must not keep or change it.
	Keys []string
}

// Middleware runs around one operation of a proxied backend or locker. It
// runs the operation by calling next — at most once, with ctx or a context
// derived from it — and returns next's error, or an error of its own.
// Returning an error without calling next fails the operation without
// running it: that is how a test injects a fault. Returning nil without
// calling next fails it with [ErrNotRun]. A panic in a Middleware, or in
// the operation, is recovered into the operation's error.
//
// It is called from many goroutines at once, on the region's hot paths,
// and must not call the region.
//
// The methods of backend.ValueStore have neither a context nor an error
// (they are in-process map operations): their Middleware is given
// context.Background(), and an error it returns makes LoadEntry and
// LoadEntryForUpdate miss, StoreEntry and StoreEntryIf store nothing, and
// DeleteEntry delete nothing. Inject faults into byte backends, whose
// errors a region handles as outages; a dropped DeleteEntry is a lost
// invalidation.
type Middleware func(ctx context.Context, c Call, next func(context.Context) error) error

// run runs fn under mw as operation c, and turns what mw may get wrong — a
// panic, a nil error without running fn — into errors.
func run(ctx context.Context, mw Middleware, c Call, fn func(context.Context) error) (err error) {
	ran := false
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("proxy: %s panicked: %v", c.Op, p)
		}
	}()
	err = mw(ctx, c, func(ctx context.Context) error {
		ran = true
		return fn(ctx)
	})
	if err == nil && !ran {
		err = fmt.Errorf("%w: %s", ErrNotRun, c.Op)
	}
	return err
}

// Backend wraps a backend in a Middleware. It implements every optional
// interface of package backend, and forwards each to the wrapped backend;
// backend.As, which a region asks, reports only those the wrapped backend
// implements, so a region on a proxy leases, fences its stores, records
// its keys and watches invalidations exactly as it would on the wrapped
// backend, with every operation passing through the Middleware.
type Backend struct {
	inner backend.Backend
	mw    Middleware
	// The optional interfaces of inner, nil where it has none.
	vs     backend.ValueStore
	cvs    backend.ConditionalValueStore
	cond   backend.Conditional
	group  backend.Grouper
	cgroup backend.ConditionalGrouper
	leaser backend.Leaser
	inv    backend.Invalidator
	shared backend.Shared
}

var (
	_ backend.Backend               = (*Backend)(nil)
	_ backend.Unwrapper             = (*Backend)(nil)
	_ backend.ValueStore            = (*Backend)(nil)
	_ backend.ConditionalValueStore = (*Backend)(nil)
	_ backend.Conditional           = (*Backend)(nil)
	_ backend.Grouper               = (*Backend)(nil)
	_ backend.ConditionalGrouper    = (*Backend)(nil)
	_ backend.Leaser                = (*Backend)(nil)
	_ backend.Invalidator           = (*Backend)(nil)
	_ backend.Shared                = (*Backend)(nil)
)

// New returns inner wrapped in mw. It returns an error wrapping
// [ErrInvalidArgument] when either is nil.
func New(inner backend.Backend, mw Middleware) (*Backend, error) {
	if isNil(inner) {
		return nil, fmt.Errorf("%w: nil backend", ErrInvalidArgument)
	}
	if mw == nil {
		return nil, fmt.Errorf("%w: nil middleware", ErrInvalidArgument)
	}
	p := &Backend{inner: inner, mw: mw}
	p.vs, _ = backend.As[backend.ValueStore](inner)
	p.cvs, _ = backend.As[backend.ConditionalValueStore](inner)
	p.cond, _ = backend.As[backend.Conditional](inner)
	p.group, _ = backend.As[backend.Grouper](inner)
	p.cgroup, _ = backend.As[backend.ConditionalGrouper](inner)
	p.leaser, _ = backend.As[backend.Leaser](inner)
	p.inv, _ = backend.As[backend.Invalidator](inner)
	p.shared, _ = backend.As[backend.Shared](inner)
	return p, nil
}

// Unwrap returns the wrapped backend.
func (p *Backend) Unwrap() backend.Backend { return p.inner }

func (p *Backend) run(ctx context.Context, op Op, keys []string, fn func(context.Context) error) error {
	return run(ctx, p.mw, Call{Op: op, Keys: keys}, fn)
}

func (p *Backend) unsupported(iface string) error {
	return fmt.Errorf("%w: %T is not a %s", ErrUnsupported, p.inner, iface)
}

// Get runs the wrapped backend's Get through the Middleware.
func (p *Backend) Get(ctx context.Context, key string) (v []byte, err error) {
	err = p.run(ctx, OpGet, []string{key}, func(ctx context.Context) (err error) {
		v, err = p.inner.Get(ctx, key)
		return err
	})
	return v, err
}

// GetMulti runs the wrapped backend's GetMulti through the Middleware.
func (p *Backend) GetMulti(ctx context.Context, keys []string) (vs [][]byte, err error) {
	err = p.run(ctx, OpGetMulti, keys, func(ctx context.Context) (err error) {
		vs, err = p.inner.GetMulti(ctx, keys)
		return err
	})
	return vs, err
}

// Set runs the wrapped backend's Set through the Middleware.
func (p *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return p.run(ctx, OpSet, []string{key}, func(ctx context.Context) error {
		return p.inner.Set(ctx, key, value, ttl)
	})
}

// SetMulti runs the wrapped backend's SetMulti through the Middleware.
func (p *Backend) SetMulti(ctx context.Context, items []backend.Item) error {
	return p.run(ctx, OpSetMulti, itemKeys(items), func(ctx context.Context) error {
		return p.inner.SetMulti(ctx, items)
	})
}

// Delete runs the wrapped backend's Delete through the Middleware.
func (p *Backend) Delete(ctx context.Context, key string) error {
	return p.run(ctx, OpDelete, []string{key}, func(ctx context.Context) error {
		return p.inner.Delete(ctx, key)
	})
}

// DeleteMulti runs the wrapped backend's DeleteMulti through the
// Middleware.
func (p *Backend) DeleteMulti(ctx context.Context, keys []string) error {
	return p.run(ctx, OpDeleteMulti, keys, func(ctx context.Context) error {
		return p.inner.DeleteMulti(ctx, keys)
	})
}

// GetForUpdate runs the wrapped backend's backend.Conditional.GetForUpdate
// through the Middleware.
func (p *Backend) GetForUpdate(ctx context.Context, keys []string, placeholderTTL time.Duration) (vs [][]byte, vers []backend.Version, err error) {
	if p.cond == nil {
		return nil, nil, p.unsupported("backend.Conditional")
	}
	err = p.run(ctx, OpGetForUpdate, keys, func(ctx context.Context) (err error) {
		vs, vers, err = p.cond.GetForUpdate(ctx, keys, placeholderTTL)
		return err
	})
	return vs, vers, err
}

// SetIf runs the wrapped backend's backend.Conditional.SetIf through the
// Middleware.
func (p *Backend) SetIf(ctx context.Context, items []backend.Item, versions []backend.Version) (stored []bool, err error) {
	if p.cond == nil {
		return nil, p.unsupported("backend.Conditional")
	}
	err = p.run(ctx, OpSetIf, itemKeys(items), func(ctx context.Context) (err error) {
		stored, err = p.cond.SetIf(ctx, items, versions)
		return err
	})
	return stored, err
}

// SetMultiGrouped runs the wrapped backend's
// backend.Grouper.SetMultiGrouped through the Middleware.
func (p *Backend) SetMultiGrouped(ctx context.Context, items []backend.Item, group string, members []string, groupTTL time.Duration) error {
	if p.group == nil {
		return p.unsupported("backend.Grouper")
	}
	return p.run(ctx, OpSetMultiGrouped, itemKeys(items), func(ctx context.Context) error {
		return p.group.SetMultiGrouped(ctx, items, group, members, groupTTL)
	})
}

// SetIfGrouped runs the wrapped backend's
// backend.ConditionalGrouper.SetIfGrouped through the Middleware.
func (p *Backend) SetIfGrouped(ctx context.Context, items []backend.Item, versions []backend.Version, group string, members []string, groupTTL time.Duration) (stored []bool, err error) {
	if p.cgroup == nil {
		return nil, p.unsupported("backend.ConditionalGrouper")
	}
	err = p.run(ctx, OpSetIfGrouped, itemKeys(items), func(ctx context.Context) (err error) {
		stored, err = p.cgroup.SetIfGrouped(ctx, items, versions, group, members, groupTTL)
		return err
	})
	return stored, err
}

// Lease runs the wrapped backend's backend.Leaser.Lease through the
// Middleware.
func (p *Backend) Lease(ctx context.Context, keys []backend.LeaseKey, o backend.LeaseOptions) (leases []backend.Lease, also [][]byte, err error) {
	if p.leaser == nil {
		return nil, nil, p.unsupported("backend.Leaser")
	}
	names := append(leaseKeys(keys), o.Also...)
	err = p.run(ctx, OpLease, names, func(ctx context.Context) (err error) {
		leases, also, err = p.leaser.Lease(ctx, keys, o)
		return err
	})
	return leases, also, err
}

// StoreLeased runs the wrapped backend's backend.Leaser.StoreLeased
// through the Middleware.
func (p *Backend) StoreLeased(ctx context.Context, items []backend.Item, held []backend.LeaseKey, holder string, g backend.Group) (stored, lost []bool, err error) {
	if p.leaser == nil {
		return nil, nil, p.unsupported("backend.Leaser")
	}
	err = p.run(ctx, OpStoreLeased, leaseKeys(held), func(ctx context.Context) (err error) {
		stored, lost, err = p.leaser.StoreLeased(ctx, items, held, holder, g)
		return err
	})
	return stored, lost, err
}

// ExtendLeases runs the wrapped backend's backend.Leaser.ExtendLeases
// through the Middleware.
func (p *Backend) ExtendLeases(ctx context.Context, keys []backend.LeaseKey, holder string, ttl time.Duration) (ok []bool, err error) {
	if p.leaser == nil {
		return nil, p.unsupported("backend.Leaser")
	}
	err = p.run(ctx, OpExtendLeases, leaseKeys(keys), func(ctx context.Context) (err error) {
		ok, err = p.leaser.ExtendLeases(ctx, keys, holder, ttl)
		return err
	})
	return ok, err
}

// ReleaseLeases runs the wrapped backend's backend.Leaser.ReleaseLeases
// through the Middleware.
func (p *Backend) ReleaseLeases(ctx context.Context, keys []backend.LeaseKey, holder string) error {
	if p.leaser == nil {
		return p.unsupported("backend.Leaser")
	}
	return p.run(ctx, OpReleaseLeases, leaseKeys(keys), func(ctx context.Context) error {
		return p.leaser.ReleaseLeases(ctx, keys, holder)
	})
}

// WatchInvalidations runs the wrapped backend's
// backend.Invalidator.WatchInvalidations through the Middleware (with
// context.Background(); Keys holds the prefix). What the watch delivers
// goes to sink directly.
func (p *Backend) WatchInvalidations(prefix string, sink backend.InvalidationSink) (stop func(), err error) {
	if p.inv == nil {
		return nil, p.unsupported("backend.Invalidator")
	}
	err = p.run(context.Background(), OpWatchInvalidations, []string{prefix}, func(context.Context) (err error) {
		stop, err = p.inv.WatchInvalidations(prefix, sink)
		return err
	})
	return stop, err
}

// SharedBetweenProcesses reports what the wrapped backend reports, and
// false for a backend that is not a backend.Shared.
func (p *Backend) SharedBetweenProcesses() bool {
	return p.shared != nil && p.shared.SharedBetweenProcesses()
}

// KeepsValues reports what the wrapped backend reports, and false for a
// backend that is not a backend.ValueStore.
func (p *Backend) KeepsValues() bool { return p.vs != nil && p.vs.KeepsValues() }

// runEntry runs a ValueStore operation, which can neither be cancelled nor
// fail, and reports whether it ran.
func (p *Backend) runEntry(op Op, namespace, key string, fn func()) bool {
	return run(context.Background(), p.mw, Call{Op: op, Namespace: namespace, Keys: []string{key}}, func(context.Context) error {
		fn()
		return nil
	}) == nil
}

// LoadEntry runs the wrapped backend's backend.ValueStore.LoadEntry through
// the Middleware; an error of the Middleware is a miss.
func (p *Backend) LoadEntry(namespace, key string) (e *backend.Entry, ok bool) {
	if p.vs == nil {
		return nil, false
	}
	if !p.runEntry(OpLoadEntry, namespace, key, func() { e, ok = p.vs.LoadEntry(namespace, key) }) {
		return nil, false
	}
	return e, ok
}

// StoreEntry runs the wrapped backend's backend.ValueStore.StoreEntry
// through the Middleware.
func (p *Backend) StoreEntry(namespace, key string, e *backend.Entry, ttl time.Duration) {
	if p.vs != nil {
		p.runEntry(OpStoreEntry, namespace, key, func() { p.vs.StoreEntry(namespace, key, e, ttl) })
	}
}

// DeleteEntry runs the wrapped backend's backend.ValueStore.DeleteEntry
// through the Middleware.
func (p *Backend) DeleteEntry(namespace, key string) {
	if p.vs != nil {
		p.runEntry(OpDeleteEntry, namespace, key, func() { p.vs.DeleteEntry(namespace, key) })
	}
}

// LoadEntryForUpdate runs the wrapped backend's
// backend.ConditionalValueStore.LoadEntryForUpdate through the Middleware;
// an error of the Middleware is a miss with the zero Version, under which
// nothing stores.
func (p *Backend) LoadEntryForUpdate(namespace, key string, placeholderTTL time.Duration) (e *backend.Entry, v backend.Version) {
	if p.cvs == nil {
		return nil, 0
	}
	if !p.runEntry(OpLoadEntryForUpdate, namespace, key, func() { e, v = p.cvs.LoadEntryForUpdate(namespace, key, placeholderTTL) }) {
		return nil, 0
	}
	return e, v
}

// StoreEntryIf runs the wrapped backend's
// backend.ConditionalValueStore.StoreEntryIf through the Middleware; an
// error of the Middleware stores nothing.
func (p *Backend) StoreEntryIf(namespace, key string, e *backend.Entry, ttl time.Duration, v backend.Version) (stored bool) {
	if p.cvs == nil {
		return false
	}
	p.runEntry(OpStoreEntryIf, namespace, key, func() { stored = p.cvs.StoreEntryIf(namespace, key, e, ttl, v) })
	return stored
}

// Ping runs the wrapped backend's Ping, if it has one, through the
// Middleware; it returns nil for a backend without one.
func (p *Backend) Ping(ctx context.Context) error {
	pinger, ok := p.inner.(interface{ Ping(context.Context) error })
	if !ok {
		return nil
	}
	return p.run(ctx, OpPing, nil, pinger.Ping)
}

// Close closes the wrapped backend, if it has a Close method, directly.
func (p *Backend) Close() error {
	if c, ok := p.inner.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

func itemKeys(items []backend.Item) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys
}

func leaseKeys(lks []backend.LeaseKey) []string {
	keys := make([]string, len(lks))
	for i, k := range lks {
		keys[i] = k.Key
	}
	return keys
}

// Locker wraps a lock.Locker, and the locks it hands out, in a Middleware.
// A region on a proxied in-process lock.Local still knows it for one (see
// lock.LocalOf).
type Locker struct {
	inner lock.Locker
	mw    Middleware
}

var (
	_ lock.Locker    = (*Locker)(nil)
	_ lock.Unwrapper = (*Locker)(nil)
)

// NewLocker returns inner wrapped in mw. It returns an error wrapping
// [ErrInvalidArgument] when either is nil.
func NewLocker(inner lock.Locker, mw Middleware) (*Locker, error) {
	if isNil(inner) {
		return nil, fmt.Errorf("%w: nil locker", ErrInvalidArgument)
	}
	if mw == nil {
		return nil, fmt.Errorf("%w: nil middleware", ErrInvalidArgument)
	}
	return &Locker{inner: inner, mw: mw}, nil
}

// Unwrap returns the wrapped locker.
func (l *Locker) Unwrap() lock.Locker { return l.inner }

// TryObtain runs the wrapped locker's TryObtain through the Middleware
// (which sees lock.ErrNotObtained as the operation's error).
func (l *Locker) TryObtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	return l.obtain(ctx, OpTryObtain, key, ttl, l.inner.TryObtain)
}

// Obtain runs the wrapped locker's Obtain through the Middleware.
func (l *Locker) Obtain(ctx context.Context, key string, ttl time.Duration) (lock.Lock, error) {
	return l.obtain(ctx, OpObtain, key, ttl, l.inner.Obtain)
}

func (l *Locker) obtain(ctx context.Context, op Op, key string, ttl time.Duration,
	fn func(context.Context, string, time.Duration) (lock.Lock, error)) (lock.Lock, error) {
	var lk lock.Lock
	err := run(ctx, l.mw, Call{Op: op, Keys: []string{key}}, func(ctx context.Context) (err error) {
		lk, err = fn(ctx, key, ttl)
		return err
	})
	if err != nil {
		if lk != nil { // a middleware failed an obtained lock: give it back
			_ = lk.Release(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	return &proxyLock{inner: lk, mw: l.mw}, nil
}

// proxyLock is a lock handed out by a Locker: its Extend and Release pass
// through the Middleware.
type proxyLock struct {
	inner lock.Lock
	mw    Middleware
}

func (l *proxyLock) Key() string { return l.inner.Key() }

func (l *proxyLock) Extend(ctx context.Context, ttl time.Duration) error {
	return run(ctx, l.mw, Call{Op: OpExtend, Keys: []string{l.inner.Key()}}, func(ctx context.Context) error {
		return l.inner.Extend(ctx, ttl)
	})
}

func (l *proxyLock) Release(ctx context.Context) error {
	return run(ctx, l.mw, Call{Op: OpRelease, Keys: []string{l.inner.Key()}}, l.inner.Release)
}

// isNil reports whether v is nil, or an interface holding a nil pointer
// (the nil *Store a constructor returns with its error).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
